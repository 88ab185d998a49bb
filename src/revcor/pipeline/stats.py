"""The ``stats_part`` and ``stats`` rules: sufficient statistics of each part, and their sum."""

from __future__ import annotations

from pathlib import Path

import torch

from revcor.base import store
from revcor.core import engine
from revcor.core.reduce import Stats, checkpoints, layout_for, merge, reduce_responses
from revcor.noise import sources


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
    src = sources.for_experiment(spec, engine_cfg["storage"], shape, generator, device)
    signal = engine.signal_for(spec, dataset_path, device)
    stats = reduce_responses(
        responses_path,
        src,
        layout_for(spec, classes),
        checkpoints(spec["n"], spec.get("checkpoints", [])),
        device,
        signal=signal,
        threshold=engine_cfg["threshold"],
        progress=progress,
        desc=f"reduce {Path(responses_path).parent.name}",
    )
    stats.save(out, {"classes": classes})


def merge_parts(paths: list[str | Path], out: str | Path) -> None:
    """Add the parts' statistics; they must tile the experiment's samples."""
    merged = merge([Stats.load(p) for p in paths])
    n = merged.attrs.get("n")
    if n is not None and (merged.start, merged.stop) != (0, n):
        raise ValueError(f"parts cover samples {merged.start}..{merged.stop}, expected 0..{n}")
    merged.save(out, {"parts": len(paths)})
