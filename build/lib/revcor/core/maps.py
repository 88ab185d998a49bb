"""Classification images from sufficient statistics.

For plain noise experiments (groups = response classes): the paper's bias maps (mean
noise per predicted class), mean-subtracted maps, confidence-weighted and thresholded maps
(the paper's footnote 5), z-maps of each class against the rest, Eq. 2 correlation maps
of each logit with the noise, and the split-half reliability of each class map. For
signal+noise experiments of a binary classifier, per
gamma: Eq. 1 classification images, the response-only image ``c_corr``, the Eq. 2
correlation map and the mean stimulus of each (signal, response) cell (Fig. 1B).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from revcor.base import store
from revcor.core.significance import EQ1_SIGNS, RESPONSE_SIGNS, NullTest, contrast_weights
from revcor.core.stats import Stats
from revcor.core.whitening import whiten


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b broadcasting b over trailing axes; NaN where b == 0."""
    b = b.reshape(b.shape + (1,) * (a.ndim - b.ndim))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def class_maps(stats: Stats, n: int | None = None) -> dict[str, np.ndarray]:
    """Maps of a plain noise experiment at ``n`` samples (default: all), shaped (K, C, H, W)."""
    s = stats.select(n or stats.checkpoints[-1])
    shape = stats.image_shape
    count, total = s["count"][0, 0], s["count"].sum()
    sums, sq = s["sum"][0, 0], s["sumsq"][0, 0]
    mean_all = sums.sum(0) / total
    maps = _div(sums, count)
    rest_n = total - count
    rest_mean = _div(sums.sum(0) - sums, rest_n)
    var_all = sq.sum(0) / total - mean_all**2
    # z of each class mean against the other classes', with the pooled (null) pixel variance,
    # which stays valid for classes with a handful of samples
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(np.clip(var_all, 0, None) * (1 / count[:, None] + 1 / rest_n[:, None]))
        z = np.where((count > 0)[:, None] & (rest_n > 0)[:, None], (maps - rest_mean) / se, np.nan)
    lmean = s["lsum"] / total
    lstd = np.sqrt(np.clip(s["lsumsq"] / total - lmean**2, 0, None))
    cov = s["xsum"] / total - lmean[:, None] * mean_all[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / (lstd[:, None] * np.sqrt(np.clip(var_all, 0, None))[None, :])
    # split-half reliability: the centred maps of the even and of the odd trials (each half
    # an experiment of its own), correlated, with the Spearman-Brown step-up to all samples
    even, even_n = s["hsum"][0, 0], s["hcount"][0, 0]
    odd, odd_n = sums - even, count - even_n
    r = similarity(
        _div(even, even_n) - _div(even.sum(0), even_n.sum()), _div(odd, odd_n) - _div(odd.sum(0), odd_n.sum())
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        reliability = 2 * r / (1 + r)
    out = {
        "counts": count.astype(np.int64),
        "reliability": reliability,
        "maps": maps,
        "maps_centered": maps - mean_all,
        "zmaps": z,
        "weighted_maps": _div(s["wsum"][0, 0], s["wcount"][0, 0]),
        "thresholded_maps": _div(s["tsum"][0, 0], s["tcount"][0, 0]),
        "thresholded_counts": s["tcount"][0, 0].astype(np.int64),
        "mean": mean_all,
        "noise_sd": np.sqrt(np.clip(var_all, 0, None)),
        "corr_maps": corr,
    }
    return {
        k: (v.reshape(v.shape[:-1] + shape) if v.ndim and v.shape[-1] == int(np.prod(shape)) else v)
        for k, v in out.items()
    }


def meets_target(m: dict[str, np.ndarray], target: dict) -> bool:
    """Whether the class maps ``m`` (of :func:`class_maps`) have converged for ``n: auto``:
    some class has at least ``target["min_count"]`` samples, and every such class a split-half
    reliability of at least ``target["reliability"]``."""
    judged = m["counts"] >= target["min_count"]
    return bool(judged.any()) and bool((m["reliability"][judged] >= target["reliability"]).all())


def contrast_cells(counts: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The cells of each contrast map of a signal+noise experiment with ``counts`` (G, 2, 2):
    {"eq1": (trials per (signal, response) cell (G, 4), their signs), "ccorr": (trials per
    response (G, 2), their signs)}."""
    return {"eq1": (counts.reshape(len(counts), 4), EQ1_SIGNS), "ccorr": (counts.sum(1), RESPONSE_SIGNS)}


def binary_maps(stats: Stats, n: int | None = None) -> dict[str, np.ndarray]:
    """Per-gamma maps of a binary signal+noise experiment; class a is index 0, b index 1.

    ``eq1[g]`` = (n^aa + n^ba) - (n^ab + n^bb) (Eq. 1, oriented towards response a as in
    Fig. 1), ``ccorr[g]`` = n^*a - n^*b, ``corr[g]`` the Eq. 2 correlation of each pixel of the
    noise with the response being a, ``stimulus_means[g, s, r]`` the mean stimulus of each cell;
    ``zmaps_eq1`` and ``zmaps_ccorr`` are ``eq1`` and ``ccorr`` over their standard errors
    when the response ignores the noise (noise SD of the gamma's trials times sqrt(sum 1/n) over
    the cells).
    """
    s = stats.select(n or stats.checkpoints[-1])
    shape = stats.image_shape
    g_, s_, r_ = stats.layout.shape
    if (s_, r_) != (2, 2):
        raise ValueError("binary maps need a two-class signal+noise experiment")
    count = s["count"].reshape(g_, 2, 2)
    d = s["sum"].shape[-1]
    sums = s["sum"].reshape(g_, 2, 2, d)
    cell = _div(sums, count)  # mean noise n^{sr}
    eq1 = (cell[:, 0, 0] + cell[:, 1, 0]) - (cell[:, 0, 1] + cell[:, 1, 1])
    by_resp = _div(sums.sum(1), count.sum(1))  # (g, r, d)
    ccorr = by_resp[:, 0] - by_resp[:, 1]
    total = count.sum(axis=(1, 2))[:, None]
    mean = sums.sum(axis=(1, 2)) / total
    var = s["sumsq"].reshape(g_, 2, 2, d).sum(axis=(1, 2)) / total - mean**2
    p_a = count[:, :, 0].sum(1)[:, None] / total
    cov = sums[:, :, 0].sum(1) / total - mean * p_a
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.sqrt(np.clip(var, 0, None) * p_a * (1 - p_a))
    stim = _div(s["ssum"].reshape(g_, 2, 2, d), count)
    stim_diff = _div(s["ssum"].reshape(g_, 2, 2, d).sum(1), count.sum(1))
    sd = np.sqrt(np.clip(var, 0, None))
    zmaps = {}  # each map over its standard error under "the response ignores the noise"
    for key, (cells, signs) in contrast_cells(count).items():
        contrast = {"eq1": eq1, "ccorr": ccorr}[key]
        se = sd * contrast_weights(cells, signs)[1][:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            zmaps[f"zmaps_{key}"] = np.where(se > 0, contrast / np.where(se > 0, se, 1), np.nan)
    out = {
        "eq1": eq1,
        "ccorr": ccorr,
        **zmaps,
        "corr": corr,
        "stimulus_means": stim,
        "stimulus_diff": stim_diff[:, 0] - stim_diff[:, 1],
        "counts": count.astype(np.int64),
    }
    return {k: (v.reshape(v.shape[:-1] + shape) if v.shape[-1] == d else v) for k, v in out.items()}


def correlation_with_last(maps: np.ndarray) -> np.ndarray:
    """Pearson correlation over pixels of each map of ``maps`` (checkpoints, K, ...) with the
    same class's map at the last checkpoint: (checkpoints, K); NaN where either map is empty
    or constant."""
    x = np.asarray(maps, dtype=np.float64).reshape(*np.shape(maps)[:2], -1)
    x = x - x.mean(-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (x * x[-1]).sum(-1) / (norm * norm[-1])
    r[~np.isfinite(r)] = np.nan
    return r


def convergence(maps: np.ndarray) -> np.ndarray:
    """Mean over classes of :func:`correlation_with_last`: (checkpoints,). Classes without a
    map at n or at the last n are left out at n; NaN where no class has both."""
    corr = correlation_with_last(maps)
    ok = np.isfinite(corr)
    count = ok.sum(1)
    return np.divide(np.where(ok, corr, 0.0).sum(1), count, out=np.full(len(corr), np.nan), where=count > 0)


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b`` over all its
    remaining axes (K,): a class's noise and real-data mean activations, or an STA filter and
    its trained kernel. NaN for an empty (NaN) or constant row."""
    x, y = (np.asarray(m, dtype=np.float64) for m in (a, b))
    if x.shape != y.shape:
        raise ValueError(f"shapes {x.shape} and {y.shape} differ")
    x, y = (m.reshape(len(m), -1) for m in (x, y))
    x, y = x - x.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x * y).sum(1) / np.sqrt((x * x).sum(1) * (y * y).sum(1))


def write(
    stats: Stats | str | Path,
    out: str | Path,
    *,
    feedback: Callable[[np.ndarray], list[int | None]] | None = None,
    attrs: dict | None = None,
    tests: NullTest | None = None,
) -> None:
    """Write the classification images at every checkpoint; the top level holds those of all
    samples.

    With ``feedback`` (bias maps -> the model's label for each, fed back as an image; see
    :func:`revcor.models.classify.feed_back`), also those labels. With ``tests`` (plain noise
    experiments), the significant pixels of the z-maps (``significant``, family-wise error
    control over every pixel of every map) and each map's ``infoval``, with the method and
    thresholds in the ``significance`` attribute of each group.
    """
    if not isinstance(stats, Stats):
        stats = Stats.load(stats)
    binary = stats.layout.signals is not None
    compute = binary_maps if binary else class_maps
    final = compute(stats)
    meta = {
        **stats.attrs,
        **(attrs or {}),
        "kind": "maps",
        "classes": stats.layout.responses,
        "checkpoints": stats.checkpoints,
        "n": stats.checkpoints[-1],
        "signal": binary,
        "gammas": stats.layout.gammas,
    }
    with store.create(out, meta) as f:
        _write_group(f, final, tests)
        for n in stats.checkpoints:
            _write_group(f.create_group(f"checkpoints/{n}"), compute(stats, n), tests)
        if feedback is not None and not binary:
            fb = feedback(final["maps"])
            f.create_dataset("feedback", data=np.array([-1 if p is None else p for p in fb]))


def whitened_maps(centred: np.ndarray, covariance: np.ndarray, ridge: float) -> np.ndarray:
    """Centred class maps (K, C, H, W) with the noise's pixel correlations divided out: what
    the model weighs in each pixel rather than what the noise's own structure smears in (the
    counterpart of the whitened STA, Eq. 5). NaN for classes without a map."""
    flat = centred.reshape(len(centred), -1)
    out = np.full(flat.shape, np.nan)
    ok = np.isfinite(flat).all(1)
    if ok.any():
        out[ok] = whiten(covariance, np.ascontiguousarray(flat[ok]), ridge)
    return out.reshape(centred.shape)


def _write_group(group: h5py.Group, arrays: dict[str, np.ndarray], tests: NullTest | None) -> None:
    """Maps, and with ``tests`` their significance and InfoVal (and whitened maps when the
    null maps have the noise covariance), into ``group``."""
    store.write_arrays(group, arrays)
    if tests is not None and "zmaps_eq1" in arrays:  # signal+noise: Eq. 1 and c_corr maps, one family each
        tested = {}
        for key, (counts, signs) in contrast_cells(arrays["counts"]).items():
            result = tests.assess_contrasts(arrays[f"zmaps_{key}"], counts, signs)
            store.write_arrays(group, {f"significant_{key}": result.significant, f"infoval_{key}": result.infoval})
            tested[key] = result.attrs
        store.set_attrs(group, {"significance": tested})
    if tests is not None and "zmaps" in arrays:
        result = tests.assess(arrays["zmaps"], arrays["counts"])
        store.write_arrays(group, {"significant": result.significant, "infoval": result.infoval})
        store.set_attrs(group, {"significance": result.attrs})
        if tests.bank.covariance is not None:
            white = whitened_maps(arrays["maps_centered"], tests.bank.covariance, tests.whiten_ridge)
            store.write_arrays(group, {"whitened_maps": white})
            store.set_attrs(group, {"whiten_ridge": tests.whiten_ridge})
