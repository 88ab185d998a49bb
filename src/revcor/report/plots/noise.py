"""Noise figures: sample complexity (Fig. 5), the generators' samples (Fig. 15) and the
comparison of noise types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from revcor.report.plots.panels import (
    MAP_NOTE,
    as_floats,
    draw_confusion,
    draw_gray,
    draw_map,
    fmt_n,
    map_titles,
    pct_list,
    range_note,
    subplot_grid,
)


def gabor_noise(panels: Sequence[Mapping[str, Any]]) -> Figure:
    """Classification images from Gabor-PCA noise, one block (row) per dataset (paper Fig. 5).

    Each panel has ``label``, ``maps`` (a map set; RGB when C=3), ``samples`` (S, C, H, W)
    noise images in [0, 1] (the first 8 are shown), ``example`` and ``reconstruction``
    (C, H, W) a training image and its Gabor-wavelet reconstruction (clipped to [0, 1] for
    display), ``confusion`` (K, K) and ``accuracy`` of the bias-map template classifier on
    the test set (None: no usable template), ``explained`` (per channel fraction of variance
    kept by the PCA), ``components`` and ``wavelets``.
    """
    n_show = 8
    fig = plt.figure(figsize=(19, 4.6 * len(panels) + 0.6), layout="constrained")
    blocks = np.atleast_1d(fig.subfigures(len(panels), 1))
    for block, p in zip(blocks, panels, strict=False):
        ms = p["maps"]
        classes = list(ms["classes"])
        k = len(classes)
        left, mid, right = block.subfigures(1, 3, width_ratios=[5.4, 4.4, 4.2])
        ncols = min(5, k)
        axes = subplot_grid(left, -(-k // ncols), ncols).ravel()
        for ax, m, title in zip(axes, ms["maps"], map_titles({**ms, "feedback": None}), strict=False):
            draw_map(ax, m, title, colorbar=False)
        for ax in axes[k:]:
            ax.set_axis_off()
        left.suptitle(f"bias maps (n={fmt_n(ms['n'])}; title: class, samples)", fontsize=9)

        gs = mid.add_gridspec(3, 4)
        samples = np.asarray(p["samples"])[:n_show]
        for i in range(n_show):
            ax = mid.add_subplot(gs[i // 4, i % 4])
            if i < len(samples):
                draw_gray(ax, samples[i])
            else:
                ax.set_axis_off()
        draw_gray(mid.add_subplot(gs[2, 0]), p["example"], "training image")
        rec = p["reconstruction"]
        draw_gray(mid.add_subplot(gs[2, 1]), rec, f"Gabor reconstruction{range_note(rec)}")
        info = mid.add_subplot(gs[2, 2:])
        info.set_axis_off()
        info.text(
            0.05,
            0.5,
            f"{p['wavelets']:,} Gabor wavelets\n"
            f"{p['components']:,} PCA components"
            f"{' per channel' if np.size(p['explained']) > 1 else ''}\n"
            f"variance explained:\n{pct_list(p['explained'])}",
            transform=info.transAxes,
            va="center",
            ha="left",
            fontsize=9,
        )
        mid.suptitle("Gabor-PCA noise samples (top), a training image and its reconstruction", fontsize=9)

        cm, acc = p.get("confusion"), p.get("accuracy")
        if cm is not None and acc is None:
            cm = np.asarray(cm, dtype=np.float64)
            acc = float(np.trace(cm) / cm.sum()) if cm.sum() > 0 else 0.0
        ax = right.subplots()
        im = draw_confusion(ax, cm, acc, classes, "bias-map template classifier")
        if im is not None:
            right.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label="fraction of true class")
        block.suptitle(p["label"], fontsize=12, fontweight="bold")
    fig.suptitle(
        f"Classification images from Gabor-PCA noise\n{MAP_NOTE}; RGB maps min-max normalised per map", fontsize=10
    )
    return fig


def autoencoder_noise(generators: Sequence[Mapping[str, Any]]) -> Figure:
    """Classification images from generated noise at several sample counts, one block per
    generator (paper Fig. 15).

    Each generator has ``label``, ``samples`` (S, C, H, W) in [0, 1] (a row of them is shown
    on top), ``ns`` the sample counts, ``maps`` (len(ns), K, C, H, W) centred bias maps at
    those counts (NaN for empty classes), ``counts`` (len(ns), K) and ``classes``.
    """
    n_show = 8
    width = max(max(len(g["classes"]), min(len(g["samples"]), n_show)) for g in generators)
    rows = [1 + len(g["ns"]) for g in generators]
    fig = plt.figure(figsize=(1.45 * width + 1, sum(1.45 * r + 0.5 for r in rows) + 0.6), layout="constrained")
    blocks = np.atleast_1d(fig.subfigures(len(generators), 1, height_ratios=[1.45 * r + 0.5 for r in rows]))
    for block, g in zip(blocks, generators, strict=False):
        classes, ns = list(g["classes"]), list(g["ns"])
        axes = subplot_grid(block, 1 + len(ns), width)
        samples = np.asarray(g["samples"])[:width]
        for ax, s in zip(axes[0], samples, strict=False):
            draw_gray(ax, s)
        for ax in axes[0, len(samples) :]:
            ax.set_axis_off()
        axes[0, 0].set_ylabel("samples", fontsize=9)
        for r, n in enumerate(ns, start=1):
            for c in range(width):
                if c < len(classes):
                    draw_map(
                        axes[r, c],
                        g["maps"][r - 1][c],
                        f"{classes[c]} ({fmt_n(g['counts'][r - 1][c])})",
                        colorbar=False,
                    )
                else:
                    axes[r, c].set_axis_off()
            axes[r, 0].set_ylabel(f"n = {fmt_n(n)}", fontsize=9)
        block.suptitle(
            f"{g['label']}: generated samples (top) and bias maps from n of them; title: class (samples)",
            fontsize=10,
            fontweight="bold",
        )
    fig.suptitle(f"Classification images from generated noise\n{MAP_NOTE}", fontsize=10)
    return fig


def noise_comparison(
    curves: Mapping[str, Mapping[str, Sequence[float | None]]],
    ns: Sequence[int],
    *,
    chance: float | None = None,
    title: str = "",
) -> Figure:
    """Sample complexity of noise types: (left) mean over classes of the correlation of the
    bias maps at n with those at the largest n (see :func:`revcor.core.maps.convergence`), (right) template
    accuracy (fraction) vs n. ``curves[noise]`` has ``correlation`` and ``accuracy`` aligned
    with ``ns``; None / NaN entries are gaps. ``chance``: a dashed
    line (e.g. 1/K)."""
    fig = plt.figure(figsize=(12, 4.6), layout="constrained")
    left, right = subplot_grid(fig, 1, 2)[0]
    lows, highs = [-0.05], [100 * chance if chance is not None else 0.0]
    for label, cv in curves.items():
        x = list(ns)
        corr = as_floats(cv["correlation"])
        acc = 100 * as_floats(cv["accuracy"])
        left.plot(x, corr, marker="o", ms=4, label=label)
        right.plot(x, acc, marker="o", ms=4, label=label)
        lows += list(corr[np.isfinite(corr)])
        highs += list(acc[np.isfinite(acc)])
    if chance is not None:
        right.axhline(100 * chance, color="0.5", ls="--", label=f"chance ({chance:.0%})")
    left.set(
        xscale="log",
        xlabel="noise samples n",
        ylabel="mean correlation with final maps",
        title=f"Bias maps at n vs at n={fmt_n(max(ns))} (mean over classes)",
        ylim=(min(-0.1, min(lows) - 0.05), 1.05),
    )
    right.set(
        xscale="log",
        xlabel="noise samples n",
        ylabel="test accuracy (%)",
        title="Template-classifier accuracy vs n",
        ylim=(0, min(100, max(10.0, 1.15 * max(highs)))),
    )
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, title="noise", title_fontsize=8)
    fig.suptitle(title or "Sample complexity of the noise types", fontsize=11)
    return fig
