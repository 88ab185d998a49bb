"""Local noise: binary noise in one small window of a clean image, and where and what in it
changes the model's answer.

The psychophysicist's *Bubbles* (Gosselin & Schyns 2001) show an image through a few random
apertures and average the apertures by the observer's answer. Here the image stays and one
square window of it is replaced by binary noise (each pixel of each channel 0 or 1 with
probability 1/2), at a random place, on clean test images of every class. Two
classification images come out of the same trials:

* *where* (:meth:`LocalNoise.covering`): for each pixel, how often the model gives class
  ``k`` when the noise window covers that pixel. A trigger drives the model to its target wherever noise happens to resemble it,
  so the target's map lights up where the trigger is, even for a model that gives every
  plain noise image to its target (no white-noise z-map to read) and for triggers that no
  linear template describes (a checkerboard is set off by its inverse as well).
* *what* (:meth:`LocalNoise.what`): for each pixel, the mean noise bit of the trials
  answered ``k`` minus that of the other trials whose window covered it, in units of its
  standard error: the pattern that pushes the model to ``k`` (the paper's Eq. 1 for noise
  confined to a window).

Maps exist per true class of the image (``source``) and pooled over every class but ``k``
(index ``S`` = the number of classes). Trial ``i`` is drawn from a generator keyed by
``(seed, chunk)`` (:class:`revcor.noise.rng.ChunkRNG`): the noise is a seed, not a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from revcor.base import store
from revcor.core.engine import chunk_span, forward, n_chunks, prepare
from revcor.data import datasets
from revcor.models.architectures import predict_labels
from revcor.noise.rng import ChunkRNG, backend

NOISE_SD = 0.5  # SD of a binary noise pixel (0 or 1 with probability 1/2)
WINDOW_FRACTION = 0.3  # default window side: this fraction of the image's shorter side
CHUNK = 16384  # trials drawn from one keyed generator


def window_size(shape: tuple[int, ...]) -> int:
    """The default side of the noise window for images of ``shape`` (..., H, W): 30% of the
    shorter side, at least 3 (8 for 28x28 images)."""
    return max(3, round(WINDOW_FRACTION * min(int(shape[-2]), int(shape[-1]))))


def box_sum(counts: np.ndarray, size: int) -> np.ndarray:
    """For counts of window positions (..., PH, PW) (a window's top-left corner), the sum at
    each pixel (..., PH + size - 1, PW + size - 1) over the positions whose window covers it."""
    pad = [(0, 0)] * (counts.ndim - 2) + [(size, size - 1), (size, size - 1)]
    c = np.pad(np.asarray(counts, dtype=np.float64), pad).cumsum(-2).cumsum(-1)
    return c[..., size:, size:] - c[..., :-size, size:] - c[..., size:, :-size] + c[..., :-size, :-size]


def _pooled(a: np.ndarray) -> np.ndarray:
    """(S, K, ...) per source class and answer -> (S + 1, K, ...): row S pools, for each
    answer k, every source class but k."""
    others = a.sum(0) - np.einsum("kk...->k...", a)
    return np.concatenate([a, others[None]])


def _per_answer(per_source: np.ndarray) -> np.ndarray:
    """(S, ...) per source class -> (S + 1, S, ...) aligned with :func:`_pooled`: row s repeats
    source s for every answer; row S, for answer k, pools every source class but k."""
    s = per_source.shape[0]
    rows = np.broadcast_to(per_source[:, None], (s, s) + per_source.shape[1:])
    return np.concatenate([rows, (per_source.sum(0) - per_source)[None]])


@dataclass
class LocalNoise:
    """Sufficient statistics of local-noise trials on images of ``shape`` (C, H, W).

    ``counts`` (S, K, PH, PW): trials of true class s answered k with the window's top-left
    corner at each position; ``sums`` (S, K, C, H, W): the sum of the noise bits at each pixel
    over those trials (0 where the window did not cover it). Both are float64 sums, so the
    statistics of disjoint trials add. ``clean`` (S, K): the images of class s the model
    answers k without noise (the baseline the trials change).
    """

    counts: np.ndarray
    sums: np.ndarray
    clean: np.ndarray
    size: int
    attrs: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.sums.shape[2:])

    @property
    def n(self) -> int:
        return int(round(self.counts.sum()))

    def covering(self) -> tuple[np.ndarray, np.ndarray]:
        """(S + 1, K, H, W) trials answered k whose window covered each pixel, and all trials
        (of the row's source classes) whose window covered it: their ratio is *where* noise
        turns images into k."""
        return _pooled(box_sum(self.counts, self.size)), _per_answer(box_sum(self.counts.sum(1), self.size))

    def what(self) -> np.ndarray:
        """(S + 1, K, C, H, W) z-maps of *what* in the window pushes the answer to k: the mean
        noise bit of trials answered k minus that of the other trials covering the pixel, over
        its standard error (NaN where either has no trial)."""
        n_a, cov = (x[:, :, None] for x in self.covering())
        s_a, s_all = _pooled(self.sums), _per_answer(self.sums.sum(1))
        n_b = cov - n_a
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (s_a / n_a - (s_all - s_a) / n_b) / (NOISE_SD * np.sqrt(1 / n_a + 1 / n_b))
        return np.where((n_a > 0) & (n_b > 0), z, np.nan)

    def save(self, path: str | Path) -> None:
        """Write the statistics as a ``local_noise`` artifact (atomically)."""
        with store.create(path, {**self.attrs, "kind": "local_noise", "size": self.size}) as f:
            store.write_arrays(f, {"counts": self.counts, "sums": self.sums, "clean": self.clean})

    @classmethod
    def load(cls, path: str | Path) -> LocalNoise:
        with store.open_artifact(path, "local_noise") as f:
            attrs = store.get_attrs(f, exclude=("kind", "revcor_version", "python", "complete"))
            return cls(f["counts"][()], f["sums"][()], f["clean"][()], int(attrs.pop("size")), attrs)

    def position_rates(self) -> tuple[np.ndarray, np.ndarray]:
        """(S + 1, K, PH, PW) the rate of answer k at each window position, and the trials at
        that position (of the row's source classes)."""
        n = _per_answer(self.counts.sum(1))
        with np.errstate(invalid="ignore", divide="ignore"):
            return _pooled(self.counts) / n, n


def run(
    model: torch.nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    n: int,
    *,
    size: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
    progress: bool = False,
) -> LocalNoise:
    """``n`` local-noise trials of ``model`` on uint8 ``images`` (N, C, H, W) of true classes
    ``labels`` (0..num_classes-1): each trial takes an image, a window position and the noise
    bits from the generator of its chunk, and is reduced at once; nothing per trial is kept."""
    x_all = datasets.to_tensor(images).to(device)
    y_all = torch.as_tensor(np.asarray(labels), dtype=torch.int64, device=device)
    count, c, h, w = x_all.shape
    size = size or window_size((h, w))
    if not 1 <= size <= min(h, w):
        raise ValueError(f"the noise window ({size} pixels) must fit in the {h}x{w} images")
    k = max(num_classes, 2)
    if len(y_all) != count or count == 0 or int(y_all.min()) < 0 or int(y_all.max()) >= k:
        raise ValueError(f"need one label in 0..{k - 1} for each of the {count} images")
    ph, pw = h - size + 1, w - size + 1
    counts = torch.zeros(k * k * ph * pw, dtype=torch.float64, device=device)
    sums = torch.zeros(k * k, c * h * w, dtype=torch.float64, device=device)
    span = torch.arange(size, device=device)
    model.eval()
    layout = prepare(model)
    with torch.inference_mode():
        answers = predict_labels(forward(model, x_all.contiguous(memory_format=layout), batch_size))
    clean = torch.bincount(y_all * k + answers, minlength=k * k).reshape(k, k).double()
    with tqdm(total=n, unit="trial", unit_scale=True, desc="local noise", disable=not progress) as bar:
        for index in range(n_chunks(n, CHUNK)):
            start, stop = chunk_span(index, n, CHUNK)
            rng = ChunkRNG(seed, index, device)
            m = stop - start
            pick = rng.integers(count, m).to(device)
            top, left = rng.integers(ph, m).to(device), rng.integers(pw, m).to(device)
            bits = rng.uint8((m, size, size, c)).to(device).bitwise_and_(1).float()
            for i in range(0, m, batch_size):
                j = slice(i, i + batch_size)
                b = len(pick[j])
                noise = torch.zeros(b, h, w, c, device=device)
                rows = (top[j, None] + span)[:, :, None]
                cols = (left[j, None] + span)[:, None, :]
                noise[torch.arange(b, device=device)[:, None, None], rows, cols] = bits[j]
                inside = torch.zeros(b, h, w, 1, device=device)
                inside[torch.arange(b, device=device)[:, None, None], rows, cols] = 1
                noise, inside = noise.permute(0, 3, 1, 2), inside.permute(0, 3, 1, 2)
                x = (x_all[pick[j]] * (1 - inside) + noise).contiguous(memory_format=layout)
                group = y_all[pick[j]] * k + predict_labels(forward(model, x, batch_size))
                counts += torch.bincount((group * ph + top[j]) * pw + left[j], minlength=len(counts)).double()
                onehot = torch.zeros(k * k, b, device=device)
                onehot[group, torch.arange(b, device=device)] = 1
                sums += onehot @ noise.reshape(b, -1)  # integer sums below 2**24: exact in float32
            bar.update(m)
    return LocalNoise(
        counts.reshape(k, k, ph, pw).cpu().numpy(),
        sums.reshape(k, k, c, h, w).cpu().numpy(),
        clean.cpu().numpy(),
        size,
        {"n": n, "seed": seed, "size": size, "rng": backend(device), "images": count},
    )
