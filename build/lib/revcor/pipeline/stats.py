"""The ``stats`` and ``converged`` rules: the parts' statistics summed, and whether an ``n: auto``
experiment may stop (NumPy only: these jobs start without the deep-learning stack)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from revcor.base import store
from revcor.core import maps
from revcor.core.stats import Stats, merge


def merge_parts(paths: list[str | Path], out: str | Path, *, auto: bool = False) -> None:
    """Add the parts' statistics; they must tile the experiment's samples (for ``n: auto``,
    the rounds run, whose total is the n reached)."""
    merged = merge([Stats.load(p) for p in paths])
    if auto:
        merged = merged.truncated()
    n = merged.attrs.get("n")
    if n is not None and (merged.start, merged.stop) != (0, n):
        raise ValueError(f"parts cover samples {merged.start}..{merged.stop}, expected 0..{n}")
    merged.save(out, {"parts": len(paths)})


def converged(paths: list[str | Path], spec: dict, out: str | Path) -> dict:
    """Whether an ``n: auto`` experiment may stop after the rounds ``paths``: every class with
    at least ``target.min_count`` samples has a split-half reliability of at least
    ``target.reliability``, or ``max_n`` samples are reached. Writes and returns the decision."""
    stats = merge([Stats.load(p) for p in paths]).truncated()
    m = maps.class_maps(stats)
    target = spec["target"]
    counts, reliability = m["counts"], m["reliability"]
    met = maps.meets_target(m, target)
    decision = {
        "round": len(paths) - 1,
        "n": stats.stop,
        "met": met,
        "done": met or stats.stop >= spec["max_n"],
        "target": target,
        "counts": counts.tolist(),
        "reliability": [float(r) if np.isfinite(r) else None for r in reliability],
    }
    store.write_json(out, decision)
    return decision
