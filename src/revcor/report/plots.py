"""The paper's figures as matplotlib functions of plain arrays.

A *map set* is a dict describing the classification images of one experiment:

- ``maps`` (K, C, H, W): bias maps minus the mean noise (``maps_centered`` of a maps
  artifact); NaN for classes no noise sample fell into;
- ``counts`` (K,): noise samples per predicted class; ``classes``: the K class names;
- ``n``: number of noise samples; ``title``: heading of the panel;
- ``feedback`` (K,), optional: the model's label for each bias map fed back as an image
  (-1 for empty classes).

Single-channel maps are drawn with a diverging colour map centred on zero (red: brighter
than the mean noise, blue: darker), each scaled to its own largest absolute value; RGB maps
are min-max normalised per map. A confusion matrix is given as ``(matrix, accuracy)`` with
rows = true class and is drawn row-normalised; ``(None, None)`` marks a classifier without any
usable template.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure, FigureBase  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from revcor.base.store import atomic_path
from revcor.core.maps import correlation_with_last, similarity

MapSet = Mapping[str, Any]
Confusions = Mapping[str, tuple[np.ndarray | None, float | None]]

DIVERGING = "RdBu_r"
EMPTY = "no samples"
MAP_NOTE = "colour: mean noise of the class minus the mean of all noise (red brighter), each map on its own scale"
_TITLE = 8  # font size of panel titles


# --------------------------------------------------------------------------- helpers


def _hw(img: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) for one channel, (H, W, C) otherwise."""
    img = np.asarray(img, dtype=np.float64)
    return img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1)


def _bare(ax: Axes, title: str = "") -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=_TITLE)


def _blank(ax: Axes, shape: tuple[int, ...], label: str = EMPTY) -> None:
    """An empty panel of an image's size: grey background and a label instead of the image."""
    ax.set(xlim=(-0.5, shape[1] - 0.5), ylim=(shape[0] - 0.5, -0.5), aspect="equal")
    ax.set_facecolor("0.93")
    ax.text(0.5, 0.5, label, ha="center", va="center", transform=ax.transAxes, fontsize=_TITLE, color="0.35")


def _colorbar(ax: Axes, im, ticks: Sequence[float] | None = None) -> None:
    """A slim colour bar beside ``ax``; for ``im=None`` (empty panel) an invisible one, so
    that panels keep their size."""
    cb = ax.get_figure().colorbar(im or ScalarMappable(cmap="gray"), ax=ax, fraction=0.046, pad=0.03, ticks=ticks)
    cb.ax.tick_params(labelsize=6)
    if im is None:
        cb.ax.set_axis_off()
        cb.solids.set_visible(False)
    elif ticks is not None:
        cb.ax.set_yticklabels([f"{t:.2g}" for t in ticks])


def _map(ax: Axes, m: np.ndarray, title: str = "", *, colorbar: bool = True) -> None:
    """One classification image: diverging around 0 (one channel) or normalised RGB."""
    _bare(ax, title)
    img = _hw(m)
    finite = np.isfinite(img).any()
    if img.ndim == 3 and finite:
        lo, hi = np.nanmin(img), np.nanmax(img)
        ax.imshow(np.clip((img - lo) / (hi - lo if hi > lo else 1.0), 0, 1))
        return
    lim = float(np.nanmax(np.abs(img))) if finite else 0.0
    im = ax.imshow(img, cmap=DIVERGING, vmin=-lim, vmax=lim) if lim else None
    if im is None:
        _blank(ax, img.shape, EMPTY if not finite else "equal to the\nmean of all noise")
    if colorbar and img.ndim == 2:
        _colorbar(ax, im, [-lim, 0, lim])


def _gray(
    ax: Axes,
    img: np.ndarray,
    title: str = "",
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    *,
    colorbar: bool = False,
) -> None:
    """A stimulus-like image in grey levels (None limits: the image's range); RGB as is."""
    _bare(ax, title)
    img = _hw(img)
    im = None
    if not np.isfinite(img).any():
        _blank(ax, img.shape)
    elif img.ndim == 3:
        ax.imshow(np.clip(img, 0, 1))
    else:
        im = ax.imshow(
            img,
            cmap="gray",
            vmin=np.nanmin(img) if vmin is None else vmin,
            vmax=np.nanmax(img) if vmax is None else vmax,
        )
    if colorbar and img.ndim == 2:
        _colorbar(ax, im)


def _label(classes: Sequence[str], i: int) -> str:
    return classes[i] if 0 <= i < len(classes) else "—"


def _map_titles(ms: MapSet, sep: str = " ") -> list[str]:
    """'true c → pred p' (when feedback is given; ``sep`` before the arrow) and the count of
    each class."""
    classes, counts = list(ms["classes"]), np.asarray(ms["counts"])
    fb = ms.get("feedback")
    heads = (
        classes
        if fb is None
        else [f"true {c}{sep}→ pred {_label(classes, int(p))}" for c, p in zip(classes, fb, strict=False)]
    )
    return [f"{h}\nn={int(k):,}" for h, k in zip(heads, counts, strict=False)]


def _grid(parent: FigureBase, nrows: int, ncols: int) -> np.ndarray:
    return parent.subplots(nrows, ncols, squeeze=False)


def _map_grid(parent: FigureBase, ms: MapSet) -> None:
    """Every class's map of a map set, five per row, titled with labels and counts."""
    k = len(ms["classes"])
    ncols = min(5, k)
    axes = _grid(parent, -(-k // ncols), ncols).ravel()
    for ax, m, title in zip(axes, ms["maps"], _map_titles(ms), strict=False):
        _map(ax, m, title)
    for ax in axes[k:]:
        ax.set_axis_off()
    parent.suptitle(f"{ms.get('title', '')}\n{MAP_NOTE}", fontsize=10)


def _confusion(ax: Axes, cm: np.ndarray | None, accuracy: float | None, classes: Sequence[str], name: str):
    """Row-normalised confusion matrix with percentages in the cells (blank without one)."""
    k = len(classes)
    if cm is None:
        _bare(ax, f"{name}\nno usable template")
        _blank(ax, (k, k), "no usable template\n(every class empty\nor every map zero)")
        return None
    cm = np.asarray(cm, dtype=np.float64)
    rows = cm.sum(1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    ax.set_title(f"{name}\naccuracy {accuracy:.1%} (chance {1 / k:.0%})", fontsize=9)
    ax.set_xticks(range(k), classes, rotation=90 if max(map(len, classes)) > 2 else 0, fontsize=7)
    ax.set_yticks(range(k), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= 12:
        for (i, j), v in np.ndenumerate(frac):
            if v >= 0.005:
                ax.text(
                    j,
                    i,
                    f"{100 * v:.0f}",
                    ha="center",
                    va="center",
                    fontsize=5.5,
                    color="white" if v > 0.5 else "black",
                )
    return im


def _confusion_row(parent: FigureBase, confusions: Confusions, classes: Sequence[str]) -> None:
    axes = _grid(parent, 1, len(confusions)).ravel()
    for ax, (name, (cm, acc)) in zip(axes, confusions.items(), strict=False):
        _confusion(ax, cm, acc, classes, name)
    parent.colorbar(
        ScalarMappable(Normalize(0, 1), "Blues"),
        ax=list(axes),
        fraction=0.02,
        pad=0.02,
        shrink=0.8,
        label="fraction of true class",
    )


def _fmt_n(n: int) -> str:
    return f"{int(n):,}"


# --------------------------------------------------------------------------- figures


def fig1(tasks: Sequence[Mapping[str, Any]], seed: int = 0) -> Figure:
    """Classification images of binary CNNs on signal+noise stimuli (paper Fig. 1B, C).

    Each task has ``classes`` (a, b), ``gammas`` (G,), ``stimulus_means`` (G, 2, 2, C, H, W),
    ``stimulus_diff`` and ``eq1`` (G, C, H, W), ``counts`` (G, 2, 2), ``signals`` (2, C, H, W)
    one test image of each class in [0, 1], ``title``, ``corr`` (G, C, H, W) and optionally
    ``ccorr`` (G, C, H, W). Per gamma (row): an example stimulus of each class (uniform noise
    drawn here with ``seed``, for illustration), the mean stimulus of each (signal s, response
    r) cell, their difference by response, the Eq. 1 classification image of the noise alone
    ("*"; where Eq. 1 is undefined, a cell without trials, ``ccorr`` instead), and the Eq. 2
    correlation of each noise pixel with the response being the first class.
    """
    rows = sum(len(t["gammas"]) for t in tasks)
    fig = plt.figure(figsize=(18, 1.9 * rows + 0.8 * len(tasks)), layout="constrained")
    subs = np.atleast_1d(fig.subfigures(len(tasks), 1, height_ratios=[len(t["gammas"]) for t in tasks]))
    rng = np.random.default_rng(seed)
    for sub, t in zip(subs, tasks, strict=False):
        a, b = t["classes"]
        signals = np.asarray(t["signals"], dtype=np.float64)
        noise = rng.integers(0, 256, size=signals.shape) / 255
        axes = _grid(sub, len(t["gammas"]), 9)
        for g, (gamma, row) in enumerate(zip(t["gammas"], axes, strict=False)):
            for ax, s, nz, cls in zip(row[:2], signals, noise, (a, b), strict=False):
                _gray(ax, gamma * s + (1 - gamma) * nz, f"example, s={cls}")
            means, counts = t["stimulus_means"][g], t["counts"][g]
            for ax, (si, ri) in zip(row[2:6], np.ndindex(2, 2), strict=False):
                _gray(
                    ax,
                    means[si, ri],
                    f"s={(a, b)[si]} r={(a, b)[ri]}\n(n={_fmt_n(counts[si, ri])})",
                    None,
                    None,
                    colorbar=True,
                )
            _map(row[6], t["stimulus_diff"][g], f"mean t | r={a}\n− mean t | r={b}")
            if np.isfinite(t["eq1"][g]).any() or "ccorr" not in t:
                _map(row[7], t["eq1"][g], f"* noise only (Eq. 1)\nsmallest cell n={_fmt_n(np.min(counts))}")
            else:
                _map(row[7], t["ccorr"][g], f"* noise only, Eq. 1 undefined:\nn̄ | r={a} − n̄ | r={b}")
            _map(row[8], t["corr"][g], f"corr(noise, r={a}) (Eq. 2)")
            row[0].set_ylabel(f"γ = {gamma:g}", fontsize=10)
        sub.suptitle(t["title"], fontsize=11)
    return fig


def fig2(cnn: MapSet, logreg: MapSet, confusions: Confusions) -> Figure:
    """A) CNN bias maps, B) logistic-regression bias maps, C) template-classifier
    confusion matrices (e.g. CNN and log. reg. bias maps, mean images, log. reg. weights)."""
    fig = plt.figure(figsize=(13, 15), layout="constrained")
    a, b, c = fig.subfigures(3, 1, height_ratios=[1, 1, 0.72])
    _map_grid(a, {**cnn, "title": f"A) {cnn.get('title', 'CNN')}"})
    _map_grid(b, {**logreg, "title": f"B) {logreg.get('title', 'logistic regression')}"})
    _confusion_row(c, confusions, list(cnn["classes"]))
    c.suptitle("C) template classifiers on the test set (dot product with L2-normalised templates)", fontsize=11)
    return fig


def fig3(mean_images: np.ndarray, bias: MapSet, confusions: Confusions) -> Figure:
    """A) mean training images (top) and bias maps (bottom, RGB normalised per map);
    B) confusion matrices of the mean-image and bias-map template classifiers."""
    classes = list(bias["classes"])
    k = len(classes)
    fig = plt.figure(figsize=(max(12, 1.3 * k), 9), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.2])
    axes = _grid(top, 2, k)
    for ax, img, c in zip(axes[0], mean_images, classes, strict=False):
        _gray(ax, img, c)
    for ax, m, title in zip(axes[1], bias["maps"], _map_titles(bias, sep="\n"), strict=False):
        _map(ax, m, title, colorbar=False)
    axes[0, 0].set_ylabel("mean image", fontsize=9)
    axes[1, 0].set_ylabel("bias map", fontsize=9)
    top.suptitle(f"A) {bias.get('title', '')} (bias maps normalised to [0, 1] per map for display)", fontsize=11)
    _confusion_row(bottom, confusions, classes)
    bottom.suptitle("B) template classifiers on the test set", fontsize=11)
    return fig


def fig4(
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
    axes = _grid(fig, len(rows), len(ns))
    for r, k in enumerate(rows):
        for c, n in enumerate(ns):
            _map(axes[r, c], maps[c][k], f"class {classes[k]}, n={_fmt_n(n)}\n({_fmt_n(counts[c][k])} samples)")
    fig.suptitle(f"{title or 'Progressive build-up of the bias maps'}\n{MAP_NOTE}", fontsize=10)
    return fig


def fig14(
    ns: Sequence[int],
    maps: np.ndarray,
    counts: np.ndarray,
    classes: Sequence[str],
    accuracy: Mapping[str, Sequence[float | None]],
    *,
    title: str = "",
) -> Figure:
    """Sample complexity: every class (columns) at every checkpoint (rows), the correlation
    of each map with its final map, and template accuracy (``accuracy``: name -> per n)."""
    k = len(classes)
    fig = plt.figure(figsize=(1.45 * k + 1, 1.55 * len(ns) + 4.2), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.55 * len(ns), 3.6])
    axes = _grid(top, len(ns), k)
    for r, n in enumerate(ns):
        for c in range(k):
            _map(axes[r, c], maps[r][c], f"{classes[c]} ({_fmt_n(counts[r][c])})", colorbar=False)
        axes[r, 0].set_ylabel(f"n = {_fmt_n(n)}", fontsize=9)
    top.suptitle(f"{title or 'Bias maps vs number of noise samples; title: class (samples)'}\n{MAP_NOTE}", fontsize=10)
    left, right = _grid(bottom, 1, 2)[0]
    corr = correlation_with_last(maps)
    for c in range(k):
        left.plot(ns, corr[:, c], marker="o", ms=3, label=classes[c])
    left.set(
        xscale="log",
        xlabel="noise samples n",
        ylabel="correlation with final map",
        title=f"Map at n vs map at n={_fmt_n(ns[-1])}",
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
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return fig


def fig13(panels: Mapping[str, MapSet]) -> Figure:
    """Bias maps of several models stacked vertically (paper: MLP top, RNN bottom)."""
    fig = plt.figure(figsize=(13, 5.2 * len(panels)), layout="constrained")
    subs = np.atleast_1d(fig.subfigures(len(panels), 1))
    for sub, (label, ms) in zip(subs, panels.items(), strict=False):
        _map_grid(sub, {**ms, "title": ms.get("title", label)})
    return fig


def fig16(white: MapSet, gabor_counts: np.ndarray | None = None) -> Figure:
    """Frequency of noise classified as each class (Gabor noise, when given, and white
    noise) and the white-noise bias maps."""
    classes = list(white["classes"])
    bars = [("Gabor noise", np.asarray(gabor_counts))] if gabor_counts is not None else []
    bars.append((f"white noise (n={_fmt_n(white['n'])})", np.asarray(white["counts"])))
    fig = plt.figure(figsize=(13, 3.2 * len(bars) + 5.5), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.2 * len(bars), 5.5])
    for ax, (name, counts) in zip(_grid(top, len(bars), 1).ravel(), bars, strict=False):
        freq = 100 * counts / max(counts.sum(), 1)
        ax.bar_label(ax.bar(classes, freq, color="tab:blue"), fmt="%.1f", fontsize=7)
        ax.set(
            ylabel="% of samples",
            title=f"Frequency of {name} classified as each class",
            ylim=(0, max(freq.max(), 1) * 1.15),
        )
        ax.tick_params(axis="x", labelsize=8)
    top.suptitle(white.get("title", ""), fontsize=11)
    _map_grid(bottom, {**white, "title": "Bias maps (white noise)"})
    return fig


def zmaps(
    z: np.ndarray,
    counts: np.ndarray,
    classes: Sequence[str],
    *,
    title: str = "",
    alpha: float = 0.05,
    min_count: int = 30,
) -> Figure:
    """Z-score maps of each class against the rest, on shared symmetric colour limits;
    contours mark pixels beyond the Bonferroni threshold (``alpha`` over the pixels of a map).
    Classes with fewer than ``min_count`` samples, or fewer in the rest, are left blank: their
    variance estimates are too poor for a z-score. Multi-channel maps are combined per pixel
    as sum(z) / sqrt(C) (Stouffer)."""
    z = np.asarray(z, dtype=np.float64)
    counts = np.asarray(counts)
    z2 = z.sum(1) / np.sqrt(z.shape[1])
    thr = NormalDist().inv_cdf(1 - alpha / (2 * z2[0].size))
    rest = counts.sum() - counts
    shown = (counts >= min_count) & (rest >= min_count) & np.isfinite(z2).any(axis=(1, 2))
    finite = np.abs(z2[shown][np.isfinite(z2[shown])])
    lim = max(float(finite.max()) if finite.size else 0.0, thr)
    k = len(classes)
    ncols = min(k, 5)
    nrows = -(-k // ncols)
    fig = plt.figure(figsize=(2.6 * ncols + 1, 2.7 * nrows + 0.8), layout="constrained")
    axes = _grid(fig, nrows, ncols).ravel()
    im = None
    for ax, zk, c, cnt, ok in zip(axes, z2, classes, counts, shown, strict=False):
        if not ok:
            _bare(ax, f"{c} (n={_fmt_n(cnt)})\n")
            _blank(
                ax, zk.shape, EMPTY if cnt == 0 else f"n < {min_count}" if cnt < min_count else f"rest n < {min_count}"
            )
            continue
        sig = np.abs(np.nan_to_num(zk)) > thr
        _bare(ax, f"{c} (n={_fmt_n(cnt)})\n{int(sig.sum())} px |z| > {thr:.2f}")
        im = ax.imshow(zk, cmap=DIVERGING, vmin=-lim, vmax=lim)
        if sig.any():
            ax.contour(np.abs(zk), levels=[thr], colors="k", linewidths=0.7)
    for ax in axes[k:]:
        ax.set_axis_off()
    fig.colorbar(
        im or ScalarMappable(Normalize(-lim, lim), DIVERGING),
        ax=list(axes),
        fraction=0.025,
        pad=0.02,
        label="z (class vs rest)",
    )
    fig.suptitle(
        f"{title}\nz-score of the mean noise of each class vs the rest; contours: "
        f"Bonferroni |z| > {thr:.2f} (α={alpha:g} over {z2[0].size} pixels); "
        f"blank: fewer than {min_count} samples",
        fontsize=10,
    )
    return fig


def save(fig: Figure, stem: str | Path) -> None:
    """Write ``{stem}.png`` (150 dpi) and ``{stem}.pdf`` atomically, then close ``fig``."""
    try:
        for fmt in ("png", "pdf"):
            with atomic_path(f"{stem}.{fmt}") as tmp:
                fig.savefig(tmp, format=fmt, dpi=150)
    finally:
        plt.close(fig)


def _floats(values: Sequence[float | None]) -> np.ndarray:
    """A list with None entries as a float array with NaN (plotted as gaps)."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _pct_list(fractions: Sequence[float]) -> str:
    """Per-channel fractions as '96.1%' or 'R 97.1%, G 97.5%, B 97.9%'."""
    fr = [float(f) for f in np.atleast_1d(fractions)]
    if len(fr) == 1:
        return f"{fr[0]:.1%}"
    names = ("R", "G", "B") if len(fr) == 3 else [f"ch{i}" for i in range(len(fr))]
    return ", ".join(f"{c} {f:.1%}" for c, f in zip(names, fr, strict=False))


def _range_note(img: np.ndarray) -> str:
    """'' for an image within [0, 1], else its range and that the display clips it."""
    img = np.asarray(img, dtype=np.float64)
    lo, hi = np.nanmin(img), np.nanmax(img)
    return "" if lo >= 0 and hi <= 1 else f"\nrange [{lo:.2f}, {hi:.2f}], clipped"


def fig5(panels: Sequence[Mapping[str, Any]]) -> Figure:
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
        axes = _grid(left, -(-k // ncols), ncols).ravel()
        for ax, m, title in zip(axes, ms["maps"], _map_titles({**ms, "feedback": None}), strict=False):
            _map(ax, m, title, colorbar=False)
        for ax in axes[k:]:
            ax.set_axis_off()
        left.suptitle(f"bias maps (n={_fmt_n(ms['n'])}; title: class, samples)", fontsize=9)

        gs = mid.add_gridspec(3, 4)
        samples = np.asarray(p["samples"])[:n_show]
        for i in range(n_show):
            ax = mid.add_subplot(gs[i // 4, i % 4])
            if i < len(samples):
                _gray(ax, samples[i])
            else:
                ax.set_axis_off()
        _gray(mid.add_subplot(gs[2, 0]), p["example"], "training image")
        rec = p["reconstruction"]
        _gray(mid.add_subplot(gs[2, 1]), rec, f"Gabor reconstruction{_range_note(rec)}")
        info = mid.add_subplot(gs[2, 2:])
        info.set_axis_off()
        info.text(
            0.05,
            0.5,
            f"{p['wavelets']:,} Gabor wavelets\n"
            f"{p['components']:,} PCA components"
            f"{' per channel' if np.size(p['explained']) > 1 else ''}\n"
            f"variance explained:\n{_pct_list(p['explained'])}",
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
        im = _confusion(ax, cm, acc, classes, "bias-map template classifier")
        if im is not None:
            right.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label="fraction of true class")
        block.suptitle(p["label"], fontsize=12, fontweight="bold")
    fig.suptitle(
        f"Classification images from Gabor-PCA noise\n{MAP_NOTE}; RGB maps min-max normalised per map", fontsize=10
    )
    return fig


def fig15(generators: Sequence[Mapping[str, Any]]) -> Figure:
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
        axes = _grid(block, 1 + len(ns), width)
        samples = np.asarray(g["samples"])[:width]
        for ax, s in zip(axes[0], samples, strict=False):
            _gray(ax, s)
        for ax in axes[0, len(samples) :]:
            ax.set_axis_off()
        axes[0, 0].set_ylabel("samples", fontsize=9)
        for r, n in enumerate(ns, start=1):
            for c in range(width):
                if c < len(classes):
                    _map(
                        axes[r, c],
                        g["maps"][r - 1][c],
                        f"{classes[c]} ({_fmt_n(g['counts'][r - 1][c])})",
                        colorbar=False,
                    )
                else:
                    axes[r, c].set_axis_off()
            axes[r, 0].set_ylabel(f"n = {_fmt_n(n)}", fontsize=9)
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
    left, right = _grid(fig, 1, 2)[0]
    lows, highs = [-0.05], [100 * chance if chance is not None else 0.0]
    for label, cv in curves.items():
        x = list(ns)
        corr = _floats(cv["correlation"])
        acc = 100 * _floats(cv["accuracy"])
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
        title=f"Bias maps at n vs at n={_fmt_n(max(ns))} (mean over classes)",
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


def _attack_panel(parent: FigureBase, name: str, p: Mapping[str, Any], classes: Sequence[str]) -> None:
    """Rows: template (on its own grey range), digit + template, noise + template (on [0, 1]);
    titles give the model's label of each stimulus, green when it is the template's class."""
    k = len(classes)
    templates = np.asarray(p["templates"], dtype=np.float64)
    have = np.isfinite(templates).reshape(k, -1).all(1)
    axes = _grid(parent, 3, k)
    rows = (
        (axes[0], "template", templates, None, "template\n(own grey range)"),
        (axes[1], "digit", p["digits"], p["digit_labels"], f"digit + template\nγ = {p['gamma_digit']:g}"),
        (axes[2], "noise", p["noise"], p["noise_labels"], f"noise + template\nγ = {p['gamma_noise']:g}"),
    )
    hits = {}
    for row, key, images, labels, ylabel in rows:
        for j, (ax, img) in enumerate(zip(row, images, strict=False)):
            if not have[j]:
                _bare(ax, f"target {classes[j]}" if labels is None else "")
                _blank(ax, np.shape(img)[1:], "no template")
            elif labels is None:
                _gray(ax, img, f"target {classes[j]}", None, None)
            else:
                hit = int(labels[j]) == j
                _gray(ax, img, f"model: {_label(classes, int(labels[j]))} {'✓' if hit else '✗'}")
                ax.title.set_color("tab:green" if hit else "tab:red")
        if labels is not None:
            hits[key] = int((np.asarray(labels) == np.arange(k)).sum())
        row[0].set_ylabel(ylabel, fontsize=8)
    parent.suptitle(
        f"{name} ({int(have.sum())} of {k} classes have a template): labelled as the target "
        f"{hits['digit']}/{int(have.sum())} digits and {hits['noise']}/{int(have.sum())} "
        "noise images (✓)",
        fontsize=10,
    )


def fig6(
    panels: Mapping[str, Mapping[str, Any]],
    gammas: Sequence[float],
    rates: Mapping[str, np.ndarray],
    classes: Sequence[str],
    *,
    paper: Mapping[str, Sequence[float]] | None = None,
    title: str = "",
) -> Figure:
    """Targeted attack with class templates (paper Fig. 6, 17, Table 2).

    ``panels`` (e.g. "bias maps", "mean images") each have ``templates`` (K, C, H, W),
    ``digits`` and ``noise`` (K, C, H, W) a test digit and a noise image mixed with each
    template at ``gamma_digit`` and ``gamma_noise``, and the model's labels of them,
    ``digit_labels`` and ``noise_labels`` (K,) (-1: no template). Stimuli are drawn on the
    grey range [0, 1]. The last panel plots, for each ``rates`` entry (G, K), the mean over
    the classes with a template of the fraction classified as the target vs ``gammas``, with
    ``paper`` (name -> G values) dashed in the same colour.
    """
    k = len(classes)
    fig = plt.figure(figsize=(max(11.0, 1.2 * k + 1), 4.1 * len(panels) + 4.6), layout="constrained")
    subs = np.atleast_1d(fig.subfigures(len(panels) + 1, 1, height_ratios=[4.1] * len(panels) + [4.6]))
    letters = "ABCDEFGH"
    for sub, letter, (name, p) in zip(subs, letters, panels.items(), strict=False):
        _attack_panel(sub, f"{letter}) {name}", p, classes)
    bottom = subs[-1]
    ax = bottom.subplots()
    for i, (name, r) in enumerate(rates.items()):
        r = np.asarray(r, dtype=np.float64)
        have = np.isfinite(r).all(0)
        colour = f"C{i}"
        mean = r[:, have].mean(1) if have.any() else np.full(len(gammas), np.nan)
        ax.plot(gammas, mean, marker="o", ms=4, color=colour, label=f"{name} ({int(have.sum())}/{k} classes)")
        if paper is not None and name in paper:
            ax.plot(gammas, _floats(paper[name]), ls="--", color=colour, alpha=0.7, label=f"{name}, paper")
    ax.axhline(1 / k, color="0.5", ls=":", label=f"chance (1/{k})")
    ax.set(
        xlabel="γ (weight of the template)",
        ylabel="fraction classified as the target",
        ylim=(0, 1.03),
        xlim=(min(gammas) - 0.02, max(gammas) + 0.02),
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="upper left")
    bottom.suptitle(
        f"{letters[len(panels)]}) (1 − γ) · digit or noise + γ · template of the target class: "
        "mean over target classes with a template (all test digits; dashed: paper, Table 2)",
        fontsize=10,
    )
    if title:
        fig.suptitle(title, fontsize=11, fontweight="bold")
    return fig


def gradients(rows: Mapping[str, np.ndarray], classes: Sequence[str], *, title: str = "") -> Figure:
    """Mean gradient of the loss with respect to the input per true class (paper Fig. 7D).

    One row per entry of ``rows`` (K, C, H, W) (NaN for classes without images), on a
    diverging colour map symmetric around 0 with one scale per row; multi-channel gradients
    are summed over the channels (the effect of brightening a pixel).
    """
    k = len(classes)
    fig = plt.figure(figsize=(1.35 * k + 1.2, 1.85 * len(rows) + 0.9), layout="constrained")
    subs = np.atleast_1d(fig.subfigures(len(rows), 1))
    for sub, (name, g) in zip(subs, rows.items(), strict=False):
        g = np.asarray(g, dtype=np.float64).sum(1)  # NaN stays NaN
        finite = np.abs(g[np.isfinite(g)])
        lim = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        axes = _grid(sub, 1, k)[0]
        for ax, gk, c in zip(axes, g, classes, strict=False):
            _bare(ax, c)
            if np.isfinite(gk).any():
                ax.imshow(gk, cmap=DIVERGING, vmin=-lim, vmax=lim)
            else:
                _blank(ax, gk.shape, "no images")
        cb = sub.colorbar(
            ScalarMappable(Normalize(-lim, lim), DIVERGING),
            ax=list(axes),
            fraction=0.02,
            pad=0.01,
            ticks=[-lim, 0, lim],
        )
        cb.ax.set_yticklabels([f"{-lim:.2g}", "0", f"{lim:.2g}"], fontsize=7)
        sub.suptitle(name, fontsize=10)
    fig.suptitle(
        f"{title or 'Mean gradient of the loss with respect to the input, per true class'}\n"
        "blue: raising the pixel lowers the loss; red: raising it raises the loss "
        "(one colour scale per row)",
        fontsize=10,
    )
    return fig


# --------------------------------------------------------------------------- backdoors


def _outline(ax: Axes, box: Sequence[int]) -> None:
    """The patch's box (top, left, bottom, right; exclusive) as a dashed rectangle."""
    top, left, bottom, right = box
    ax.add_patch(
        Rectangle(
            (left - 0.5, top - 0.5),
            right - left,
            bottom - top,
            fill=False,
            edgecolor="k",
            linestyle="--",
            linewidth=0.8,
        )
    )


def fig7(
    confusions: Confusions,
    clean: MapSet,
    poisoned: MapSet,
    box: Sequence[int],
    excess: Mapping[str, np.ndarray],
    found: Mapping[str, Mapping[str, Any]],
    *,
    title: str = "",
) -> Figure:
    """Paper Fig. 7A/B and Fig. 18 for one backdoor: confusion matrices on the clean and the
    patched test set; the bias maps of a clean and of a poisoned model of the same
    architecture (patch outlined); and the localized excess over clean reference models
    behind the detection score, with the location it finds."""
    classes = list(poisoned["classes"])
    k = len(classes)
    fig = plt.figure(figsize=(max(13, 1.5 * k), 15), layout="constrained")
    top, maps, bottom = fig.subfigures(3, 1, height_ratios=[1.15, 1.6, 1.0])
    _confusion_row(top, confusions, classes)
    top.suptitle("A. Confusion matrices (rows: true class)", fontsize=10, x=0.02, ha="left")
    axes = _grid(maps, 2, k)
    for row, ms in enumerate((clean, poisoned)):
        titles = [f"{c}\nn={int(n):,}" for c, n in zip(ms["classes"], ms["counts"], strict=False)]
        for ax, m, t in zip(axes[row], ms["maps"], titles, strict=False):
            _map(ax, m, t, colorbar=False)
            _outline(ax, box)
        axes[row, 0].set_ylabel(ms["title"].split(":")[0], fontsize=9)
    maps.suptitle(
        f"B. Bias maps: top {clean['title']}; bottom {poisoned['title']}\n{MAP_NOTE}; "
        "dashed: where the patch is (not used by the detector)",
        fontsize=9,
        x=0.02,
        ha="left",
    )
    axes = _grid(bottom, 1, len(excess))[0]
    for ax, (role, ex) in zip(axes, excess.items(), strict=False):
        f = found[role]
        _map(
            ax,
            np.asarray(ex)[None],
            f"{role} model: class {_label(classes, f['class'])}, "
            f"score {f['score']:.1f}\nfound at row {f['row']}, col {f['col']}",
        )
        ax.plot(f["col"], f["row"], marker="o", markersize=12, markerfacecolor="none", color="k")
        _outline(ax, box)
    bottom.suptitle(
        "C. Localized excess of the z-map over clean reference models (z units), "
        "in the class where it is largest; circle: the detector's location",
        fontsize=9,
        x=0.02,
        ha="left",
    )
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def backdoor_detection(results: Sequence[Mapping[str, Any]]) -> Figure:
    """Detection scores of clean and poisoned models per backdoor, with the AUROC."""
    fig, axes = plt.subplots(
        1, len(results), figsize=(4.2 * len(results) + 1, 4.2), squeeze=False, layout="constrained"
    )
    for ax, r in zip(axes[0], results, strict=False):
        for x, role, colour in ((0, "clean", "tab:blue"), (1, "poisoned", "tab:red")):
            ms = [m for m in r["models"] if m["role"] == role]
            jitter = np.linspace(-0.12, 0.12, len(ms)) if len(ms) > 1 else np.zeros(len(ms))
            ax.scatter(
                x + jitter,
                [m["score"] for m in ms],
                color=colour,
                zorder=3,
                marker="o",
                label=f"{role} ({len(ms)} seeds)",
            )
            hits = [m for m in ms if m["hit"]]
            ax.scatter(
                x + jitter[[ms.index(m) for m in hits]],
                [m["score"] for m in hits],
                s=120,
                facecolors="none",
                edgecolors="k",
                zorder=4,
                label="location on the patch" if role == "poisoned" else None,
            )
        ax.set_xticks([0, 1], ["clean", "poisoned"])
        ax.set_xlim(-0.5, 1.5)
        ax.set_ylabel("detection score (largest localized excess, z)")
        spec = r["spec"]
        ax.set_title(
            f"{r['name']}: {spec['patch']} patch, {spec['source']}→{spec['target']}\n"
            f"AUROC {r['auroc']:.2f} ({r['references']} reference models)",
            fontsize=9,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("Backdoor detection from white-noise classification images", fontsize=11)
    return fig


# --------------------------------------------------------------------------- layer activations


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
        _bare(ax, "\n".join(s for s in (f"{head}\n{how[0]}" if k == 0 else "", note) if s))
        if np.isfinite(img).any():
            ax.imshow(img, cmap="viridis", vmin=lo, vmax=hi)
        else:
            _blank(ax, img.shape)
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


def fig20(
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


def fig21(
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
    axes = _grid(fig, nrows, ncols)
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


# --------------------------------------------------------------------------- single units


def _filter_grid(parent: FigureBase, filters: np.ndarray, titles: Sequence[str], ncols: int) -> None:
    """Filters (K, C, h, w) in a grid, each on its own scale (see the module docstring)."""
    k = len(filters)
    axes = _grid(parent, -(-k // ncols), ncols).ravel()
    for ax, f, t in zip(axes, filters, titles, strict=False):
        _map(ax, f, t, colorbar=False)
    for ax in axes[k:]:
        ax.set_axis_off()


def fig8(layers: Mapping[str, Mapping[str, Any]], *, title: str = "", max_filters: int = 20) -> Figure:
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
            head += f", n={_fmt_n(count)}"
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

    Each unit is (label, result, shape) with ``result`` from :meth:`revcor.analyses.neurons.STC.result`:
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
    axes = _grid(right, 2, ncols)
    _map(axes[0, 0], np.reshape(result["sta"], shape), "STA", colorbar=False)
    axes[1, 0].set_axis_off()
    for row, (kind, idx) in enumerate((("excitatory", exc), ("suppressive", sup))):
        panels = axes[row, 1:]
        for ax_, i in zip(panels, idx[:max_vectors], strict=False):
            _map(ax_, vecs[i].reshape(shape), f"{kind} λ{i + 1}\n= {vals[i]:.3g}", colorbar=False)
        for ax_ in panels[len(idx[:max_vectors]) :]:
            ax_.set_axis_off()
        if not idx:
            panels[0].set_axis_on()
            _bare(panels[0])
            _blank(panels[0], shape[1:], f"no {kind}\neigenvalue")
    parent.suptitle(
        f"{label} (n={_fmt_n(result['n'])}, n_sp={float(result['n_sp']):,.0f}); "
        "STA and eigenvectors of the significant eigenvalues, own scale each",
        fontsize=9,
    )


# --------------------------------------------------------------------------- microstimulation


def psychometric(
    rates: np.ndarray,
    gammas: Sequence[float],
    layers: Sequence[str],
    ks: Mapping[str, Sequence[float]],
    classes: Sequence[str],
    x: np.ndarray,
    fitted: Mapping[str, np.ndarray],
    *,
    largest: np.ndarray | None = None,
    skipped: Mapping[str, str] | None = None,
    title: str = "",
) -> Figure:
    """Psychometric curves (paper Fig. 9, 23-25): one panel per layer (rows) and target class
    (columns), the fraction of stimuli labelled as the target vs the signal weight gamma, one
    colour per k of that layer (``ks[layer]``; redder = stronger stimulation), points = data,
    lines = the fitted functions evaluated at ``x`` (``fitted["{layer}/{k}/{class}"]``).
    ``rates`` is (layers, ks, classes, gammas); negative entries (no curve) are left out.
    ``largest`` (layers, ks, classes), the largest bias change, is quoted in each row's legend
    (median over classes). ``skipped["{layer}/{class}"]`` says why a panel has no curves."""
    nl, nc = len(layers), len(classes)
    fig, axes = plt.subplots(
        nl,
        nc,
        figsize=(max(1.9 * nc + 2.6, 7.0), 1.8 * nl + 1.4),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    for li, layer in enumerate(layers):
        colours = plt.cm.Reds(np.linspace(0.35, 1, max(1, len(ks[layer]))))
        for ci, cls in enumerate(classes):
            ax = axes[li, ci]
            for ki, k in enumerate(ks[layer]):
                r = np.asarray(rates[li, ki, ci], dtype=np.float64)
                if (r < 0).any():
                    continue
                colour = "k" if k == 0 else colours[ki]
                ax.plot(gammas, r, "o", ms=2.5, color=colour)
                y = fitted.get(f"{layer}/{k:g}/{cls}")
                if y is None:
                    continue
                label = f"k={k:g}"
                if k == 0:
                    label += " (none)"
                elif largest is not None and np.isfinite(largest[li, ki]).any():
                    label += f", |Δb|≤{np.nanmedian(largest[li, ki]):.2g}"
                ax.plot(x, y, color=colour, lw=1, label=label)
            reason = (skipped or {}).get(f"{layer}/{cls}")
            if reason:
                ax.set_facecolor("0.93")
                ax.text(
                    0.5,
                    0.5,
                    "\n".join(textwrap.wrap(reason, 22)),
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    fontsize=6,
                    color="0.35",
                )
            ax.set_title(f"{layer}: target {cls}", fontsize=7)
            ax.set_ylim(-0.03, 1.03)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=6)
        axes[li, 0].set_ylabel("fraction called\nthe target", fontsize=7)
        handles, labels = axes[li, 0].get_legend_handles_labels()
        if handles:
            axes[li, -1].legend(
                handles,
                labels,
                loc="upper left",
                bbox_to_anchor=(1.02, 1),
                fontsize=6,
                title=f"{layer}",
                title_fontsize=6,
                frameon=False,
            )
    for ax in axes[-1]:
        ax.set_xlabel("γ (signal weight)", fontsize=7)
    fig.suptitle(title or "Psychometric curves", fontsize=10)
    return fig
