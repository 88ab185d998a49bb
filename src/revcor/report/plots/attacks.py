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


def attack(
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


def backdoor(
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
        "C. The paper's detection score: localized excess of the z-map over clean reference models "
        "(z units), in the class where it is largest; circle: its location",
        fontsize=9,
        x=0.02,
        ha="left",
    )
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def backdoor_detection(results: Sequence[Mapping[str, Any]]) -> Figure:
    """Per backdoor: every clean and poisoned model's p-value against the clean references
    (-log10 p; above the line: suspect at alpha), ringed where the location found is on the
    patch, with the AUROC of the calibrated score and of the paper's."""
    fig, axes = plt.subplots(
        1, len(results), figsize=(4.2 * len(results) + 1, 4.2), squeeze=False, layout="constrained"
    )
    for ax, r in zip(axes[0], results, strict=False):
        for x, role, colour in ((0, "clean", "tab:blue"), (1, "poisoned", "tab:red")):
            ms = [m for m in r["models"] if m["role"] == role]
            jitter = np.linspace(-0.12, 0.12, len(ms)) if len(ms) > 1 else np.zeros(len(ms))
            y = np.array([m["score"] for m in ms])
            ax.scatter(x + jitter, y, color=colour, zorder=3, label=f"{role} ({len(ms)} seeds)")
            hits = np.array([m["hit"] for m in ms], dtype=bool)
            ax.scatter(
                (x + jitter)[hits],
                y[hits],
                s=120,
                facecolors="none",
                edgecolors="k",
                zorder=4,
                label="location on the patch" if role == "poisoned" else None,
            )
        ax.axhline(-np.log10(r["alpha"]), color="k", linestyle="--", linewidth=0.8, label=f"alpha = {r['alpha']:g}")
        ax.set_xticks([0, 1], ["clean", "poisoned"])
        ax.set_xlim(-0.5, 1.5)
        ax.set_ylim(bottom=0)
        ax.set_ylabel("-log10 p against the clean references")
        spec = r["spec"]
        ax.set_title(
            f"{r['name']}: {spec['patch']} patch, {spec['source']}→{spec['target']}\n"
            f"suspect {r['suspects']['poisoned']}/{r['counts']['poisoned']} poisoned, "
            f"{r['suspects']['clean']}/{r['counts']['clean']} clean"
            + (f" ({sum(r['inconclusives'].values())} inconclusive)" if sum(r["inconclusives"].values()) else "")
            + f"; AUROC {r['auroc']:.2f} "
            f"(paper's score {r['paper_auroc']:.2f}); {r['references']} references",
            fontsize=8,
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("Backdoor detection: calibrated scans of clean and poisoned models", fontsize=11)
    return fig


EVIDENCE_LABELS = {
    "local": "local noise:\none class's images",
    "local_all": "local noise:\nother classes' images",
    "map": "white-noise\nz-map",
    "share": "share of local-\nnoise flips",
}


def scan(result: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> Figure:
    """A backdoor scan: where local noise drives the model to the target beyond the references
    (with the box found), what in the box does it, the causal check (the region pasted onto
    clean images: how often the model, and each reference, then answers the target), every
    score beside the references' own, and the share of white noise each class gets."""
    classes = list(result["classes"])
    t, loc, causal = result["target"], result["location"], result["causal"]
    name = classes[t]
    fig, axes = plt.subplots(
        1, 5, figsize=(19, 4.0), gridspec_kw={"width_ratios": [1, 1, 1.3, 1.5, 1.2]}, layout="constrained"
    )
    shape = np.shape(arrays["zmaps"])[-2:]
    if loc["box"] is None:
        for ax, what in zip(axes[:3], ("where", "what", "causal check"), strict=True):
            bare(ax, what)
            blank(ax, shape, "no local-noise map\nfor this class")
    else:
        source = f"images of {loc['source_class']!r}" if loc["source"] < len(classes) else "images of other classes"
        draw_map(axes[0], arrays["where"][None], f"where: noise on {source}\nturns them into {name!r}, beyond the refs")
        rows = loc["pattern_source"]
        pattern_of = f"images of {classes[rows]!r}" if rows < len(classes) else "images of other classes"
        draw_map(axes[1], arrays["what"], f"what: noise bits that push\n{pattern_of} to {name!r} (z)")
        for ax in axes[:2]:
            _outline(ax, loc["box"])
        _causal(axes[2], causal, name)
    _evidence(axes[3], result)
    ax = axes[4]
    x = np.arange(len(classes))
    refs = np.asarray(result["answers"]["references"])
    ax.bar(x - 0.2, refs.max(0), 0.4, color="0.6", label="references (largest)")
    ax.bar(x + 0.2, result["answers"]["model"], 0.4, color="C3", label="scanned model")
    ax.set_xticks(x, classes, rotation=90 if max(map(len, classes)) > 2 else 0, fontsize=7)
    ax.set_ylabel("share of the white-noise images")
    ax.set_title("the class each white-noise image gets\n(described, not a score: clean models differ)", fontsize=8)
    ax.legend(fontsize=7)
    box = loc["box"]
    where = (
        f"box rows {box[0]}-{box[2] - 1}, cols {box[1]}-{box[3] - 1} (p = {loc['p_value']:.2g})" if box else "no box"
    )
    fig.suptitle(
        f"Backdoor scan of {result['model']}: {result['verdict'].upper()} (p = {result['p_value']:.2g}, "
        f"alpha {result['alpha']:g}, {result['references']} references); target {name!r}, {where}\n{result['reason']}",
        fontsize=9,
    )
    return fig


def _causal(ax: Axes, causal: Mapping[str, Any], name: str) -> None:
    """Grouped bars: the share of clean images answered the target with the found pattern, and
    with binary noise, pasted in the box (the model), in boxes elsewhere (the model; whiskers:
    their range) and in the box through the references (whiskers: their range)."""
    groups = ("pattern", "noise")
    bars = (("found box", "box", "C3"), ("elsewhere", "elsewhere", "C1"), ("references", "references", "0.55"))
    for g, kind in enumerate(groups):
        c = causal[kind]
        for b, (label, key, colour) in enumerate(bars):
            values = np.atleast_1d(c[key]).astype(float)
            x, mean = g + (b - 1) * 0.27, float(np.mean(values)) if values.size else np.nan
            ax.bar(x, mean, 0.25, color=colour, label=label if g == 0 else None)
            if values.size > 1:
                ax.errorbar([x], [mean], [[mean - values.min()], [values.max() - mean]], color="k", capsize=3, lw=0.8)
    ax.axhline(causal["clean"], color="k", linestyle=":", linewidth=0.8, label="nothing pasted")
    ax.set_xticks(range(len(groups)), ["the map's pattern", "binary noise"], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"share of {causal['images']} clean images called {name!r}")
    ax.set_title("causal check: pasted onto clean images\nof the other classes", fontsize=8)
    ax.legend(fontsize=7, loc="upper right")


def _evidence(ax: Axes, result: Mapping[str, Any]) -> None:
    """Each score of the model (red) beside the references' own (grey), with its p-value."""
    kinds = list(result["evidence"])
    for i, kind in enumerate(kinds):
        e = result["evidence"][kind]
        refs = [v for v in e["reference_scores"] if v is not None]
        ax.scatter(np.full(len(refs), i), refs, color="0.5", zorder=3, label="references" if i == 0 else None)
        if e["score"] is not None:
            ax.scatter(
                [i + 0.15], [e["score"]], color="C3", marker="D", zorder=4, label="scanned model" if i == 0 else None
            )
    ax.set_xticks(
        range(len(kinds)),
        [
            f"{EVIDENCE_LABELS[k]}\np = {result['evidence'][k]['p_value']:.2g}"
            + f" (w {result['evidence'][k]['weight']:g})"
            for k in kinds
        ],
        fontsize=6,
    )
    ax.set_yscale("log")
    ax.set_ylabel("score (largest excess over the others)")
    ax.set_title(f"the evidence: p = {result['p_value']:.2g} = min(p / w) (weighted Bonferroni)", fontsize=8)
    ax.legend(fontsize=7)
