"""Unit figures: STAs of units and layers (Fig. 8), STC, layer activations (Fig. 20) and
injection (Fig. 21)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure, FigureBase  # noqa: E402

from revcor.core.maps import similarity
from revcor.report.plots.panels import bare, blank, draw_map, fmt_n, subplot_grid


def _activation_image(m: np.ndarray) -> tuple[np.ndarray, str]:
    """One class's mean activation of a layer as a 2-D image, and how it was made: a conv
    output (M, H, W) -> its mean over the M channels; (H, W) as is; anything else -> its
    units row by row in a near-square, padded with NaN."""
    m = np.asarray(m, dtype=np.float64)
    if m.ndim == 3:
        return m.mean(0), f"mean of {m.shape[0]} channels\n{m.shape[1]}×{m.shape[2]}"
    if m.ndim == 2:
        return m, f"{m.shape[0]}×{m.shape[1]}"
    d = m.size
    w = int(np.ceil(np.sqrt(d)))
    h = -(-d // w)
    img = np.full(h * w, np.nan)
    img[:d] = m.ravel()
    return img.reshape(h, w), f"{d} units\nrow by row, {h}×{w}"


def _activation_column(
    parent: FigureBase, axes: Sequence[Axes], head: str, means: np.ndarray, r: np.ndarray | None
) -> None:
    """One layer's class means down a column of axes, on one viridis scale with a colour bar
    below; ``r`` (K,): a correlation shown above each map."""
    imgs, how = zip(*(_activation_image(m) for m in np.asarray(means, dtype=np.float64)), strict=False)
    values = np.concatenate([img[np.isfinite(img)] for img in imgs])
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1
    for k, (ax, img) in enumerate(zip(axes, imgs, strict=False)):
        note = "" if r is None or not np.isfinite(r[k]) else f"r = {r[k]:.2f}"
        bare(ax, "\n".join(s for s in (f"{head}\n{how[0]}" if k == 0 else "", note) if s))
        if np.isfinite(img).any():
            ax.imshow(img, cmap="viridis", vmin=lo, vmax=hi)
        else:
            blank(ax, img.shape)
    cb = parent.colorbar(
        ScalarMappable(Normalize(lo, hi), "viridis"),
        ax=list(axes),
        location="bottom",
        fraction=0.02,
        pad=0.01,
        aspect=12,
        ticks=[lo, hi],
    )
    cb.ax.set_xticklabels([f"{lo:.2g}", f"{hi:.2g}"], fontsize=6)


def activations(
    noise: Mapping[str, np.ndarray],
    data: Mapping[str, np.ndarray],
    distances: Mapping[str, Mapping[str, float]],
    classes: Sequence[str],
    *,
    title: str = "",
) -> Figure:
    """Mean layer activations per class for noise and for real data, and how far apart the
    classes are in each layer (paper Fig. 20).

    ``noise`` and ``data`` map the same layers to class means (K, *layer shape), NaN rows
    for classes without samples (e.g. ``class_means(...)["means"]`` of
    :mod:`revcor.analyses.activations`: noise by the model's label, test images by the true label).
    Rows: classes; columns: layers, noise on the left, real data on the right. A conv output
    (M, H', W') is drawn as its mean over the channels, a vector as its units row by row in
    a near-square; every column has its own colour scale. Above each real-data map, r: its
    Pearson correlation with the noise mean of the same class and layer (over all units).
    Bottom: ``distances`` (series, e.g. "noise" and "real data" -> layer -> mean distance
    between the class means, :func:`revcor.analyses.activations.class_distances`) by layer.
    """
    layers = list(noise)
    if set(data) != set(layers):
        raise ValueError(f"noise has layers {layers} but data has {list(data)}")
    k, n = len(classes), len(layers)
    fig = plt.figure(figsize=(2 * 1.3 * n + 1.9, 1.1 * k + 6.4), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.1 * k + 2.4, 4.0])
    axes = top.subplots(k, 2 * n + 1, squeeze=False, gridspec_kw={"width_ratios": [1] * n + [0.15] + [1] * n})
    for ax in axes[:, n]:
        ax.set_axis_off()  # gap between the blocks
    for c, layer in enumerate(layers):
        _activation_column(top, axes[:, c], f"noise: {layer}", noise[layer], None)
        _activation_column(
            top, axes[:, n + 1 + c], f"real data: {layer}", data[layer], similarity(noise[layer], data[layer])
        )
    for ax, name in zip(axes[:, 0], classes, strict=False):
        ax.set_ylabel(name, fontsize=8)
    top.suptitle(
        "Left: noise, class = the model's label. Right: real data, class = the true label; "
        "r: correlation with the noise map of the class",
        fontsize=9,
    )
    ax = bottom.subplots()
    order = list(dict.fromkeys([*layers, *(layer for d in distances.values() for layer in d)]))
    x = np.arange(len(order))
    for name, d in distances.items():
        ax.plot(x, [d.get(layer, np.nan) for layer in order], marker="o", label=name)
    ax.set_xticks(x, order)
    ax.set(
        xlabel="layer",
        ylabel="RMS difference per unit",
        ylim=(0, None),
        title="Mean L2 distance between the class means of a layer / √(number of units)",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(
        f"{title or 'Mean layer activation per class'}\n"
        "colour: one scale per column (viridis, min to max over the classes)",
        fontsize=11,
    )
    return fig


def injection(
    rates: Mapping[str, np.ndarray], gammas: Sequence[float], classes: Sequence[str], *, title: str = ""
) -> Figure:
    """Misclassification ratio vs gamma when the mean noise activation of a class is injected
    into real images at a layer (paper Fig. 21).

    ``rates`` maps layers (e.g. conv6, conv4, conv2, input) to (G, K) ratios from
    :func:`revcor.analyses.activations.injection_rates`: one panel per layer, one line per target
    class (classes without noise, NaN columns, are listed in the panel); one legend.
    """
    layers = list(rates)
    ncols = min(4, len(layers))
    nrows = -(-len(layers) // ncols)
    fig = plt.figure(figsize=(3.7 * ncols + 1.5, 3.4 * nrows + 1.0), layout="constrained")
    axes = subplot_grid(fig, nrows, ncols)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    g = np.asarray(gammas, dtype=np.float64)
    for ax, layer in zip(axes.ravel(), layers, strict=False):
        r = np.asarray(rates[layer], dtype=np.float64)
        for j, name in enumerate(classes):
            ax.plot(g, r[:, j], marker="o", ms=3, lw=1.2, color=cmap(j % cmap.N), label=name)
        missing = [name for j, name in enumerate(classes) if not np.isfinite(r[:, j]).any()]
        if missing:
            ax.text(
                0.98,
                0.98,
                "no noise labelled\n" + ", ".join(missing),
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=7,
                color="0.35",
            )
        ax.set(
            title=layer,
            xlabel="γ (0: noise activation, 1: real image)",
            ylim=(-0.03, 1.03),
            xlim=(g.min() - 0.02, g.max() + 0.02),
        )
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("misclassification ratio")
    for ax in axes.ravel()[len(layers) :]:
        ax.set_axis_off()
    fig.legend(handles=axes[0, 0].get_lines(), loc="outside right upper", title="target class", fontsize=8)
    fig.suptitle(
        f"{title or 'Injecting the mean noise activation of a class into real images'}\n"
        "(1 − γ) · mean activation of the noise labelled as the target + γ · activation of the image; "
        "ratio: images of other classes labelled as the target",
        fontsize=10,
    )
    return fig


def _filter_grid(parent: FigureBase, filters: np.ndarray, titles: Sequence[str], ncols: int) -> None:
    """Filters (K, C, h, w) in a grid, each on its own scale (see the module docstring)."""
    k = len(filters)
    axes = subplot_grid(parent, -(-k // ncols), ncols).ravel()
    for ax, f, t in zip(axes, filters, titles, strict=False):
        draw_map(ax, f, t, colorbar=False)
    for ax in axes[k:]:
        ax.set_axis_off()


def sta(layers: Mapping[str, Mapping[str, Any]], *, title: str = "", max_filters: int = 20) -> Figure:
    """Filters of conv units from spike-triggered averaging of noise (paper Fig. 8), beside
    the trained kernels (Fig. 22) with their correlation.

    ``layers[name]`` has ``sta`` (M, C, h, w) and optionally ``kernel`` (drawn only when it
    has the STA's shape, i.e. when the RF is the kernel, as for a first conv layer), ``rf``
    (an object with ``height``, ``width``, ``stride_y``) and ``count`` (noise samples). The
    first ``max_filters`` units of each layer are drawn, one channel on a diverging colour
    map on its own scale, RGB min-max normalised per filter.
    """
    rows = []
    for name, entry in layers.items():
        sta = np.asarray(entry["sta"], dtype=np.float64)
        kernel = entry.get("kernel")
        kernel = None if kernel is None or np.shape(kernel) != sta.shape else np.asarray(kernel, np.float64)
        rows.append((name, sta, kernel, entry))
    heights = [-(-min(len(sta), max_filters) // (5 if kernel is not None else 10)) for _, sta, kernel, _ in rows]
    fig = plt.figure(figsize=(13, sum(1.25 * h + 0.8 for h in heights) + 0.6), layout="constrained")
    subs = np.atleast_1d(fig.subfigures(len(rows), 1, height_ratios=[1.25 * h + 0.8 for h in heights]))
    for sub, (name, sta, kernel, entry) in zip(subs, rows, strict=False):
        k = min(len(sta), max_filters)
        rf, count = entry.get("rf"), entry.get("count")
        head = f"{name}: STA of {len(sta)} units" + (f" (first {k} shown)" if k < len(sta) else "")
        if rf is not None:
            head += f", RF {rf.height}×{rf.width}, stride {rf.stride_y}"
        if count is not None:
            head += f", n={fmt_n(count)}"
        ids = [f"#{i}" for i in range(k)]
        if kernel is None:
            _filter_grid(sub, sta[:k], ids, 10)
            sub.suptitle(head, fontsize=10)
            continue
        corr = similarity(sta, kernel)
        left, right = sub.subfigures(1, 2)
        _filter_grid(left, sta[:k], ids, 5)
        _filter_grid(right, kernel[:k], [f"#{i} r={c:.2f}" for i, c in zip(range(k), corr, strict=False)], 5)
        left.suptitle("STA from noise (Fig. 8)", fontsize=9)
        right.suptitle("trained kernels (Fig. 22), r: correlation with the STA", fontsize=9)
        sub.suptitle(
            f"{head}; STA vs kernel correlation: median {np.nanmedian(corr):.3f}, "
            f"min {np.nanmin(corr):.3f} (all {len(sta)} units)",
            fontsize=10,
        )
    fig.suptitle(
        f"{title or 'Filters of single units from spike-triggered averaging of white noise'}\n"
        "colour: each filter on its own scale (one channel: red positive, blue negative; "
        "RGB: min-max per filter)",
        fontsize=10,
    )
    return fig


def stc(
    units: Sequence[tuple[str, Mapping[str, Any], tuple[int, int, int]]], *, title: str = "", max_vectors: int = 4
) -> Figure:
    """Spike-triggered covariance (Eq. 4) of each of ``units``, one row per unit: the
    eigenvalue spectrum of the STC matrix minus the prior stimulus covariance with the
    permutation-null band, and as images (``shape`` (C, h, w)) the STA and the eigenvectors
    of the significant excitatory (above the band) and suppressive (below) eigenvalues, at
    most ``max_vectors`` each.

    Each unit is (label, result, shape) with ``result`` from :meth:`revcor.analyses.units.STC.result`:
    ``eigenvalues`` (D,) descending, ``eigenvectors`` (D, D) row k for eigenvalue k,
    ``null_bounds`` (lower, upper), ``excitatory``, ``suppressive`` (indices), ``sta`` (D,),
    ``n`` and ``n_sp``.
    """
    ncols = 1 + max_vectors
    fig = plt.figure(figsize=(4.2 + 1.7 * ncols, 4.6 * len(units) + 0.5), layout="constrained")
    rows = np.atleast_1d(fig.subfigures(len(units), 1))
    for sub, (label, result, shape) in zip(rows, units, strict=False):
        _stc_row(sub, label, result, shape, max_vectors)
    fig.suptitle(title or "Spike-triggered covariance", fontsize=11)
    return fig


def _stc_row(
    parent: FigureBase, label: str, result: Mapping[str, Any], shape: tuple[int, int, int], max_vectors: int
) -> None:
    """One unit's STC: spectrum with the null band, STA and significant eigenvectors."""
    vals = np.asarray(result["eigenvalues"], dtype=np.float64)
    vecs = np.asarray(result["eigenvectors"], dtype=np.float64)
    lower, upper = result["null_bounds"]
    exc, sup = list(result["excitatory"]), list(result["suppressive"])
    ncols = 1 + max_vectors
    left, right = parent.subfigures(1, 2, width_ratios=[4.2, 1.7 * ncols])
    ax = left.subplots()
    rank = np.arange(1, len(vals) + 1)
    ax.axhspan(lower, upper, color="0.85", label="null (shuffled responses),\nfull range")
    plain = np.setdiff1d(np.arange(len(vals)), exc + sup)
    ax.plot(rank[plain], vals[plain], "o", ms=3, color="0.4", label="not significant")
    if exc:
        ax.plot(rank[exc], vals[exc], "o", ms=5, color="tab:red", label=f"excitatory ({len(exc)})")
    if sup:
        ax.plot(rank[sup], vals[sup], "o", ms=5, color="tab:blue", label=f"suppressive ({len(sup)})")
    ax.axhline(0, color="k", lw=0.6)
    ax.set(
        xlabel="rank",
        ylabel="eigenvalue of STC − prior covariance",
        title="Eigenvalue spectrum",
        xlim=(0, len(vals) + 1),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    axes = subplot_grid(right, 2, ncols)
    draw_map(axes[0, 0], np.reshape(result["sta"], shape), "STA", colorbar=False)
    axes[1, 0].set_axis_off()
    for row, (kind, idx) in enumerate((("excitatory", exc), ("suppressive", sup))):
        panels = axes[row, 1:]
        for ax_, i in zip(panels, idx[:max_vectors], strict=False):
            draw_map(ax_, vecs[i].reshape(shape), f"{kind} λ{i + 1}\n= {vals[i]:.3g}", colorbar=False)
        for ax_ in panels[len(idx[:max_vectors]) :]:
            ax_.set_axis_off()
        if not idx:
            panels[0].set_axis_on()
            bare(panels[0])
            blank(panels[0], shape[1:], f"no {kind}\neigenvalue")
    parent.suptitle(
        f"{label} (n={fmt_n(result['n'])}, n_sp={float(result['n_sp']):,.0f}); "
        "STA and eigenvectors of the significant eigenvalues, own scale each",
        fontsize=9,
    )
