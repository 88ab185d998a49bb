"""Gabor-PCA noise (paper Sec. 3.2 and Appendix, after Greene et al. 2014).

Each training image (each colour channel separately) is regressed by ridge regression, with
an intercept, on a bank of Gabor wavelets tiled without overlap over the image; PCA of the
per-image [wavelet weights, intercept] keeps the leading components. A noise image draws
each component score uniformly within the range it takes on the training images, adds the
PCA mean back, and maps the weights to pixels. Both steps are linear, so sampling is one
matrix product per chunk: ``pixels = scores @ projection + offset``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from revcor.base import store
from revcor.base.errors import RevcorError

PAPER_SIZES = {28: (3, 7, 15), 32: (3, 5, 9, 17)}
PAPER_COMPONENTS = {28: 250, 32: 600}
ORIENTATIONS = (0.0, 45.0, 90.0, 135.0)
PHASES = (0.0, 90.0)


class GaborError(RevcorError, ValueError):
    """A Gabor-PCA fit that cannot be made as asked."""


def kernel(size: int, theta: float, phase: float) -> np.ndarray:
    """A ``size`` x ``size`` Gabor kernel: sigma = size/7, wavelength = size/2, aspect 0.5,
    orientation ``theta`` and phase ``phase`` in degrees (signed, as the formula gives)."""
    sigma, wavelength, aspect = size / 7, size / 2, 0.5
    r = np.arange(size) - size // 2
    y, x = np.meshgrid(r, r, indexing="ij")
    t, p = math.radians(theta), math.radians(phase)
    xr = x * math.cos(t) + y * math.sin(t)
    yr = -x * math.sin(t) + y * math.cos(t)
    envelope = np.exp(-0.5 * (xr**2 + (aspect * yr) ** 2) / sigma**2)
    return envelope * np.cos(2 * math.pi * xr / wavelength + p)


def bank(height: int, width: int | None = None, sizes: tuple[int, ...] | None = None) -> np.ndarray:
    """Wavelets (W, height, width): every kernel size, orientation and phase, tiled without
    overlap on a ceil(height/size) x ceil(width/size) grid and truncated at the border (960
    for 28x28 and 1520 for 32x32 with the paper's sizes)."""
    width = height if width is None else width
    sizes = default_sizes(height, width, sizes)
    out = []
    for k in sizes:
        kernels = [kernel(k, th, ph) for th in ORIENTATIONS for ph in PHASES]
        for r in range(math.ceil(height / k)):
            for c in range(math.ceil(width / k)):
                for kern in kernels:
                    w = np.zeros((height, width))
                    h, v = min(k, height - r * k), min(k, width - c * k)
                    w[r * k : r * k + h, c * k : c * k + v] = kern[:h, :v]
                    out.append(w)
    return np.stack(out)


def _odd(x: float) -> int:
    return max(3, int(x) // 2 * 2 + 1)


def default_sizes(height: int, width: int, sizes: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """Kernel sizes: as given; the paper's for 28x28 and 32x32; otherwise 3 and the odd sizes
    nearest a quarter and a half of the shorter side (which gives the paper's for 28x28)."""
    if sizes:
        return tuple(int(s) for s in sizes)
    if height == width and height in PAPER_SIZES:
        return PAPER_SIZES[height]
    side = min(height, width)
    return tuple(sorted({3, _odd(side / 4), _odd(side / 2)}))


def default_components(height: int, width: int) -> int:
    """PCA components: the paper's for 28x28 (250) and 32x32 (600); otherwise 250 per 784 pixels
    (the 28x28 rate), at least 10."""
    if height == width and height in PAPER_COMPONENTS:
        return PAPER_COMPONENTS[height]
    return max(10, round(height * width * PAPER_COMPONENTS[28] / 784))


@dataclass
class GaborPCA:
    """A fitted Gabor-PCA generator: per channel, ``pixels = scores @ projection + offset``
    with scores drawn uniformly in ``[low, high]``."""

    shape: tuple[int, int, int]
    projection: np.ndarray  # (C, k, H*W)
    offset: np.ndarray  # (C, H*W)
    low: np.ndarray  # (C, k)
    high: np.ndarray  # (C, k)
    explained: np.ndarray  # (C,) fraction of the weights' variance the k components keep
    settings: dict = field(default_factory=dict)
    examples: np.ndarray | None = None  # (E, C, H, W) training images in [0, 1]
    reconstructions: np.ndarray | None = None  # their ridge reconstructions (all wavelets)
    reconstructions_pca: np.ndarray | None = None  # ... from the kept components only

    @property
    def components(self) -> int:
        return self.projection.shape[1]


def ridge_weights(features: np.ndarray, targets: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression with an intercept of every column of ``targets`` (P, N) on
    ``features`` (P, W): weights (W, N) and intercepts (N,)."""
    fm = features.mean(0)
    xc = features - fm
    gram = xc.T @ xc + alpha * np.eye(xc.shape[1])
    tm = targets.mean(0)
    w = np.linalg.solve(gram, xc.T @ (targets - tm))
    return w, tm - fm @ w


def fit(
    images: np.ndarray,
    *,
    sizes: tuple[int, ...] | None = None,
    alpha: float = 0.1,
    components: int | None = None,
    examples: int = 4,
    batch: int = 8192,
    progress: bool = False,
) -> GaborPCA:
    """Fit Gabor-PCA to ``images`` (N, C, H, W) uint8, each channel separately."""
    n, c, h, w = images.shape
    waves = bank(h, w, sizes).reshape(-1, h * w).T  # (P, W)
    most = min(n, waves.shape[1] + 1)
    if components is None:  # the default adapts to small training sets; an explicit count does not
        k = min(default_components(h, w), most)
    else:
        k = components
    if k > most:
        raise GaborError(
            f"{k} components asked, but {n} images and {waves.shape[1] + 1} weights per image allow at most {most}"
        )
    design = np.hstack([waves, np.ones((h * w, 1))])  # weights + intercept -> pixels
    proj, offset, low, high, explained = [], [], [], [], []
    ex = images[:examples].astype(np.float64) / 255
    recon, recon_pca = np.empty_like(ex), np.empty_like(ex)
    for ch in tqdm(range(c), desc="gabor-pca", unit="channel", disable=not progress):
        # weights of every image, a batch at a time (the solve is the same for all)
        weights = np.empty((n, design.shape[1]))
        for i in range(0, n, batch):
            y = images[i : i + batch, ch].reshape(-1, h * w).T.astype(np.float64) / 255
            wt, b = ridge_weights(waves, y, alpha)
            weights[i : i + batch] = np.vstack([wt, b]).T
        mean = weights.mean(0)
        centred = weights - mean
        evals, evecs = np.linalg.eigh(centred.T @ centred / n)
        order = np.argsort(evals)[::-1]
        evals, evecs = np.clip(evals[order], 0, None), evecs[:, order[:k]]  # (W+1, k)
        scores = centred @ evecs
        proj.append(evecs.T @ design.T)
        offset.append(mean @ design.T)
        low.append(scores.min(0))
        high.append(scores.max(0))
        explained.append(evals[:k].sum() / evals.sum())
        recon[:, ch] = (weights[:examples] @ design.T).reshape(-1, h, w)
        recon_pca[:, ch] = ((scores[:examples] @ evecs.T + mean) @ design.T).reshape(-1, h, w)
    settings = {
        "sizes": list(default_sizes(h, w, sizes)),
        "alpha": alpha,
        "components": k,
        "wavelets": waves.shape[1],
        "images": n,
    }
    return GaborPCA(
        (c, h, w),
        np.stack(proj).astype(np.float32),
        np.stack(offset).astype(np.float32),
        np.stack(low).astype(np.float32),
        np.stack(high).astype(np.float32),
        np.array(explained),
        settings,
        ex,
        recon,
        recon_pca,
    )


_ARRAYS = ("projection", "offset", "low", "high", "explained", "examples", "reconstructions", "reconstructions_pca")


def save(model: GaborPCA, path: str | Path, attrs: dict | None = None) -> None:
    """Write a fitted generator as an HDF5 artifact (kind ``gabor``)."""
    meta = {
        **(attrs or {}),
        "kind": "generator",
        "generator": "gabor",
        "shape": list(model.shape),
        "settings": model.settings,
    }
    with store.create(path, meta) as f:
        for name in _ARRAYS:
            value = getattr(model, name)
            if value is not None:
                f.create_dataset(name, data=value)


def load(path: str | Path) -> GaborPCA:
    """Read a generator written by :func:`save`."""
    with store.open_artifact(path, "generator") as f:
        if store.get_attr(f, "generator") != "gabor":
            raise store.ArtifactError(f"{path}: not a Gabor-PCA generator")
        arrays = {name: f[name][()] if name in f else None for name in _ARRAYS}
        return GaborPCA(tuple(store.get_attr(f, "shape")), settings=store.get_attr(f, "settings"), **arrays)
