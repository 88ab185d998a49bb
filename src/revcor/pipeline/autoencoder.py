"""The ``autoencoder`` rule: fit an autoencoder (ae) or VAE (vae) noise generator on a
dataset's training split."""

from __future__ import annotations

from pathlib import Path

import torch

from revcor.base import store
from revcor.data import datasets
from revcor.noise import autoencoder
from revcor.noise.kinds import AUTOENCODERS


def fit(
    kind: str,
    dataset_path: str | Path,
    settings: dict,
    out: str | Path,
    *,
    device: torch.device = torch.device("cpu"),
    progress: bool = False,
) -> None:
    """Fit and save the decoder; ``settings`` is the config's ``generators.autoencoder``."""
    if kind not in AUTOENCODERS:
        raise ValueError(f"unknown autoencoder kind {kind!r}; allowed: ae, vae")
    train = datasets.load(dataset_path, "train")
    s = settings
    gen = autoencoder.fit(
        train.images,
        variational=kind == "vae",
        latent=s["latent"],
        hidden=tuple(s["hidden"]),
        epochs=s["epochs"],
        lr=s["lr"],
        batch_size=s["batch_size"],
        seed=s["seed"],
        device=device,
        progress=progress,
    )
    autoencoder.save(gen, out, {"dataset": str(dataset_path), "dataset_sha256": store.sha256(dataset_path)})
