"""Autoencoder and VAE noise generators (paper Sec. 3.2 and Fig. 15).

An MLP autoencoder (in_dim-128-64-12 and back, ReLU hidden layers, sigmoid output) or a
VAE of the same layout with a 12-d Gaussian latent is trained briefly (2 epochs in the
paper) on the training images, so that decoding random latent codes gives images in [0, 1]
with faint class structure. Only the decoder and the latent distribution are kept: the
VAE's prior N(0, I), or for the plain autoencoder the Gaussian fitted to the encoder's codes
of the training images, so that a sample is ``decode(mean + eps @ chol.T)``, ``eps ~ N(0, I)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from revcor.base import store
from revcor.models.train import run_epochs, seeded
from revcor.noise.kinds import AUTOENCODERS


def _mlp(sizes: list[int]) -> list[nn.Module]:
    """Linear layers through ``sizes`` with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=False)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return layers


def build_decoder(in_dim: int, hidden: tuple[int, ...], latent: int) -> nn.Sequential:
    """The decoder MLP latent -> reversed(hidden) -> in_dim with a sigmoid output."""
    return nn.Sequential(*_mlp([latent, *reversed(hidden), in_dim]), nn.Sigmoid())


class Autoencoder(nn.Module):
    """MLP autoencoder in_dim -> hidden -> latent -> reversed(hidden) -> in_dim; with
    ``variational`` the encoder outputs the mean and log-variance of a Gaussian latent."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...] = (128, 64), latent: int = 12, variational: bool = False):
        super().__init__()
        self.variational = variational
        self.encoder = nn.Sequential(*_mlp([in_dim, *hidden]), nn.ReLU()) if hidden else nn.Identity()
        width = hidden[-1] if hidden else in_dim
        self.mu = nn.Linear(width, latent)
        self.logvar = nn.Linear(width, latent) if variational else None
        self.decoder = build_decoder(in_dim, hidden, latent)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Latent mean (N, latent) of images ``x`` (N, ...) in [0, 1], and the log-variance
        (None unless variational)."""
        h = self.encoder(x.flatten(1))
        return self.mu(h), (self.logvar(h) if self.logvar is not None else None)

    def decode(self, z: Tensor) -> Tensor:
        """Images (N, in_dim) in [0, 1] from latent codes ``z`` (N, latent)."""
        return self.decoder(z)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """Reconstruction (N, in_dim), latent mean and log-variance of ``x``; a VAE in
        training mode decodes a reparameterised sample, otherwise the mean is decoded."""
        mu, logvar = self.encode(x)
        z = mu
        if logvar is not None and self.training:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def loss_fn(x: Tensor, recon: Tensor, mu: Tensor, logvar: Tensor | None) -> Tensor:
    """Per-image BCE summed over pixels, plus the KL divergence to N(0, I) when ``logvar``
    is given, averaged over the batch."""
    loss = F.binary_cross_entropy(recon, x, reduction="sum")
    if logvar is not None:
        loss = loss - 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return loss / len(x)


@dataclass
class DecoderGenerator:
    """A trained decoder and the Gaussian its latent codes are drawn from."""

    decoder: nn.Module  # (N, latent) float32 -> (N, C*H*W) in [0, 1]
    shape: tuple[int, int, int]  # (C, H, W)
    variational: bool
    latent_mean: np.ndarray  # (L,) float32
    latent_chol: np.ndarray  # (L, L) float32, lower-triangular
    settings: dict  # epochs, lr, batch_size, seed, hidden, latent, images
    history: list[float]  # mean training loss per image, per epoch


def fit(
    images: np.ndarray,
    *,
    variational: bool,
    latent: int = 12,
    hidden: tuple[int, ...] = (128, 64),
    epochs: int = 2,
    lr: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
    device: torch.device = torch.device("cpu"),
    progress: bool = False,
) -> DecoderGenerator:
    """Train an autoencoder (or VAE) with Adam on ``images`` (N, C, H, W) uint8.

    Weights are initialised and batches shuffled from ``seed``, so a run is reproducible
    on CPU. The decoder is returned on ``device`` in eval mode.
    """
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"images must be (N, C, H, W) uint8, got {images.dtype} of shape {images.shape}")
    n, shape = len(images), tuple(int(s) for s in images.shape[1:])
    if n < 2 or epochs < 0 or batch_size < 1 or lr <= 0 or latent < 1:
        raise ValueError(
            f"need >= 2 images, epochs >= 0, batch_size >= 1, lr > 0 and latent >= 1; "
            f"got {n}, {epochs}, {batch_size}, {lr}, {latent}"
        )
    device = torch.device(device)
    x_all = torch.from_numpy(np.ascontiguousarray(images)).flatten(1)
    with seeded(seed, device):
        model = Autoencoder(math.prod(shape), tuple(hidden), latent, variational).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)

        def step(idx: torch.Tensor) -> torch.Tensor:
            x = x_all[idx].to(device).float().div_(255)
            return loss_fn(x, *model(x))

        history = run_epochs(
            model,
            opt,
            step,
            n,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
            desc=f"{'vae' if variational else 'ae'} epoch",
        )
    model.eval()
    if variational:
        mean, chol = np.zeros(latent), np.eye(latent)
    else:
        with torch.no_grad():
            codes = (
                torch.cat(
                    [
                        model.encode(x_all[i : i + batch_size].to(device).float().div_(255))[0].cpu()
                        for i in range(0, n, batch_size)
                    ]
                )
                .double()
                .numpy()
            )
        mean = codes.mean(0)
        chol = np.linalg.cholesky(np.cov(codes, rowvar=False) + 1e-6 * np.eye(latent))
    settings = {
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "seed": seed,
        "hidden": list(hidden),
        "latent": latent,
        "images": n,
    }
    return DecoderGenerator(
        model.decoder, shape, variational, mean.astype(np.float32), chol.astype(np.float32), settings, history
    )


def save(gen: DecoderGenerator, path: str | Path, attrs: dict | None = None) -> None:
    """Write the decoder and latent distribution as an HDF5 artifact (kind ``generator``)."""
    meta = {
        **(attrs or {}),
        "kind": "generator",
        "generator": "vae" if gen.variational else "ae",
        "shape": list(gen.shape),
        "settings": gen.settings,
        "history": list(gen.history),
    }
    with store.create(path, meta) as f:
        group = f.create_group("decoder")
        for name, tensor in gen.decoder.state_dict().items():
            group.create_dataset(name, data=tensor.detach().cpu().numpy())
        f.create_dataset("latent_mean", data=gen.latent_mean)
        f.create_dataset("latent_chol", data=gen.latent_chol)


def load(path: str | Path, device: torch.device = torch.device("cpu")) -> DecoderGenerator:
    """Read a generator written by :func:`save`, with its decoder on ``device`` in eval mode."""
    with store.open_artifact(path, "generator") as f:
        kind = store.get_attr(f, "generator")
        if kind not in AUTOENCODERS:
            raise store.ArtifactError(f"{path} holds a {kind!r} generator, not an autoencoder or VAE")
        shape = tuple(store.get_attr(f, "shape"))
        settings = store.get_attr(f, "settings")
        decoder = build_decoder(math.prod(shape), tuple(settings["hidden"]), settings["latent"])
        weights = {name: torch.from_numpy(ds[()]) for name, ds in f["decoder"].items()}
        try:
            decoder.load_state_dict(weights)
        except RuntimeError as e:
            raise store.ArtifactError(f"{path}: decoder weights do not match its settings: {e}") from None
        return DecoderGenerator(
            decoder.to(device).eval(),
            shape,
            kind == "vae",
            f["latent_mean"][()],
            f["latent_chol"][()],
            settings,
            list(store.get_attr(f, "history")),
        )
