"""The ``gabor`` rule: fit the Gabor-PCA noise generator on a dataset's training split."""

from __future__ import annotations

from pathlib import Path

from revcor.base import store
from revcor.data import datasets
from revcor.noise import gabor


def fit(dataset_path: str | Path, settings: dict, out: str | Path, *, progress: bool = False) -> None:
    """Fit and save the generator; ``settings`` is the config's ``generators.gabor``."""
    train = datasets.load(dataset_path, "train")
    sizes = tuple(settings["sizes"]) if settings["sizes"] else None
    fitted = gabor.fit(
        train.images, sizes=sizes, alpha=settings["alpha"], components=settings["components"], progress=progress
    )
    gabor.save(fitted, out, {"dataset": str(dataset_path), "dataset_sha256": store.sha256(dataset_path)})
