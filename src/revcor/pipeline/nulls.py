"""The ``null`` rule: standardised null maps of one noise source and size, shared by every
experiment that draws from it (see :mod:`revcor.core.significance`)."""

from __future__ import annotations

from pathlib import Path

import torch

from revcor.core import significance
from revcor.data import datasets
from revcor.noise import sources


def write(
    noise: dict,
    dataset: str | Path,
    out: str | Path,
    settings: dict,
    storage: str,
    *,
    generator: str | Path | None = None,
    device: torch.device,
    progress: bool = False,
) -> None:
    """Draw the null bank of ``noise`` (an experiment's ``noise`` entry) at the image size of
    ``dataset`` with the ``statistics`` ``settings`` (null_maps, null_draws, seed)."""
    source = sources.for_experiment({"noise": noise}, storage, datasets.image_shape(dataset), generator, device)
    bank = significance.draw_bank(
        source,
        maps=settings["null_maps"],
        draws=settings["null_draws"],
        seed=settings["seed"],
        device=device,
        progress=progress,
    )
    bank.save(out)
