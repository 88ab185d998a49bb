"""The ``stats_part`` and ``stats`` rules: sufficient statistics of each part, and their sum."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from revcor.base import store
from revcor.core import engine, maps
from revcor.core.reduce import Stats, checkpoints, layout_for, merge, reduce_responses
from revcor.noise import sources


def kept(spec: dict, chunk_size: int) -> list[int]:
    """The checkpoints an experiment keeps; for ``n: auto`` also every round's total, so that
    the statistics of any number of rounds can stop there."""
    if spec["n"] == engine.AUTO:
        return checkpoints(spec["max_n"], [*spec.get("checkpoints", []), *engine.rounds(spec["max_n"], chunk_size)])
    return checkpoints(spec["n"], spec.get("checkpoints", []))


def part(
    spec: dict,
    engine_cfg: dict,
    responses_path: str | Path,
    out: str | Path,
    *,
    dataset_path: str | Path | None = None,
    generator: str | Path | None = None,
    device: torch.device,
    progress: bool = False,
) -> None:
    """Reduce one part's responses to sufficient statistics."""
    with store.open_artifact(responses_path, "responses") as f:
        shape = tuple(store.get_attr(f, "noise")["shape"])
        classes = store.get_attr(f, "classes")
        chunk_size = int(f.attrs["chunk_size"])
    src = sources.for_experiment(spec, engine_cfg["storage"], shape, generator, device)
    signal = engine.signal_for(spec, dataset_path, device)
    stats = reduce_responses(
        responses_path,
        src,
        layout_for(spec, classes),
        kept(spec, chunk_size),
        device,
        signal=signal,
        threshold=engine_cfg["threshold"],
        progress=progress,
        desc=f"reduce {Path(responses_path).parent.name}",
    )
    stats.save(out, {"classes": classes})


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
