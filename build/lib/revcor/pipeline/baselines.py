"""The ``baselines`` rule: the template classifiers that need labelled data (paper Fig. 2C)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from revcor.base import store
from revcor.core import evaluate
from revcor.data import datasets
from revcor.models import loading
from revcor.models.layers import get_layer


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
