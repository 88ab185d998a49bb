"""The ``template_eval`` and ``baselines`` rules: bias maps as template classifiers, and the
templates that need labelled data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from revcor.base import store
from revcor.core import evaluate
from revcor.data import datasets
from revcor.models import loading
from revcor.models.layers import get_layer


def _finite(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def template_eval(maps_path: str | Path, dataset_path: str | Path, out: str | Path) -> dict:
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


def baselines(
    dataset_path: str | Path, out_json: str | Path, out_h5: str | Path, logreg_path: str | Path | None = None
) -> dict:
    """Template classifiers that need the labelled data: mean training images and, when a
    logistic-regression model is given, its weight vectors (paper Fig. 2C)."""
    train, test = datasets.load(dataset_path, "train"), datasets.load(dataset_path, "test")
    k = len(train.classes)
    images = test.images.astype(np.float64) / 255
    means = evaluate.mean_images(train.images, train.labels, k)
    result = {
        "classes": train.classes,
        "dataset": str(dataset_path),
        "mean_images": evaluate.template_accuracy(means, images, test.labels),
    }
    arrays = {"mean_images": means}
    if logreg_path is not None:
        layer = get_layer(loading.load(str(logreg_path)).module, "fc")
        weights = layer.weight.detach().double().numpy().reshape(k, *train.images.shape[1:])
        result["logreg_weights"] = evaluate.template_accuracy(weights, images, test.labels)
        arrays["logreg_weights"] = weights
    with store.create(out_h5, {"kind": "baselines", "classes": train.classes}) as f:
        store.write_arrays(f, arrays)
    store.write_json(out_json, result)
    return result
