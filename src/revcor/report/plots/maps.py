"""Classification-image figures: the paper's Figs. 1-4, 13, 14, 16 and the z-maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from revcor.core.maps import correlation_with_last
from revcor.report.plots.panels import (
    DIVERGING,
    EMPTY,
    MAP_NOTE,
    Confusions,
    MapSet,
    bare,
    blank,
    confusion_row,
    draw_gray,
    draw_map,
    fmt_n,
    map_grid,
    map_titles,
    subplot_grid,
)


def signal_noise(tasks: Sequence[Mapping[str, Any]], seed: int = 0) -> Figure:
    """Classification images of binary CNNs on signal+noise stimuli (paper Fig. 1B, C).

    Each task has ``classes`` (a, b), ``gammas`` (G,), ``stimulus_means`` (G, 2, 2, C, H, W),
    ``stimulus_diff`` and ``eq1`` (G, C, H, W), ``counts`` (G, 2, 2), ``signals`` (2, C, H, W)
    one test image of each class in [0, 1], ``title``, ``corr`` (G, C, H, W) and optionally
    ``ccorr`` (G, C, H, W). Per gamma (row): an example stimulus of each class (uniform noise
    drawn here with ``seed``, for illustration), the mean stimulus of each (signal s, response
    r) cell, their difference by response, the Eq. 1 classification image of the noise alone
    ("*"; where Eq. 1 is undefined, a cell without trials, ``ccorr`` instead), and the Eq. 2
    correlation of each noise pixel with the response being the first class. With
    ``significant_eq1`` / ``significant_ccorr`` (G, C, H, W), the significant pixels of the
    noise-only map are outlined.
    """
    rows = sum(len(t["gammas"]) for t in tasks)
    fig = plt.figure(figsize=(18, 1.9 * rows + 0.8 * len(tasks)), layout="constrained")
    subs = np.atleast_1d(fig.subfigures(len(tasks), 1, height_ratios=[len(t["gammas"]) for t in tasks]))
    rng = np.random.default_rng(seed)
    for sub, t in zip(subs, tasks, strict=False):
        a, b = t["classes"]
        signals = np.asarray(t["signals"], dtype=np.float64)
        noise = rng.integers(0, 256, size=signals.shape) / 255
        axes = subplot_grid(sub, len(t["gammas"]), 9)
        for g, (gamma, row) in enumerate(zip(t["gammas"], axes, strict=False)):
            for ax, s, nz, cls in zip(row[:2], signals, noise, (a, b), strict=False):
                draw_gray(ax, gamma * s + (1 - gamma) * nz, f"example, s={cls}")
            means, counts = t["stimulus_means"][g], t["counts"][g]
            for ax, (si, ri) in zip(row[2:6], np.ndindex(2, 2), strict=False):
                draw_gray(
                    ax,
                    means[si, ri],
                    f"s={(a, b)[si]} r={(a, b)[ri]}\n(n={fmt_n(counts[si, ri])})",
                    None,
                    None,
                    colorbar=True,
                )
            draw_map(row[6], t["stimulus_diff"][g], f"mean t | r={a}\n− mean t | r={b}")
            key = "eq1" if np.isfinite(t["eq1"][g]).any() or "ccorr" not in t else "ccorr"
            significant = t.get(f"significant_{key}")
            tested = "" if significant is None else f", {int(np.asarray(significant[g]).any(0).sum())} px significant"
            if key == "eq1":
                draw_map(row[7], t["eq1"][g], f"* noise only (Eq. 1)\nsmallest cell n={fmt_n(np.min(counts))}{tested}")
            else:
                draw_map(row[7], t["ccorr"][g], f"* noise only, Eq. 1 undefined:\nn̄ | r={a} − n̄ | r={b}{tested}")
            if significant is not None and np.asarray(significant[g]).any():
                row[7].contour(
                    np.asarray(significant[g]).any(0).astype(float), levels=[0.5], colors="k", linewidths=0.7
                )
            draw_map(row[8], t["corr"][g], f"corr(noise, r={a}) (Eq. 2)")
            row[0].set_ylabel(f"γ = {gamma:g}", fontsize=10)
        sub.suptitle(t["title"], fontsize=11)
    return fig


def cnn_logreg(cnn: MapSet, logreg: MapSet, confusions: Confusions) -> Figure:
    """A) CNN bias maps, B) logistic-regression bias maps, C) template-classifier
    confusion matrices (e.g. CNN and log. reg. bias maps, mean images, log. reg. weights)."""
    fig = plt.figure(figsize=(13, 15), layout="constrained")
    a, b, c = fig.subfigures(3, 1, height_ratios=[1, 1, 0.72])
    map_grid(a, {**cnn, "title": f"A) {cnn.get('title', 'CNN')}"})
    map_grid(b, {**logreg, "title": f"B) {logreg.get('title', 'logistic regression')}"})
    confusion_row(c, confusions, list(cnn["classes"]))
    c.suptitle("C) template classifiers on the test set (dot product with L2-normalised templates)", fontsize=11)
    return fig


def cifar10(mean_images: np.ndarray, bias: MapSet, confusions: Confusions) -> Figure:
    """A) mean training images (top) and bias maps (bottom, RGB normalised per map);
    B) confusion matrices of the mean-image and bias-map template classifiers."""
    classes = list(bias["classes"])
    k = len(classes)
    fig = plt.figure(figsize=(max(12, 1.3 * k), 9), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.2])
    axes = subplot_grid(top, 2, k)
    for ax, img, c in zip(axes[0], mean_images, classes, strict=False):
        draw_gray(ax, img, c)
    for ax, m, title in zip(axes[1], bias["maps"], map_titles(bias, sep="\n"), strict=False):
        draw_map(ax, m, title, colorbar=False)
    axes[0, 0].set_ylabel("mean image", fontsize=9)
    axes[1, 0].set_ylabel("bias map", fontsize=9)
    top.suptitle(f"A) {bias.get('title', '')} (bias maps normalised to [0, 1] per map for display)", fontsize=11)
    confusion_row(bottom, confusions, classes)
    bottom.suptitle("B) template classifiers on the test set", fontsize=11)
    return fig


def buildup(
    ns: Sequence[int],
    maps: np.ndarray,
    counts: np.ndarray,
    classes: Sequence[str],
    *,
    rows: Sequence[int] = (0, 1, 2),
    title: str = "",
) -> Figure:
    """Progressive build-up of bias maps: rows = ``rows`` (class indices), columns = the
    checkpoints ``ns``; ``maps`` (len(ns), K, C, H, W) centred, ``counts`` (len(ns), K)."""
    fig = plt.figure(figsize=(2.6 * len(ns) + 0.5, 2.4 * len(rows) + 0.6), layout="constrained")
    axes = subplot_grid(fig, len(rows), len(ns))
    for r, k in enumerate(rows):
        for c, n in enumerate(ns):
            draw_map(axes[r, c], maps[c][k], f"class {classes[k]}, n={fmt_n(n)}\n({fmt_n(counts[c][k])} samples)")
    fig.suptitle(f"{title or 'Progressive build-up of the bias maps'}\n{MAP_NOTE}", fontsize=10)
    return fig


def sample_complexity(
    ns: Sequence[int],
    maps: np.ndarray,
    counts: np.ndarray,
    classes: Sequence[str],
    accuracy: Mapping[str, Sequence[float | None]],
    reliability: np.ndarray,
    *,
    title: str = "",
) -> Figure:
    """Sample complexity: every class (columns) at every checkpoint (rows), the correlation
    of each map with its final map, each map's split-half reliability (``reliability``,
    (len(ns), K)), and template accuracy (``accuracy``: name -> per n)."""
    k = len(classes)
    fig = plt.figure(figsize=(max(1.45 * k + 1, 13), 1.55 * len(ns) + 4.2), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.55 * len(ns), 3.6])
    axes = subplot_grid(top, len(ns), k)
    for r, n in enumerate(ns):
        for c in range(k):
            draw_map(axes[r, c], maps[r][c], f"{classes[c]} ({fmt_n(counts[r][c])})", colorbar=False)
        axes[r, 0].set_ylabel(f"n = {fmt_n(n)}", fontsize=9)
    top.suptitle(f"{title or 'Bias maps vs number of noise samples; title: class (samples)'}\n{MAP_NOTE}", fontsize=10)
    left, middle, right = subplot_grid(bottom, 1, 3)[0]
    corr = correlation_with_last(maps)
    for c in range(k):
        left.plot(ns, corr[:, c], marker="o", ms=3, label=classes[c])
        middle.plot(ns, reliability[:, c], marker="o", ms=3, label=classes[c])
    middle.set(
        xscale="log",
        xlabel="noise samples n",
        ylabel="split-half reliability",
        title="Reliability of each map at n\n(even vs odd samples, Spearman-Brown)",
        ylim=(-0.1, 1.05),
    )
    left.set(
        xscale="log",
        xlabel="noise samples n",
        ylabel="correlation with final map",
        title=f"Map at n vs map at n={fmt_n(ns[-1])}",
        ylim=(-0.1, 1.05),
    )
    left.legend(fontsize=7, ncol=2, title="class", title_fontsize=7)
    for name, acc in accuracy.items():  # None (no usable template) -> gap
        right.plot(ns, 100 * np.asarray(acc, dtype=np.float64), marker="o", label=name)
    right.axhline(100 / k, color="0.5", ls="--", label="chance")
    right.set(
        xscale="log",
        xlabel="noise samples n",
        ylabel="test accuracy (%)",
        title="Template-classifier accuracy vs n",
        ylim=(0, None),
    )
    right.legend(fontsize=8)
    for ax in (left, middle, right):
        ax.grid(alpha=0.3)
    return fig


def infoval(ns: Sequence[int], values: np.ndarray, classes: Sequence[str], *, title: str = "") -> Figure:
    """InfoVal of each class's map (``values``: (len(ns), K), NaN where a class was not tested)
    against the number of noise samples, with the 5% threshold 1.96."""
    fig, ax = plt.subplots(figsize=(7.5, 4.6), layout="constrained")
    for c, name in enumerate(classes):
        ax.plot(ns, values[:, c], marker="o", ms=3, label=name)
    ax.axhline(1.96, color="0.3", ls="--", lw=1, label="1.96 (5% level)")
    if not np.isfinite(values).any():
        ax.text(
            0.5,
            0.6,
            "no class tested at any n\n(each below statistics.min_count samples)",
            ha="center",
            transform=ax.transAxes,
            color="0.3",
        )
    ax.set(
        xlim=(min(ns) / 1.5, max(ns) * 1.5),
        xscale="log",
        yscale="symlog",
        xlabel="noise samples n",
        ylabel="InfoVal (robust z of the map's norm)",
        title=title or "InfoVal of each class's map vs n",
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2, title="class", title_fontsize=7)
    fig.supxlabel(
        "InfoVal: the norm of a class's z-map against the norms of null maps of the same noise and count\n"
        "(docs/statistics.md); gaps: classes with fewer than statistics.min_count samples, not tested.",
        fontsize=7,
        color="0.3",
    )
    return fig


def mlp_rnn(panels: Mapping[str, MapSet]) -> Figure:
    """Bias maps of several models stacked vertically (paper: MLP top, RNN bottom)."""
    fig = plt.figure(figsize=(13, 5.2 * len(panels)), layout="constrained")
    subs = np.atleast_1d(fig.subfigures(len(panels), 1))
    for sub, (label, ms) in zip(subs, panels.items(), strict=False):
        map_grid(sub, {**ms, "title": ms.get("title", label)})
    return fig


def fashion(white: MapSet, gabor_counts: np.ndarray | None = None) -> Figure:
    """Frequency of noise classified as each class (Gabor noise, when given, and white
    noise) and the white-noise bias maps."""
    classes = list(white["classes"])
    bars = [("Gabor noise", np.asarray(gabor_counts))] if gabor_counts is not None else []
    bars.append((f"white noise (n={fmt_n(white['n'])})", np.asarray(white["counts"])))
    fig = plt.figure(figsize=(13, 3.2 * len(bars) + 5.5), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.2 * len(bars), 5.5])
    for ax, (name, counts) in zip(subplot_grid(top, len(bars), 1).ravel(), bars, strict=False):
        freq = 100 * counts / max(counts.sum(), 1)
        ax.bar_label(ax.bar(classes, freq, color="tab:blue"), fmt="%.1f", fontsize=7)
        ax.set(
            ylabel="% of samples",
            title=f"Frequency of {name} classified as each class",
            ylim=(0, max(freq.max(), 1) * 1.15),
        )
        ax.tick_params(axis="x", labelsize=8)
    top.suptitle(white.get("title", ""), fontsize=11)
    map_grid(bottom, {**white, "title": "Bias maps (white noise)"})
    return fig


def zmaps(
    z: np.ndarray,
    counts: np.ndarray,
    classes: Sequence[str],
    significant: np.ndarray,
    infoval: np.ndarray,
    reliability: np.ndarray,
    significance: dict,
    *,
    title: str = "",
    what: str = "z-score of the mean noise of each class vs the rest",
) -> Figure:
    """Z-score maps (by default of each class against the rest; ``what`` says), on shared symmetric colour limits, with
    the pixels found significant outlined (family-wise error over every pixel of every map,
    :mod:`revcor.core.significance`) and each map's InfoVal and split-half reliability.
    Multi-channel maps are combined per pixel as sum(z) / sqrt(C) (Stouffer); a pixel is
    outlined when any of its channels is significant."""
    z = np.asarray(z, dtype=np.float64)
    z2 = z.sum(1) / np.sqrt(z.shape[1])
    sig2 = np.asarray(significant).any(1)
    shown = np.isfinite(z2).any(axis=(1, 2))
    finite = np.abs(z2[shown][np.isfinite(z2[shown])])
    lim = max(float(finite.max()) if finite.size else 0.0, 1.0)
    k = len(classes)
    ncols = min(k, 5)
    nrows = -(-k // ncols)
    fig = plt.figure(figsize=(2.6 * ncols + 1, 2.9 * nrows + 1.0), layout="constrained")
    axes = subplot_grid(fig, nrows, ncols).ravel()
    im = None
    for ax, zk, sk, c, cnt, iv, rel, ok in zip(
        axes, z2, sig2, classes, counts, infoval, reliability, shown, strict=False
    ):
        if not ok:
            bare(ax, f"{c} (n={fmt_n(cnt)})\n")
            blank(ax, zk.shape, EMPTY if cnt == 0 else "no other class")
            continue
        stats = f"InfoVal {iv:.1f}" + (f", r={rel:.2f}" if np.isfinite(rel) else "")
        if cnt < significance["min_count"]:
            stats = f"not tested (n < {significance['min_count']})"
        bare(ax, f"{c} (n={fmt_n(cnt)})\n{int(sk.sum())} px significant\n{stats}")
        im = ax.imshow(zk, cmap=DIVERGING, vmin=-lim, vmax=lim)
        if sk.any():
            ax.contour(sk.astype(float), levels=[0.5], colors="k", linewidths=0.7)
    for ax in axes[k:]:
        ax.set_axis_off()
    fig.colorbar(
        im or ScalarMappable(Normalize(-lim, lim), DIVERGING),
        ax=list(axes),
        fraction=0.025,
        pad=0.02,
        label="z",
    )
    if significance["method"] == "pixel":
        test = f"|z| > {significance['threshold']:.2f} (maximum statistic)"
    else:
        test = f"clusters of |z| > {significance['cluster_threshold']:g} with mass > {significance['threshold']:.0f}"
    fig.suptitle(
        f"{title}\n{what}; outlined: {test}, "
        f"family-wise error {significance['alpha']:g} over all {z.size:,} values of the {k} maps\n"
        f"InfoVal: the map's norm against {significance['replicates']:,} null replicates (robust z); "
        "r: split-half reliability (Spearman-Brown)",
        fontsize=9,
    )
    return fig


def whitened(
    centred: np.ndarray,
    white: np.ndarray,
    counts: np.ndarray,
    classes: Sequence[str],
    accuracy: Mapping[str, float | None],
    *,
    title: str = "",
) -> Figure:
    """Bias maps (centred) above their whitened counterparts, one column per class, each map on
    its own symmetric scale; row labels give each row's template-classifier accuracy."""
    k = len(classes)
    fig = plt.figure(figsize=(max(1.5 * k + 1.5, 6), 4.4), layout="constrained")
    axes = subplot_grid(fig, 2, k)
    rows = (("bias maps", centred), ("whitened maps", white))
    for r, (name, ms) in enumerate(rows):
        for c in range(k):
            draw_map(axes[r, c], ms[c], f"{classes[c]} (n={fmt_n(counts[c])})" if r == 0 else "", colorbar=False)
        acc = accuracy.get(name)
        label = f"{name}\n{'no template' if acc is None else f'{100 * acc:.1f}% accuracy'}"
        axes[r, 0].set_ylabel(label, fontsize=9)
    fig.suptitle(
        f"{title}\ntop: mean noise of each class minus the mean of all noise; bottom: the same with the "
        "noise's pixel correlations divided out\n(what the model weighs rather than what the noise smears "
        "in); red brighter, blue darker, each map on its own scale",
        fontsize=9,
    )
    return fig
