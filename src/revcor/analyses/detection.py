"""Backdoor detection from classification images, with a verdict that states its error rate.

A scanned model and R clean reference models of the same architecture are *probed* alike
(:class:`Probe`): white noise (its z-maps) and local noise on clean test images
(:mod:`revcor.analyses.localnoise`). Four scores (:data:`EVIDENCE`), each a largest excess of
one model over the others:

* ``local``: where noise turns the images of one class into another, as arcsine square roots
  of rates (a trigger changes answers by far more than clean models' idiosyncrasies do);
* ``local_all``: the same for the images of every other class pooled;
* ``map``: the largest |local excess| of a white-noise z-map (paper Fig. 7; smoothed over a
  ``smooth`` x ``smooth`` window);
* ``share``: the share of local-noise trials a class gets from images of other classes.

Each model is scored against all the others (the scanned model against the R references,
each reference against the other R - 1 and the scanned model), so that for a clean model
exchangeable with its references the R + 1 scores are exchangeable. A map or local score is
in units of the model's own typical excess when that is above 1 (a model unlike its
references everywhere, e.g. trained on other data, does not look local). The p-value of each
score comes from an extreme-value model of the references' scores: log(1 + score) of a
maximum is taken as Gumbel, and :func:`revcor.core.significance.predictive_p` accounts for
estimating its location and scale from only R values. The scores are combined by weighted
Bonferroni (p = the smallest p / weight): ``suspect`` when p < alpha, ``clean`` otherwise,
``inconclusive`` with fewer than :data:`MIN_REFERENCES` references, or for a model unlike
its references (:func:`matching`: less accurate on clean images than every reference in
most classes, as a model trained on other data is): it differs from them in every score, and
they cannot say what a clean model like it looks like.

:func:`locate` boxes where local noise drives the model to the target; :func:`causal_check`
pastes what local noise found there (the *what* map at the image's range, and binary noise)
onto clean images and counts how often the model, and the references, then give the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from revcor.analyses.localnoise import LocalNoise, box_sum
from revcor.core.engine import forward
from revcor.core.significance import MAD_SCALE, predictive_p
from revcor.data import datasets
from revcor.models.architectures import predict_labels
from revcor.noise.rng import ChunkRNG

# The scores and their shares of alpha (weighted Bonferroni): the local-noise scores carry
# most of the power, one for the images of each class and one for those of all others pooled
EVIDENCE = {"local": 0.4, "local_all": 0.4, "map": 0.1, "share": 0.1}
CLASS_AXIS = {"share": 0, "map": 0, "local": 1, "local_all": 0}  # of a class in a score's index
MIN_REFERENCES = 3  # fewer references leave the scale of a clean model's scores unknown
SHARE_FLOOR = 0.005  # share differences are measured in units of the others' spread, at least this
Z_FLOOR = 1.0  # map differences likewise, at least the null SD of a z score
COVER = 0.9  # the trigger's box: the pixels covered by windows carrying this share of the weight
MISMATCH_DROP = 0.05  # a model unlike its references: this much less accurate than each, in most classes
RATE_FLOOR = 0.1  # rate differences (arcsine square roots) likewise, at least this or their sampling SD


@dataclass
class Probe:
    """What one model answered: white-noise class ``counts`` (K,) and z-maps (K, C, H, W),
    and local-noise trials on clean images."""

    counts: np.ndarray
    zmaps: np.ndarray
    local: LocalNoise


def smoothed(z: np.ndarray, size: int) -> np.ndarray:
    """Local evidence of maps ``z`` (..., C, H, W): (..., H, W).

    Channels are combined as sum / sqrt(C) and NaN counts as 0; then each pixel gets the sum
    over the ``size`` x ``size`` window centred on it (zero padding) divided by the square root
    of the number of in-image pixels in the window, so independent N(0, 1) pixels give
    N(0, 1) everywhere, borders included (interior: sum / size).
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim < 3:
        raise ValueError(f"expected maps of shape (..., C, H, W), got {z.shape}")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"window size must be a positive odd number, got {size}")
    x = np.nan_to_num(z, nan=0.0).sum(-3) / np.sqrt(z.shape[-3])
    h, w = x.shape[-2:]
    r = size // 2

    def window_sum(a: np.ndarray) -> np.ndarray:
        c = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(r + 1, r), (r + 1, r)]).cumsum(-2).cumsum(-1)
        return c[..., size:, size:] - c[..., :h, size:] - c[..., size:, :w] + c[..., :h, :w]

    return window_sum(x) / np.sqrt(window_sum(np.ones((h, w))))


def excess(fields: np.ndarray, floor: float | np.ndarray) -> np.ndarray:
    """Each of M fields (M, ...) against the other M - 1: (field - their mean) / max(their
    sample SD, ``floor``) (a number, or one per field and entry). The floor keeps a few
    others from making huge values where they happen to agree."""
    f = np.asarray(fields, dtype=np.float64)
    m = len(f)
    if m < 3:
        raise ValueError(f"need at least 3 fields (each against at least 2 others), got {m}")
    total, total_sq = f.sum(0), (f * f).sum(0)
    mean = (total - f) / (m - 1)
    var = np.clip(((total_sq - f * f) - (m - 1) * mean**2) / (m - 2), 0, None)
    return (f - mean) / np.maximum(np.sqrt(var), floor)


def rate_excess(hits: np.ndarray, trials: np.ndarray) -> np.ndarray:
    """Each of M models' rates ``hits / trials`` (M, ...) against the others', as arcsine
    square roots (whose sampling SD is 1 / (2 sqrt(trials)) whatever the rate): minus the
    others' mean, over the larger of their spread, :data:`RATE_FLOOR` and the model's own
    sampling SD. A rate far from the others' in effect, not only in certainty, stands out.
    NaN where a model had no trial."""
    trials = np.asarray(trials, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.arcsin(np.sqrt(np.asarray(hits, dtype=np.float64) / trials))
        floor = np.maximum(RATE_FLOOR, 0.5 / np.sqrt(trials))
    e = excess(np.nan_to_num(f), np.nan_to_num(floor, nan=RATE_FLOOR, posinf=RATE_FLOOR))
    e[~np.isfinite(f)] = np.nan
    return e


def detect(z_model: np.ndarray, z_refs: np.ndarray, size: int = 3) -> dict:
    """The paper's detection score (Fig. 7): the largest |:func:`excess`| of the :func:`smoothed`
    z-maps ``z_model`` (K, C, H, W) over those of references ``z_refs`` (R, K, C, H, W), over
    the classes the model answered: ``{"score", "class", "row", "col", "sign"}``, with row and
    col the centre of the window. A model that gave all noise one class has no z-map to score:
    score 0 and class, row, col -1."""
    z_model, z_refs = np.asarray(z_model, dtype=np.float64), np.asarray(z_refs, dtype=np.float64)
    if z_refs.ndim != 5 or z_refs.shape[1:] != z_model.shape:
        raise ValueError(
            f"expected reference z-maps of shape (R, {', '.join(map(str, z_model.shape))}), got {z_refs.shape}"
        )
    e = excess(smoothed(np.concatenate([z_model[None], z_refs]), size), Z_FLOOR)[0]
    e[np.isnan(z_model).all(axis=(1, 2, 3))] = np.nan  # a class the model never answered has no map
    value, index = _largest(e, two_sided=True)
    if not index:
        return {"score": 0.0, "class": -1, "row": -1, "col": -1, "sign": 0}
    signed = float(e[index])
    return {"score": value, "class": index[0], "row": index[1], "col": index[2], "sign": 1 if signed >= 0 else -1}


def _robust_scale(e: np.ndarray, class_axis: int) -> float:
    """A model's typical |excess|: the median over classes of each class's median |excess|
    (times the normal MAD scale), so that a trigger, which changes one class, does not move it."""
    per_class = [np.abs(c[np.isfinite(c)]) for c in np.moveaxis(e, class_axis, 0)]
    medians = [np.median(c) for c in per_class if c.size]
    return float(MAD_SCALE * np.median(medians)) if medians else float("nan")


def _largest(e: np.ndarray, two_sided: bool) -> tuple[float, tuple[int, ...]]:
    """The largest (|value| with ``two_sided``) finite entry of ``e`` and its index; (NaN, ()) if none."""
    a = np.abs(e) if two_sided else e
    if not np.isfinite(a).any():
        return float("nan"), ()
    index = np.unravel_index(int(np.nanargmax(a)), a.shape)
    return float(a[index]), tuple(int(i) for i in index)


def scores(probes: Sequence[Probe], smooth: int = 3) -> dict[str, dict]:
    """The scores of every probed model (the scanned model first, then the references), each
    against all the others: {kind: {"scores" (M,), "where" (the index of each model's largest
    excess), "scale" (M,) (a model's typical excess; 1 for shares), "excess" (the scanned
    model's excess field: (K,) shares, (K, H, W) map, (S, K, H, W) local, (K, H, W)
    local_all)}}."""
    out = {"share": _kind(excess(np.stack([flip_shares(p.local) for p in probes]), SHARE_FLOOR), two_sided=False)}
    counts = np.stack([p.counts for p in probes]).astype(np.float64)
    e = excess(smoothed(np.stack([p.zmaps for p in probes]), smooth), Z_FLOOR)  # (M, K, H, W)
    total = counts.sum(1, keepdims=True)
    e[(counts == 0) | (counts == total)] = np.nan  # a class a model never (or always) gave has no map
    out["map"] = _kind(e, two_sided=True, class_axis=0)
    hits, trials = (np.stack(x) for x in zip(*(p.local.covering() for p in probes), strict=True))
    e = rate_excess(hits, trials)  # (M, S + 1, K, H, W)
    k = e.shape[2]
    e[:, np.arange(k), np.arange(k)] = np.nan  # images of class k answering k are not flips to k
    out["local"] = _kind(e[:, :-1], two_sided=False, class_axis=1)
    out["local_all"] = _kind(e[:, -1], two_sided=False, class_axis=0)
    return out


def flip_shares(local: LocalNoise) -> np.ndarray:
    """(K,) the share of all local-noise trials that a class gets from images of other classes."""
    answered = local.counts.sum((2, 3))
    return (answered.sum(0) - np.diag(answered)) / answered.sum()


def _kind(e: np.ndarray, *, two_sided: bool, class_axis: int | None = None) -> dict:
    """Each model's largest excess in ``e`` (M, ...), in units of its typical excess (at least
    1) when ``class_axis`` (of one model's field) is given."""
    normalise = class_axis is not None
    values, where, scale = [], [], []
    for ei in e:
        value, index = _largest(ei, two_sided)
        s = _robust_scale(ei, class_axis) if normalise else 1.0
        scale.append(s)
        values.append(value / max(s, 1.0) if normalise and np.isfinite(s) else value)
        where.append(index)
    return {"scores": np.array(values), "where": where, "scale": np.array(scale), "excess": e[0]}


def _p(value: float, references: np.ndarray, family: str = "gumbel") -> float:
    """p of a score (log(1 + score), NaN and negative as 0) against the references'."""
    t = lambda x: np.log1p(np.clip(np.nan_to_num(x, nan=0.0), 0, None))  # noqa: E731
    p = predictive_p(float(t(value)), t(np.asarray(references)), family)
    return 1.0 if np.isnan(p) else p


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def scan(probes: Sequence[Probe], *, alpha: float = 0.05, smooth: int = 3) -> dict:
    """The calibrated scan of ``probes[0]`` against the references ``probes[1:]`` (see the
    module docstring): ``verdict`` (clean, suspect or inconclusive) and its ``reason``,
    ``p_value`` and ``score`` = -log10(p_value), the ``target`` class, the ``location`` of
    the trigger (:func:`locate`), the ``evidence`` of each score (its value, class, p-value,
    the references' own scores) and the ``match`` of the model with its
    references. ``scores`` holds every score's arrays (:func:`scores`), for figures."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    r = len(probes) - 1
    if r < 2:
        raise ValueError(f"a scan needs at least 2 reference models, got {r}")
    every = scores(probes, smooth)
    match = matching(probes)
    evidence = {}
    for kind, weight in EVIDENCE.items():
        s, where = every[kind], every[kind]["where"][0]
        evidence[kind] = {
            "score": _finite(s["scores"][0]),
            "class": int(where[CLASS_AXIS[kind]]) if where else -1,
            "p_value": _p(s["scores"][0], s["scores"][1:]),
            "weight": weight,
            "reference_scores": [_finite(v) for v in s["scores"][1:]],
        }
        if kind != "share" and where:
            evidence[kind] |= {"row": where[-2], "col": where[-1]}
        if kind == "local" and where:
            evidence[kind]["source"] = where[0]
    scored = [k for k in EVIDENCE if evidence[k]["class"] >= 0]
    strongest = min(scored, key=lambda k: evidence[k]["p_value"] / EVIDENCE[k])
    p_value = min(1.0, evidence[strongest]["p_value"] / EVIDENCE[strongest])
    target = evidence[strongest]["class"]
    if r < MIN_REFERENCES:
        outcome = "inconclusive"
        reason = f"{r} references cannot calibrate the verdict: train at least {MIN_REFERENCES} (5 recommended)"
    elif not match["matches"]:
        outcome = "inconclusive"
        reason = (
            f"the model is unlike its references: in half its classes or more it answers clean images at least "
            f"{MISMATCH_DROP:.0%} less often correctly than every reference (median drop "
            f"{match['median_drop']:.0%}); it was trained on other data or otherwise, and they cannot say what a "
            "clean model like it looks like: train references on its data, with its recipe"
        )
    elif p_value < alpha:
        outcome, reason = "suspect", f"its {strongest} score is beyond the references' (p = {p_value:.2g} < {alpha})"
    else:
        outcome, reason = "clean", f"no score is beyond the references' at alpha {alpha} (p = {p_value:.2g})"
    return {
        "verdict": outcome,
        "reason": reason,
        "p_value": p_value,
        "alpha": alpha,
        "score": float(-np.log10(p_value)),
        "target": target,
        "location": (location := locate(probes, every, target)) | {"significant": location["p_value"] < alpha},
        "evidence": evidence,
        "match": match,
        "references": r,
        "smooth": smooth,
        "scores": every,
    }


def matching(probes: Sequence[Probe]) -> dict:
    """Whether ``probes[0]`` is like its references ``probes[1:]``: its accuracy on each class
    of clean images against the lowest reference's. A trigger changes one source class or one
    target, and a backdoor keeps its clean accuracy (that is what makes it one); a model
    trained on other data answers many classes worse. ``matches`` unless the median over
    classes of the drop below the worst reference exceeds :data:`MISMATCH_DROP`."""
    clean = np.stack([p.local.clean for p in probes])  # (M, S, K)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.diagonal(clean, axis1=1, axis2=2) / clean.sum(2)  # (M, S)
    drop = np.nanmin(accuracy[1:], axis=0) - accuracy[0]
    median = float(np.nanmedian(drop))
    return {
        "matches": not median > MISMATCH_DROP,
        "median_drop": median,
        "accuracy": _finite_list(accuracy[0]),
        "reference_accuracy_min": _finite_list(np.nanmin(accuracy[1:], axis=0)),
    }


def _finite_list(values: np.ndarray) -> list[float | None]:
    return [_finite(v) for v in values]


def locate(probes: Sequence[Probe], every: dict, target: int) -> dict:
    """Where local noise drives ``probes[0]`` to class ``target`` beyond the references.

    The row (images of one class, or of all the others) of the target's largest local-noise
    excess in ``every`` (:func:`scores`), of the local score (``kind``) in which that excess is
    most significant against the references' scores (its ``p_value``, a family-wise test over
    every map of the kind); the window positions of that row whose rate of the target answer
    exceeds the references' by more than half the largest such excess, weighted by how much
    more; the ``box`` (top, left, bottom, right; exclusive) around the pixels that windows
    carrying at least :data:`COVER` of that weight cover (every window that sets a trigger
    off covers it). ``windows``: how many windows carry weight."""
    candidates = []
    for kind, field in (
        ("local", every["local"]["excess"][:, target]),
        ("local_all", every["local_all"]["excess"][target][None]),
    ):
        peak, index = _largest(field, two_sided=False)
        if index:
            value = peak / max(every[kind]["scale"][0], 1.0)
            p = _p(value, every[kind]["scores"][1:])
            source = index[0] if kind == "local" else len(every["local"]["excess"])
            candidates.append((p / EVIDENCE[kind], kind, p, value, source, index[1:]))
    if not candidates:
        return {"box": None, "p_value": 1.0, "excess": None, "source": -1, "kind": None}
    _, kind, p, value, source, (row, col) = min(candidates)
    size = probes[0].local.size
    rate, trials = (np.stack(a) for a in zip(*(p_.local.position_rates() for p_ in probes), strict=True))
    trials = trials[:, source, target]
    e = np.nan_to_num(rate_excess(np.nan_to_num(rate[:, source, target] * trials), trials)[0])
    weight = np.clip(e - e.max() / 2, 0, None) if e.max() > 0 else (e == e.max()).astype(float)
    cover = box_sum(weight, size) / weight.sum()  # the share of the weight of the windows covering each pixel
    rows, cols = np.nonzero(cover >= COVER * cover.max())
    top, left, bottom, right = rows.min(), cols.min(), rows.max() + 1, cols.max() + 1
    return {
        "box": [int(top), int(left), int(bottom), int(right)],
        "p_value": p,
        "kind": kind,
        "excess": _finite(value),
        "source": int(source),
        "row": row,
        "col": col,
        "windows": int((weight > 0).sum()),
    }


def clearest_pattern(what: np.ndarray, box: Sequence[int]) -> int:
    """The source row of *what* maps ``what`` (S + 1, C, H, W) of one answer whose content in
    ``box`` is clearest (largest sum of squared z): the pattern to paste."""
    top, left, bottom, right = box
    inside = np.nan_to_num(what[..., top:bottom, left:right]) ** 2
    return int(np.argmax(inside.reshape(len(what), -1).sum(1)))


def _scaled(region: np.ndarray) -> np.ndarray:
    """A map region at the image's range: its smallest value 0, its largest 1 (grey if flat)."""
    lo, hi = np.nanmin(region, initial=np.inf), np.nanmax(region, initial=-np.inf)
    return np.full(region.shape, 0.5) if not hi > lo else np.nan_to_num((region - lo) / (hi - lo), nan=0.5)


def causal_check(
    model: nn.Module,
    references: Sequence[nn.Module],
    images: np.ndarray,
    labels: np.ndarray,
    target: int,
    box: Sequence[int],
    what: np.ndarray,
    *,
    per_class: int = 100,
    controls: int = 8,
    seed: int = 0,
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
) -> dict:
    """Paste the found region onto clean images of every class but ``target`` (at most
    ``per_class`` each) and count how often the model, and each reference, answers ``target``.

    Two contents are pasted: the ``pattern`` (the *what* map ``what`` (C, H, W) in ``box``,
    scaled to the image's range) and binary ``noise`` (the stimulus that found the box; it sets
    off triggers that no single pattern describes, such as a checkerboard and its inverse).
    Each gives the share answered ``target`` for the model in the ``box`` (and ``per_class``),
    in ``controls`` boxes of the same size ``elsewhere`` (pasted with the map's content there,
    or fresh noise), and for each reference in the box. ``clean``: the model's share with
    nothing pasted."""
    labels = np.asarray(labels)
    picked = np.concatenate([np.flatnonzero(labels == k)[:per_class] for k in np.unique(labels) if k != target])
    if len(picked) == 0:
        raise ValueError(f"no clean images of classes other than {target} to paste onto")
    x = datasets.to_tensor(images[picked]).to(device)
    y = labels[picked]
    top, left, bottom, right = box
    h, w = bottom - top, right - left
    height, width = x.shape[-2:]

    def paste(content: np.ndarray | torch.Tensor, at: tuple[int, int]) -> torch.Tensor:
        out = x.clone()
        out[:, :, at[0] : at[0] + h, at[1] : at[1] + w] = torch.as_tensor(content, dtype=x.dtype, device=device)
        return out

    def hits(net: nn.Module, stimuli: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return (predict_labels(forward(net.eval(), stimuli, batch_size)) == target).cpu().numpy()

    spots = [
        (i, j)
        for i in range(height - h + 1)
        for j in range(width - w + 1)
        if i + h <= top or i >= bottom or j + w <= left or j >= right
    ]
    rng = np.random.default_rng(seed)
    chosen = [spots[i] for i in rng.choice(len(spots), min(controls, len(spots)), replace=False)] if spots else []
    bits = ChunkRNG(seed, 0, torch.device("cpu")).uint8((1 + len(chosen), len(picked), x.shape[1], h, w))
    bits = bits.bitwise_and_(1).float()
    contents = {
        "pattern": [_scaled(what[:, i : i + h, j : j + w]) for i, j in [(top, left), *chosen]],
        "noise": list(bits),
    }
    out = {}
    for kind, (found, *others) in contents.items():
        stimuli = paste(found, (top, left))
        model_hits = hits(model, stimuli)
        out[kind] = {
            "box": float(model_hits.mean()),
            "per_class": {int(k): float(model_hits[y == k].mean()) for k in np.unique(y)},
            "elsewhere": [float(hits(model, paste(c, at)).mean()) for c, at in zip(others, chosen, strict=True)],
            "references": [float(hits(ref, stimuli).mean()) for ref in references],
        }
    return out | {
        "clean": float(hits(model, x).mean()),
        "elsewhere_boxes": [[int(i), int(j), int(i + h), int(j + w)] for i, j in chosen],
        "images": len(picked),
    }


def auroc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """Area under the ROC curve of scores ``positive`` against ``negative`` (Mann-Whitney,
    ties count 1/2): the chance a positive scores above a negative; NaN if either is empty."""
    pos, neg = np.asarray(positive, dtype=np.float64), np.asarray(negative, dtype=np.float64)
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    diff = pos.reshape(-1, 1) - neg.reshape(1, -1)
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


def population(models: Sequence[dict], roles: Sequence[str]) -> dict:
    """Over scanned ``models`` (each with ``role``, ``verdict``, ``score`` and the paper's
    ``paper.score``): the AUROC of both scores (poisoned against clean), and per role how many
    were suspect, inconclusive, and scanned."""
    out: dict[str, Any] = {}
    for key, value in (("auroc", lambda m: m["score"]), ("paper_auroc", lambda m: m["paper"]["score"])):
        scores = {role: [value(m) for m in models if m["role"] == role] for role in roles}
        out[key] = auroc(scores["poisoned"], scores["clean"])
    for verdict in ("suspect", "inconclusive"):
        out[f"{verdict}s"] = {role: sum(m["verdict"] == verdict for m in models if m["role"] == role) for role in roles}
    out["counts"] = {role: sum(m["role"] == role for m in models) for role in roles}
    return out


def examine(
    model: nn.Module,
    references: Sequence[nn.Module],
    probes: Sequence[Probe],
    images: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    *,
    alpha: float = 0.05,
    smooth: int = 3,
    per_class: int = 100,
    seed: int = 0,
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
) -> tuple[dict, dict[str, np.ndarray]]:
    """A whole scan of ``model`` (``probes[0]``) against ``references`` (``probes[1:]``):
    :func:`scan`, then the :func:`causal_check` of its location on the clean ``images``.

    Returns the JSON-ready result (class names added, ``causal``, and ``answers``: the share
    of white noise each model gives each class) and the arrays a figure needs: the model's
    z-maps, and at the location its *where* excess (H, W) and *what* map (C, H, W)."""
    result = scan(probes, alpha=alpha, smooth=smooth)
    every = result.pop("scores")
    target, loc = result["target"], result["location"]
    k = len(classes)
    counts = np.stack([p.counts for p in probes]).astype(np.float64)
    shares = counts / counts.sum(1, keepdims=True)
    arrays = {"zmaps": probes[0].zmaps, "reference_zmaps": np.stack([p.zmaps for p in probes[1:]])}
    result |= {
        "target_class": classes[target],
        "classes": list(classes),
        "causal": None,
        "answers": {"model": shares[0].tolist(), "references": shares[1:].tolist()},
    }
    if loc["box"] is not None:
        source = loc["source"]
        loc["source_class"] = "every other class" if source == k else classes[source]
        what = probes[0].local.what()[:, target]
        row = clearest_pattern(what, loc["box"])
        loc["pattern_source"] = row
        what = what[row]
        where = every["local"]["excess"][source, target] if source < k else every["local_all"]["excess"][target]
        arrays |= {"where": where, "what": what}
        result["causal"] = causal_check(
            model,
            references,
            images,
            labels,
            target,
            loc["box"],
            what,
            per_class=per_class,
            seed=seed,
            batch_size=batch_size,
            device=device,
        )
    return result, arrays
