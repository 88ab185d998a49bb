"""What every figure shares: panels (maps, grey images, confusion matrices), colour
conventions and saving.

A *map set* is a dict describing the classification images of one experiment:

- ``maps`` (K, C, H, W): bias maps minus the mean noise (``maps_centered`` of a maps
  artifact); NaN for classes no noise sample fell into;
- ``counts`` (K,): noise samples per predicted class; ``classes``: the K class names;
- ``n``: number of noise samples; ``title``: heading of the panel;
- ``feedback`` (K,), optional: the model's label for each bias map fed back as an image
  (-1 for empty classes).

Single-channel maps are drawn with a diverging colour map centred on zero (red: brighter
than the mean noise, blue: darker), each scaled to its own largest absolute value; RGB maps
are min-max normalised per map; maps of any other channel count (2, 4, ...) show their
channels side by side with the diverging colour map. A confusion matrix is given as ``(matrix, accuracy)`` with
rows = true class and is drawn row-normalised; ``(None, None)`` marks a classifier without any
usable template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure, FigureBase  # noqa: E402

from revcor.base.store import atomic_path

MapSet = Mapping[str, Any]
Confusions = Mapping[str, tuple[np.ndarray | None, float | None]]

DIVERGING = "RdBu_r"
EMPTY = "no samples"
MAP_NOTE = "colour: mean noise of the class minus the mean of all noise (red brighter), each map on its own scale"
TITLE_SIZE = 8  # font size of panel titles


def to_hwc(img: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) for one channel, (H, W, 3) for RGB; any other channel count is
    drawn as one image of the channels side by side, one blank column apart."""
    img = np.asarray(img, dtype=np.float64)
    c, h, w = img.shape
    if c == 1:
        return img[0]
    if c == 3:
        return np.moveaxis(img, 0, -1)
    out = np.full((h, c * (w + 1) - 1), np.nan)
    for i in range(c):
        out[:, i * (w + 1) : i * (w + 1) + w] = img[i]
    return out


def bare(ax: Axes, title: str = "") -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)


def blank(ax: Axes, shape: tuple[int, ...], label: str = EMPTY) -> None:
    """An empty panel of an image's size: grey background and a label instead of the image."""
    ax.set(xlim=(-0.5, shape[1] - 0.5), ylim=(shape[0] - 0.5, -0.5), aspect="equal")
    ax.set_facecolor("0.93")
    ax.text(0.5, 0.5, label, ha="center", va="center", transform=ax.transAxes, fontsize=TITLE_SIZE, color="0.35")


def add_colorbar(ax: Axes, im, ticks: Sequence[float] | None = None) -> None:
    """A slim colour bar beside ``ax``; for ``im=None`` (empty panel) an invisible one, so
    that panels keep their size."""
    cb = ax.get_figure().colorbar(im or ScalarMappable(cmap="gray"), ax=ax, fraction=0.046, pad=0.03, ticks=ticks)
    cb.ax.tick_params(labelsize=6)
    if im is None:
        cb.ax.set_axis_off()
        cb.solids.set_visible(False)
    elif ticks is not None:
        cb.ax.set_yticklabels([f"{t:.2g}" for t in ticks])


def draw_map(ax: Axes, m: np.ndarray, title: str = "", *, colorbar: bool = True) -> None:
    """One classification image: diverging around 0 (one channel) or normalised RGB."""
    bare(ax, title)
    img = to_hwc(m)
    finite = np.isfinite(img).any()
    if img.ndim == 3 and finite:
        lo, hi = np.nanmin(img), np.nanmax(img)
        ax.imshow(np.clip((img - lo) / (hi - lo if hi > lo else 1.0), 0, 1))
        return
    lim = float(np.nanmax(np.abs(img))) if finite else 0.0
    im = ax.imshow(img, cmap=DIVERGING, vmin=-lim, vmax=lim) if lim else None
    if im is None:
        blank(ax, img.shape, EMPTY if not finite else "equal to the\nmean of all noise")
    if colorbar and img.ndim == 2:
        add_colorbar(ax, im, [-lim, 0, lim])


def draw_gray(
    ax: Axes,
    img: np.ndarray,
    title: str = "",
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
    *,
    colorbar: bool = False,
) -> None:
    """A stimulus-like image in grey levels (None limits: the image's range); RGB as is."""
    bare(ax, title)
    img = to_hwc(img)
    im = None
    if not np.isfinite(img).any():
        blank(ax, img.shape)
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
        add_colorbar(ax, im)


def class_label(classes: Sequence[str], i: int) -> str:
    return classes[i] if 0 <= i < len(classes) else "—"


def map_titles(ms: MapSet, sep: str = " ") -> list[str]:
    """'true c → pred p' (when feedback is given; ``sep`` before the arrow) and the count of
    each class."""
    classes, counts = list(ms["classes"]), np.asarray(ms["counts"])
    fb = ms.get("feedback")
    heads = (
        classes
        if fb is None
        else [f"true {c}{sep}→ pred {class_label(classes, int(p))}" for c, p in zip(classes, fb, strict=False)]
    )
    return [f"{h}\nn={int(k):,}" for h, k in zip(heads, counts, strict=False)]


def subplot_grid(parent: FigureBase, nrows: int, ncols: int) -> np.ndarray:
    return parent.subplots(nrows, ncols, squeeze=False)


def map_grid(parent: FigureBase, ms: MapSet) -> None:
    """Every class's map of a map set, five per row, titled with labels and counts."""
    k = len(ms["classes"])
    ncols = min(5, k)
    axes = subplot_grid(parent, -(-k // ncols), ncols).ravel()
    for ax, m, title in zip(axes, ms["maps"], map_titles(ms), strict=False):
        draw_map(ax, m, title)
    for ax in axes[k:]:
        ax.set_axis_off()
    parent.suptitle(f"{ms.get('title', '')}\n{MAP_NOTE}", fontsize=10)


def draw_confusion(ax: Axes, cm: np.ndarray | None, accuracy: float | None, classes: Sequence[str], name: str):
    """Row-normalised confusion matrix with percentages in the cells (blank without one)."""
    k = len(classes)
    if cm is None:
        bare(ax, f"{name}\nno usable template")
        blank(ax, (k, k), "no usable template\n(every class empty\nor every map zero)")
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


def confusion_row(parent: FigureBase, confusions: Confusions, classes: Sequence[str]) -> None:
    axes = subplot_grid(parent, 1, len(confusions)).ravel()
    for ax, (name, (cm, acc)) in zip(axes, confusions.items(), strict=False):
        draw_confusion(ax, cm, acc, classes, name)
    parent.colorbar(
        ScalarMappable(Normalize(0, 1), "Blues"),
        ax=list(axes),
        fraction=0.02,
        pad=0.02,
        shrink=0.8,
        label="fraction of true class",
    )


def fmt_n(n: int) -> str:
    return f"{int(n):,}"


def save(fig: Figure, stem: str | Path) -> None:
    """Write ``{stem}.png`` (150 dpi) and ``{stem}.pdf`` atomically, then close ``fig``; the PDF
    keeps the layout computed for the PNG instead of laying the figure out again."""
    try:
        for fmt in ("png", "pdf"):
            with atomic_path(f"{stem}.{fmt}") as tmp:
                fig.savefig(tmp, format=fmt, dpi=150)
            fig.set_layout_engine("none")
    finally:
        plt.close(fig)


def as_floats(values: Sequence[float | None]) -> np.ndarray:
    """A list with None entries as a float array with NaN (plotted as gaps)."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def pct_list(fractions: Sequence[float]) -> str:
    """Per-channel fractions as '96.1%' or 'R 97.1%, G 97.5%, B 97.9%'."""
    fr = [float(f) for f in np.atleast_1d(fractions)]
    if len(fr) == 1:
        return f"{fr[0]:.1%}"
    names = ("R", "G", "B") if len(fr) == 3 else [f"ch{i}" for i in range(len(fr))]
    return ", ".join(f"{c} {f:.1%}" for c, f in zip(names, fr, strict=False))


def range_note(img: np.ndarray) -> str:
    """'' for an image within [0, 1], else its range and that the display clips it."""
    img = np.asarray(img, dtype=np.float64)
    lo, hi = np.nanmin(img), np.nanmax(img)
    return "" if lo >= 0 and hi <= 1 else f"\nrange [{lo:.2f}, {hi:.2f}], clipped"
