"""The ``maps`` rule: classification images from merged statistics, with feedback through the model."""

from __future__ import annotations

from pathlib import Path

import torch

from revcor.core import maps
from revcor.models import loading


def write(stats_path: str | Path, model_path: str | Path, out: str | Path, device: torch.device) -> None:
    """Classification images at every checkpoint, and the model's label for each bias map."""
    loaded = loading.load(str(model_path), device=device)
    maps.write(stats_path, out, model=loaded.module, device=device, input_shape=loaded.in_shape)
