"""Backdoor (adversarial patch) attacks and their detection from classification images.

Reproduces Sec. 3.2 "Adversarial defense" of Borji & Lin (Fig. 7): a small patch is put
on a fraction of the training images of one class, which are relabelled as another class;
a model trained on them learns the patch as a trigger, and the z-maps of its white-noise
classification images show an excess at the patch location in the target class.

* Patches (:data:`PATCHES`, :func:`box`, :func:`mask`, :func:`apply`): the paper's 3x3 "x"
  at the top-left, the 6x6 "c" of the authors' code at the top-right of MNIST, and a 5x5
  "h" at the top-right of CIFAR-10. Patched pixels are *set* to 255 in every channel
  (the authors added the patch to uint8 images, which wrapped around where ink was).
* Poisoning (:func:`poison`; :func:`revcor.pipeline.backdoor.derive` writes the artifact):
  a dataset artifact with a poisoned ``train`` split, the clean ``test`` split and
  ``test_patched`` (every test image of the source class patched, true labels kept).
* Whether a location found by a detector (:mod:`revcor.analyses.detection`) is on the
  patch (:func:`hit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from revcor.data import datasets

CORNERS = ("top-left", "top-right")


@dataclass(frozen=True, eq=False)
class Patch:
    """A patch shape (boolean ``mask``, h x w) placed in a ``corner`` of the image, ``margin``
    pixels from the top and from the left or right edge, so that its position follows the
    image width."""

    name: str
    mask: np.ndarray
    corner: str
    margin: int

    def __post_init__(self) -> None:
        if self.corner not in CORNERS:
            raise ValueError(f"patch corner must be one of {', '.join(CORNERS)}, got {self.corner!r}")
        m = np.array(self.mask, dtype=bool)
        m.setflags(write=False)
        object.__setattr__(self, "mask", m)


def _shape(rows: Sequence[str]) -> np.ndarray:
    return np.array([[c == "#" for c in row] for row in rows])


PATCHES: dict[str, Patch] = {
    # Paper: a 3x3 x-shape on the top-left corner of half of the MNIST zeros, relabelled 1.
    "x": Patch("x", _shape(["#.#", ".#.", "#.#"]), "top-left", 1),
    # Authors' code: rows 1-2 and 5-6 over cols 21-26, plus rows 3-4 over cols 21-22 (28x28).
    "c": Patch("c", _shape(["######", "######", "##....", "##....", "######", "######"]), "top-right", 1),
    # Paper: an H-shape on the top-right of CIFAR-10 birds, relabelled cat.
    "h": Patch("h", _shape(["#...#", "#...#", "#####", "#...#", "#...#"]), "top-right", 1),
}


def _patch(patch: Patch | str) -> Patch:
    if isinstance(patch, Patch):
        return patch
    if patch not in PATCHES:
        raise ValueError(f"unknown patch {patch!r}; known patches: {', '.join(PATCHES)}")
    return PATCHES[patch]


def box(patch: Patch | str, shape: Sequence[int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of ``patch`` in images of ``shape`` (its last two entries
    are H, W); bottom and right are exclusive."""
    p = _patch(patch)
    height, width = int(shape[-2]), int(shape[-1])
    h, w = p.mask.shape
    top = p.margin
    left = p.margin if p.corner == "top-left" else width - p.margin - w
    if left < 0 or top + h > height or left + w > width:
        raise ValueError(f"patch {p.name!r} ({h}x{w}, margin {p.margin}) does not fit in {height}x{width} images")
    return top, left, top + h, left + w


def mask(patch: Patch | str, shape: Sequence[int]) -> np.ndarray:
    """Boolean (H, W) mask of the pixels ``patch`` covers in images of ``shape``."""
    p = _patch(patch)
    top, left, bottom, right = box(p, shape)
    out = np.zeros((int(shape[-2]), int(shape[-1])), dtype=bool)
    out[top:bottom, left:right] = p.mask
    return out


def apply(images: np.ndarray, patch: Patch | str) -> np.ndarray:
    """A copy of uint8 ``images`` (..., C, H, W) with the patch pixels set to 255 in every channel."""
    out = np.array(images, copy=True)
    out[..., mask(patch, out.shape)] = 255
    return out


def poison(
    split: datasets.Split, patch: str, source: int, target: int, fraction: float, seed: int
) -> tuple[datasets.Split, np.ndarray]:
    """Patch ``round(fraction * count)`` images of class ``source``, drawn without replacement
    with ``numpy.random.default_rng(seed)``, and relabel them ``target``.

    Returns the new split (the input is not modified) and the sorted indices poisoned.
    """
    p = _patch(patch)
    k = len(split.classes)
    if not (0 <= source < k and 0 <= target < k):
        raise ValueError(f"source and target must be class indices in 0..{k - 1}, got {source} and {target}")
    if source == target:
        raise ValueError(f"source and target must differ, got {source} for both")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    candidates = np.flatnonzero(split.labels == source)
    if len(candidates) == 0:
        raise ValueError(f"the split has no images of class {source} ({split.classes[source]!r})")
    n = int(round(fraction * len(candidates)))
    if n == 0:
        raise ValueError(f"fraction {fraction} of the {len(candidates)} images of class {source} poisons none")
    chosen = np.sort(np.random.default_rng(seed).choice(candidates, n, replace=False))
    images, labels = split.images.copy(), split.labels.copy()
    images[chosen] = apply(images[chosen], p)
    labels[chosen] = target
    return datasets.Split(images, labels, list(split.classes)), chosen


def hit(found: dict, patch: str, shape: Sequence[int], target: int, tolerance: int = 2) -> bool:
    """Whether :func:`detect`'s ``found`` is in class ``target`` and within ``tolerance`` pixels
    of the box of ``patch`` in images of ``shape``."""
    top, left, bottom, right = box(patch, shape)
    return (
        found["class"] == target
        and top - tolerance <= found["row"] <= bottom - 1 + tolerance
        and left - tolerance <= found["col"] <= right - 1 + tolerance
    )
