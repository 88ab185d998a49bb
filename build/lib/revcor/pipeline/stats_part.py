"""The ``stats_part`` rule: one part's responses reduced to sufficient statistics."""

from __future__ import annotations

from pathlib import Path

import torch

from revcor.base import store
from revcor.core import engine
from revcor.core.reduce import reduce_responses
from revcor.core.stats import kept, layout_for
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
