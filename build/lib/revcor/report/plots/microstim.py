"""Microstimulation figure: psychometric curves of stimulated layers."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


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
