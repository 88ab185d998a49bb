"""The ``null`` rule: standardised null maps of one noise source and size, shared by every
experiment that draws from it (see :mod:`revcor.core.nulls`)."""

from __future__ import annotations

from pathlib import Path

import torch

from revcor.core import nulls
from revcor.data import datasets
from revcor.noise import sources


def write(
    noise: dict,
    dataset: str | Path,
    out: str | Path,
    settings: dict,
    storage: str,
    *,
    input_size: int | None = None,
    generator: str | Path | None = None,
    device: torch.device,
    progress: bool = False,
) -> None:
    """Draw the null bank of ``noise`` (an experiment's ``noise`` entry) with the ``statistics``
    ``settings`` (null_maps, null_draws, seed), at the size the experiment's maps have: the
    noise's ``size`` if it has one, else the model's input (``input_size`` when a backbone's
    differs from its dataset's images, else the images of ``dataset``)."""
    channels, height, width = datasets.image_shape(dataset)
    side = noise.get("size") or input_size
    shape = (channels, side, side) if side else (channels, height, width)
    source = sources.for_experiment({"noise": noise}, storage, shape, generator, device)
    nulls.null_bank(source, settings, device=device, progress=progress).save(out)
