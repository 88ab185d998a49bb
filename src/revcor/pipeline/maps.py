"""The ``maps`` rule: classification images from merged statistics, with feedback through the model."""

from __future__ import annotations

from pathlib import Path

import torch

from revcor.core import maps, significance
from revcor.models import loading


def write(
    stats_path: str | Path,
    model_path: str | Path,
    out: str | Path,
    device: torch.device,
    *,
    null: str | Path | None = None,
    statistics: dict | None = None,
    noise_kind: str = "white",
) -> None:
    """Classification images at every checkpoint, the model's label for each bias map, and
    (given the experiment's ``null`` maps) their significance, InfoVal and reliability."""
    loaded = loading.load(str(model_path), device=device)
    tests = None
    if null is not None:
        tests = significance.NullTest.from_settings(significance.NullBank.load(null), statistics or {}, noise_kind)
    maps.write(stats_path, out, model=loaded.module, device=device, input_shape=loaded.in_shape, tests=tests)
