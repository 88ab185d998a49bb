"""Attack and backdoor figures: the bias-map attack (Fig. 6), gradients, the poisoned
model's maps (Fig. 7) and backdoor detection."""

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
from matplotlib.patches import Rectangle  # noqa: E402

from revcor.report.plots.panels import (
    DIVERGING,
    MAP_NOTE,
    Confusions,
    MapSet,
    as_floats,
    bare,
    blank,
    class_label,
    confusion_row,
    draw_gray,
    draw_map,
    subplot_grid,
)


def _attack_panel(parent: FigureBase, name: str, p: Mapping[str, Any], classes: Sequence[str]) -> None:
    """Rows: template (on its own grey range), digit + template, noise + template (on [0, 1]);
    titles give the model's label of each stimulus, green when it is the template's class."""
    k = len(classes)
    templates = np.asarray(p["templates"], dtype=np.float64)
    have = np.isfinite(templates).reshape(k, -1).all(1)
    axes = subplot_grid(parent, 3, k)
    rows = (
        (axes[0], "template", templates, None, "template\n(own grey range)"),
        (axes[1], "digit", p["digits"], p["digit_labels"], f"digit + template\nγ = {p['gamma_digit']:g}"),
        (axes[2], "noise", p["noise"], p["noise_labels"], f"noise + template\nγ = {p['gamma_noise']:g}"),
    )
    hits = {}
    for row, key, images, labels, ylabel in rows:
        for j, (ax, img) in enumerate(zip(row, images, strict=False)):
            if not have[j]:
                bare(ax, f"target {classes[j]}" if labels is None else "")
                blank(ax, np.shape(img)[1:], "no template")
            elif labels is None:
                draw_gray(ax, img, f"target {classes[j]}", None, None)
            else:
                hit = int(labels[j]) == j
                draw_gray(ax, img, f"model: {class_label(classes, int(labels[j]))} {'✓' if hit else '✗'}")
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
            ax.plot(gammas, as_floats(paper[name]), ls="--", color=colour, alpha=0.7, label=f"{name}, paper")
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
        axes = subplot_grid(sub, 1, k)[0]
        for ax, gk, c in zip(axes, g, classes, strict=False):
            bare(ax, c)
            if np.isfinite(gk).any():
                ax.imshow(gk, cmap=DIVERGING, vmin=-lim, vmax=lim)
            else:
                blank(ax, gk.shape, "no images")
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
    confusion_row(top, confusions, classes)
    top.suptitle("A. Confusion matrices (rows: true class)", fontsize=10, x=0.02, ha="left")
    axes = subplot_grid(maps, 2, k)
    for row, ms in enumerate((clean, poisoned)):
        titles = [f"{c}\nn={int(n):,}" for c, n in zip(ms["classes"], ms["counts"], strict=False)]
        for ax, m, t in zip(axes[row], ms["maps"], titles, strict=False):
            draw_map(ax, m, t, colorbar=False)
            _outline(ax, box)
        axes[row, 0].set_ylabel(ms["title"].split(":")[0], fontsize=9)
    maps.suptitle(
        f"B. Bias maps: top {clean['title']}; bottom {poisoned['title']}\n{MAP_NOTE}; "
        "dashed: where the patch is (not used by the detector)",
        fontsize=9,
        x=0.02,
        ha="left",
    )
    axes = subplot_grid(bottom, 1, len(excess))[0]
    for ax, (role, ex) in zip(axes, excess.items(), strict=False):
        f = found[role]
        draw_map(
            ax,
            np.asarray(ex)[None],
            f"{role} model: class {class_label(classes, f['class'])}, "
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


def scan(result: Mapping[str, Any], z_model: np.ndarray, excess: np.ndarray | None, z_refs: np.ndarray) -> Figure:
    """A backdoor scan: the scanned model's z-map of the suspected target class and the
    location found, its excess over the references there, the references' mean z-map of that
    class, the share of noise each class gets, and the score beside each reference's own
    (leave-one-out) score."""
    k, loc, classes = result["target"], result["location"], list(result["classes"])
    name = classes[k]
    fig, axes = plt.subplots(1, 5, figsize=(16, 3.6), gridspec_kw={"width_ratios": [1, 1, 1, 1.2, 0.8]})
    draw_map(axes[0], z_model[k], f"scanned model: z-map of\nclass {name!r}")
    draw_map(axes[2], np.nanmean(z_refs[:, k], 0), f"references: mean z-map\nof class {name!r}")
    if excess is None:
        bare(axes[1], "excess over the references")
        blank(axes[1], z_model.shape[-2:], "no z-map: the model gave\nall noise one class")
    else:
        draw_map(axes[1], excess[None], f"excess over the {result['references']}\nreferences (smoothed z)")
        for ax in axes[:2]:
            _outline(ax, loc["box"])
    ax = axes[3]
    x = np.arange(len(classes))
    ax.bar(x - 0.2, result["answers"]["references_max"], 0.4, color="0.6", label="references (largest)")
    ax.bar(x + 0.2, result["answers"]["model"], 0.4, color="C3", label="scanned model")
    ax.set_xticks(x, classes, rotation=90 if max(map(len, classes)) > 2 else 0, fontsize=7)
    ax.set_ylabel("share of the noise images")
    a = result["answers"]
    above = " (above every reference)" if a["above_every_reference"] else ""
    ax.set_title(
        f"the class each noise image gets; most pulled: {classes[a['most_over']]!r}\n"
        f"({a['excess']:.1f} sd over the references' share){above}",
        fontsize=8,
    )
    ax.legend(fontsize=7)
    ax = axes[4]
    ref_scores = result["reference_scores"]
    ax.scatter(np.zeros(len(ref_scores)), ref_scores, color="0.5", label="each reference vs the others")
    if result["score"] is not None:
        ax.scatter([1], [result["score"]], color="C3", marker="D", label="scanned model")
    ax.set_xticks([0, 1], ["references", "scanned"])
    ax.set_xlim(-0.6, 1.6)
    ax.set_ylabel("largest local excess (score)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    if result["score"] is None:
        verdict = "no score: one class for all noise"
    elif not ref_scores:
        verdict = "too few references (< 3) to calibrate"
    else:
        verdict = "above every reference" if result["above_every_reference"] else "within the references' range"
    ax.set_title(f"score {result['score'] or 0:.1f}: {verdict}", fontsize=8)
    where = f"location row {loc['row']}, col {loc['col']} (dashed box)" if loc else "no location"
    fig.suptitle(
        f"Backdoor scan of {result['model']}: {'SUSPECT' if result['suspect'] else 'not suspect'}, "
        f"suspected target {name!r}, {where}, "
        f"{result['n']:,} white-noise images per model",
        fontsize=9,
    )
    fig.tight_layout()
    return fig
