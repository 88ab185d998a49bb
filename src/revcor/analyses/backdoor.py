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
* Detection without knowing the patch (:func:`smoothed`, :func:`excess`, :func:`detect`,
  :func:`hit`, :func:`auroc`): the largest local excess of a model's z-maps over those of
  clean reference models of the same architecture; :func:`scan` puts it beside the scores
  the references themselves get.
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


def smoothed(z: np.ndarray, size: int) -> np.ndarray:
    """Local evidence of z-maps ``z`` (K, C, H, W): (K, H, W).

    Channels are combined as sum / sqrt(C) and NaN (empty classes) counts as 0; then each
    pixel gets the sum over the ``size`` x ``size`` window centred on it (mode "same", zero
    padding) divided by the square root of the number of in-image pixels in the window, so
    independent N(0, 1) pixels give N(0, 1) everywhere, borders included (interior: sum / size).
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 4:
        raise ValueError(f"expected z-maps of shape (K, C, H, W), got {z.shape}")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"window size must be a positive odd number, got {size}")
    x = np.nan_to_num(z, nan=0.0).sum(1) / np.sqrt(z.shape[1])
    h, w = x.shape[-2:]
    r = size // 2

    def window_sum(a: np.ndarray) -> np.ndarray:
        c = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(r + 1, r), (r + 1, r)]).cumsum(-2).cumsum(-1)
        return c[..., size:, size:] - c[..., :h, size:] - c[..., size:, :w] + c[..., :h, :w]

    return window_sum(x) / np.sqrt(window_sum(np.ones((h, w))))


def excess(z_model: np.ndarray, z_refs: np.ndarray, size: int) -> np.ndarray:
    """(K, H, W) standardised excess of the :func:`smoothed` z-maps of a model over those of
    clean reference models ``z_refs`` (R, K, C, H, W), R >= 2: (model - reference mean) /
    max(reference sample sd, 1). The floor (the null sd of a z score) keeps a few references
    from producing huge values where they happen to agree."""
    z_model, z_refs = np.asarray(z_model, dtype=np.float64), np.asarray(z_refs, dtype=np.float64)
    if z_refs.ndim != 5 or z_refs.shape[1:] != z_model.shape:
        raise ValueError(
            f"expected reference z-maps of shape (R, {', '.join(map(str, z_model.shape))}), got {z_refs.shape}"
        )
    if len(z_refs) < 2:
        raise ValueError(f"need at least 2 reference models for a spread, got {len(z_refs)}")
    refs = smoothed(z_refs.reshape(-1, *z_model.shape[1:]), size).reshape(len(z_refs), -1, *z_model.shape[2:])
    out = (smoothed(z_model, size) - refs.mean(0)) / np.maximum(refs.std(0, ddof=1), 1.0)
    out[np.isnan(z_model).all(axis=(1, 2, 3))] = np.nan  # a class the model never answered has no map
    return out


def detect(z_model: np.ndarray, z_refs: np.ndarray, size: int = 3) -> dict:
    """The largest |:func:`excess`| over the classes the model answered: ``{"score", "class",
    "row", "col", "sign"}``, with row and col the centre of the window. A model that gave all
    noise one class has no z-map to score: score 0 and class, row, col -1."""
    e = excess(z_model, z_refs, size)
    if np.isnan(e).all():
        return {"score": 0.0, "class": -1, "row": -1, "col": -1, "sign": 0}
    k, row, col = np.unravel_index(int(np.nanargmax(np.abs(e))), e.shape)
    value = float(e[k, row, col])
    return {"score": abs(value), "class": int(k), "row": int(row), "col": int(col), "sign": 1 if value >= 0 else -1}


SHARE_FLOOR = 0.05  # share differences are measured in units of the references' spread, at least this


def answer_excess(counts: np.ndarray, ref_counts: np.ndarray) -> np.ndarray:
    """(K,) how far the share of noise a model gives each class (``counts``) lies above the
    references' mean share (``ref_counts``, R x K, R >= 2), in units of their spread, floored
    at :data:`SHARE_FLOOR`: a trigger that noise sets off pulls noise into its target class."""
    share = np.asarray(counts, np.float64) / np.sum(counts)
    refs = np.asarray(ref_counts, np.float64) / np.sum(ref_counts, axis=1, keepdims=True)
    return (share - refs.mean(0)) / np.maximum(refs.std(0, ddof=1), SHARE_FLOOR)


def scan(z_model: np.ndarray, z_refs: np.ndarray, counts: np.ndarray, ref_counts: np.ndarray, size: int = 3) -> dict:
    """Score a model for a backdoor from its z-maps against clean references ``z_refs``
    (R, K, C, H, W): :func:`detect`'s score, suspected target class and location (the window
    ``box``: top, left, bottom, right, exclusive), and for R >= 3 each reference's own score
    against the others (leave one out), the yardstick of a clean model's score. ``answers``
    compares the share of noise the model gives each class (``counts``, K) with the
    references' (``ref_counts``, R x K) by :func:`answer_excess`, also calibrated leave one
    out. ``suspect``: either score is above every reference's.
    The suspected target is the class whose share of noise is above every reference's when
    there is one, else the class of the largest local excess (``excess_class``, which for a
    trigger may be another class's map, darker where the trigger is); the location is that
    excess's window (none without z-maps, when all noise went to one class)."""
    z_refs = np.asarray(z_refs, dtype=np.float64)
    counts, ref_counts = np.asarray(counts, np.float64), np.asarray(ref_counts, np.float64)
    pull = answer_excess(counts, ref_counts)
    loo = [float(answer_excess(ref_counts[i], np.delete(ref_counts, i, 0)).max()) for i in range(len(ref_counts))]
    answers = {
        "model": (counts / counts.sum()).tolist(),
        "references_max": (ref_counts / ref_counts.sum(1, keepdims=True)).max(0).tolist(),
        "most_over": int(np.argmax(pull)),
        "excess": float(pull.max()),
        "reference_excesses": loo if len(ref_counts) >= 3 else [],
    }
    answers["above_every_reference"] = bool(len(ref_counts) >= 3 and pull.max() > max(loo))
    result = {
        "score": None,
        "target": answers["most_over"],
        "sign": 1,
        "location": None,
        "window": size,
        "references": len(z_refs),
        "reference_scores": [],
        "above_every_reference": False,
        "answers": answers,
    }
    if (np.asarray(counts) > 0).sum() < 2:  # one class for all noise: no z-map to scan
        return result | {"suspect": answers["above_every_reference"]}
    found = detect(z_model, z_refs, size)
    h, w = np.asarray(z_model).shape[-2:]
    r, row, col = size // 2, found["row"], found["col"]
    loo = (
        [detect(z_refs[i], np.delete(z_refs, i, 0), size)["score"] for i in range(len(z_refs))]
        if len(z_refs) >= 3
        else []
    )
    result |= {
        "score": found["score"],
        "target": answers["most_over"] if answers["above_every_reference"] else found["class"],
        "excess_class": found["class"],
        "sign": found["sign"],
        "location": {
            "row": row,
            "col": col,
            "box": [max(0, row - r), max(0, col - r), min(h, row + r + 1), min(w, col + r + 1)],
        },
        "reference_scores": loo,
        "above_every_reference": bool(loo) and found["score"] > max(loo),
    }
    return result | {"suspect": result["above_every_reference"] or answers["above_every_reference"]}


def hit(found: dict, patch: str, shape: Sequence[int], target: int, tolerance: int = 2) -> bool:
    """Whether :func:`detect`'s ``found`` is in class ``target`` and within ``tolerance`` pixels
    of the box of ``patch`` in images of ``shape``."""
    top, left, bottom, right = box(patch, shape)
    return (
        found["class"] == target
        and top - tolerance <= found["row"] <= bottom - 1 + tolerance
        and left - tolerance <= found["col"] <= right - 1 + tolerance
    )


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Area under the ROC curve of scores ``positive`` against ``negative`` (Mann-Whitney,
    ties count 1/2): the chance a positive scores above a negative; NaN if either is empty."""
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    diff = pos.reshape(-1, 1) - neg.reshape(1, -1)
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())
