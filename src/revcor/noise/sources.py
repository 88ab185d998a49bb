"""Noise sources: chunk ``i`` of an experiment is drawn from a generator keyed by (seed, i).

On the CPU the generator is numpy's Philox (a counter-based generator whose 128-bit key is
``(seed, i)``), so a chunk's bits are the same on every machine. On CUDA it is torch's
Philox seeded from ``(seed, i)``: reproducible on CUDA, but different bits from the CPU
stream. The backend is recorded with every artifact and checked when a chunk is regenerated.

A source yields stimuli in their *stored* form (``uint8`` levels, or floats rounded to the
storage dtype) so that what is stored is exactly what the model saw;
:meth:`NoiseSource.to_input` turns them into model inputs. A source made with a noise
``size`` (e.g. 32x32 noise for a 224x224 ImageNet model, paper Sec. 3.1) stores and reduces
noise at that size and resizes it (bilinear) to the model's input in ``to_input``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from revcor.data import readers
from revcor.noise import autoencoder, gabor
from revcor.noise.autoencoder import DecoderGenerator
from revcor.noise.gabor import GaborPCA
from revcor.noise.kinds import GENERATED
from revcor.noise.rng import ChunkRNG

STORAGE_DTYPES = {"uint8": torch.uint8, "float16": torch.float16, "float32": torch.float32}


class NoiseSource:
    """Base class: ``sample`` draws stored-form stimuli, ``to_input`` makes model inputs."""

    kind = "noise"

    def __init__(self, shape: tuple[int, int, int], storage: str = "float32"):
        if storage not in STORAGE_DTYPES:
            raise ValueError(f"storage dtype {storage!r} not supported; allowed: {', '.join(STORAGE_DTYPES)}")
        self.shape = tuple(int(s) for s in shape)
        self.input_shape = self.shape  # what the model takes; set by make() for a noise size
        self.storage = storage

    def sample(self, rng: ChunkRNG, n: int) -> torch.Tensor:
        raise NotImplementedError

    def values(
        self, stored: torch.Tensor, dtype: torch.dtype = torch.float32, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Stored stimuli -> their values in [0, 1], at the noise's own size; written into
        ``out`` (of ``dtype`` and the stimuli's shape) when given, a buffer reused across chunks."""
        x = stored.to(dtype) if out is None else out.copy_(stored)
        return x.div_(255) if stored.dtype == torch.uint8 else x

    def to_input(
        self, stored: torch.Tensor, dtype: torch.dtype = torch.float32, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Stored stimuli -> model inputs in [0, 1], resized to ``input_shape`` (``out`` as in
        :meth:`values`)."""
        return readers.resize(self.values(stored, dtype, out), self.input_shape[1:])

    def describe(self) -> dict:
        """Settings recorded in artifacts."""
        resized = {"input_shape": list(self.input_shape)} if self.input_shape != self.shape else {}
        return {"kind": self.kind, "shape": list(self.shape), "storage": self.storage, **resized}

    def _store(self, x: torch.Tensor) -> torch.Tensor:
        """Float stimuli in [0, 1] -> their stored form."""
        if self.storage == "uint8":
            return x.mul_(255).round_().to(torch.uint8)
        return x.to(STORAGE_DTYPES[self.storage])


class WhiteNoise(NoiseSource):
    """I.i.d. pixel noise: uniform on [0, 1] (the input range), or Gaussian clipped to it."""

    kind = "white"

    def __init__(
        self, shape: tuple[int, int, int], storage: str = "uint8", distribution: str = "uniform", std: float = 0.25
    ):
        super().__init__(shape, storage)
        if distribution not in ("uniform", "gaussian"):
            raise ValueError(f"white noise distribution {distribution!r}; allowed: uniform, gaussian")
        self.distribution = distribution
        self.std = float(std)

    def sample(self, rng: ChunkRNG, n: int) -> torch.Tensor:
        shape = (n, *self.shape)
        if self.distribution == "uniform" and self.storage == "uint8":
            return rng.uint8(shape)
        if self.distribution == "uniform":
            x = rng.uniform(shape)
        else:
            x = rng.normal(shape).mul_(self.std).add_(0.5).clamp_(0, 1)
        return self._store(x)

    def describe(self) -> dict:
        return {
            **super().describe(),
            "distribution": self.distribution,
            **({"std": self.std} if self.distribution == "gaussian" else {}),
        }


class GaborNoise(NoiseSource):
    """Gabor-PCA noise (see :mod:`revcor.noise.gabor`): component scores uniform within their
    observed ranges, projected to pixels in one matrix product per channel on the device,
    clipped to the input range [0, 1]."""

    kind = "gabor"

    def __init__(
        self, model: GaborPCA, storage: str = "uint8", device: torch.device | None = None, generator: str = ""
    ):
        super().__init__(model.shape, storage)
        device = device or torch.device("cpu")
        self.model, self.generator = model, generator
        self._projection = torch.from_numpy(model.projection).to(device)
        self._offset = torch.from_numpy(model.offset).to(device)[:, None]
        self._low = torch.from_numpy(model.low).to(device)
        self._width = torch.from_numpy(model.high - model.low).to(device)

    def sample(self, rng: ChunkRNG, n: int) -> torch.Tensor:
        c, k = self._low.shape
        u = rng.uniform((c, n, k)).to(self._low.device, non_blocking=True)
        scores = u.mul_(self._width[:, None]).add_(self._low[:, None])
        x = torch.baddbmm(self._offset, scores, self._projection)  # (C, n, H*W)
        return self._store(x.clamp_(0, 1).transpose(0, 1).reshape(n, *self.shape))

    def describe(self) -> dict:
        return {**super().describe(), "generator": self.generator, **self.model.settings}


class DecoderNoise(NoiseSource):
    """Autoencoder or VAE noise: latent codes ``mean + eps @ chol.T`` with ``eps ~ N(0, I)``
    (the VAE's prior, or the Gaussian of the autoencoder's training codes) decoded into
    images in [0, 1]."""

    def __init__(
        self, gen: DecoderGenerator, storage: str = "uint8", device: torch.device | None = None, generator: str = ""
    ):
        super().__init__(gen.shape, storage)
        device = device or torch.device("cpu")
        self.kind = "vae" if gen.variational else "ae"
        self.gen, self.generator = gen, generator
        self._decoder = gen.decoder.to(device).eval()
        self._mean = torch.from_numpy(gen.latent_mean).to(device)
        self._chol = torch.from_numpy(gen.latent_chol).to(device)

    @torch.inference_mode()
    def sample(self, rng: ChunkRNG, n: int) -> torch.Tensor:
        eps = rng.normal((n, len(self._mean))).to(self._mean.device, non_blocking=True)
        x = self._decoder(torch.addmm(self._mean, eps, self._chol.T))
        return self._store(x.clamp_(0, 1).reshape(n, *self.shape))

    def describe(self) -> dict:
        return {**super().describe(), "generator": self.generator, **self.gen.settings}


def make(
    spec: dict, shape: tuple[int, int, int], generator: str | Path | None = None, device: torch.device | None = None
) -> NoiseSource:
    """Build a noise source from a config-style spec such as ``{"kind": "white"}`` for a model
    taking images of ``shape``; the generated kinds (gabor, ae, vae) read their fitted
    ``generator`` artifact. With ``size``, the noise is ``size`` x ``size`` and resized to
    ``shape`` for the model."""
    spec = dict(spec)
    kind = spec.pop("kind", "white")
    storage = spec.pop("storage", "uint8")
    size = spec.pop("size", None)
    shape = tuple(int(s) for s in shape)
    noise_shape = shape if size is None else (shape[0], int(size), int(size))
    source = _make(kind, storage, spec, noise_shape, generator, device)
    if source.shape != noise_shape:
        what = f"the noise size {size} asks for" if size else "the model takes"
        hint = "" if size else f" (a noise size of {source.shape[-1]} resizes its noise to the model's input)"
        raise ValueError(f"{generator} makes {source.shape} images, {what} {noise_shape}{hint}")
    source.input_shape = shape
    return source


def _make(
    kind: str,
    storage: str,
    spec: dict,
    shape: tuple[int, int, int],
    generator: str | Path | None,
    device: torch.device | None,
) -> NoiseSource:
    if kind == "white":
        return WhiteNoise(shape, storage=storage, **spec)
    if kind not in GENERATED:
        raise ValueError(f"noise kind {kind!r} is not supported; allowed: white, {', '.join(GENERATED)}")
    if generator is None:
        raise ValueError(f"{kind} noise needs its fitted generator artifact")
    if kind == "gabor":
        source = GaborNoise(gabor.load(generator), storage, device, str(generator))
    else:
        source = DecoderNoise(autoencoder.load(generator, device), storage, device, str(generator))
        if source.kind != kind:
            raise ValueError(f"{generator} is a {source.kind} generator, the experiment asks for {kind}")
    return source


def for_experiment(
    spec: dict,
    storage: str,
    shape: tuple[int, int, int],
    generator: str | Path | None = None,
    device: torch.device = torch.device("cpu"),
) -> NoiseSource:
    """The noise source of an experiment spec (its ``noise`` entry) with the given storage dtype."""
    settings = {k: v for k, v in spec.get("noise", {}).items() if k != "dataset"}
    return make({**settings, "storage": storage}, shape, generator, device)
