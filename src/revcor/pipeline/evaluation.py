"""The ``evaluation`` rule: the bias maps of an experiment as template classifiers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from revcor.base import store
from revcor.core import evaluate
from revcor.data import datasets


def _finite(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def evaluate_templates(maps_path: str | Path, dataset_path: str | Path, out: str | Path) -> dict:
    """Template-classifier accuracy of the bias maps (centred and whitened maps too) at every
    checkpoint, beside each map's split-half reliability, InfoVal and number of significant
    pixels."""
    test = datasets.load(dataset_path, "test")
    images = test.images.astype(np.float64) / 255
    result = {"maps": str(maps_path), "dataset": str(dataset_path), "by_n": {}}
    with store.open_artifact(maps_path, "maps") as f:
        result["classes"] = store.get_attr(f, "classes")
        for n in store.get_attr(f, "checkpoints"):
            g = f[f"checkpoints/{n}"]
            result["by_n"][str(n)] = {
                "bias_maps": evaluate.template_accuracy(g["maps"][()], images, test.labels),
                "centered_maps": evaluate.template_accuracy(g["maps_centered"][()], images, test.labels),
                "reliability": _finite(g["reliability"][()]),
                "infoval": _finite(g["infoval"][()]),
                "significant_pixels": g["significant"][()].reshape(len(g["counts"]), -1).sum(1).tolist(),
            }
            if "whitened_maps" in g:
                entry = evaluate.template_accuracy(g["whitened_maps"][()], images, test.labels)
                result["by_n"][str(n)]["whitened_maps"] = entry
        result["n"] = int(f.attrs["n"])
    result["final"] = result["by_n"][str(result["n"])]
    store.write_json(out, result)
    return result
