"""The ``train`` rule: train a model of the config on its dataset and record its test metrics."""

from __future__ import annotations

from typing import Any

import torch

from revcor.base import store
from revcor.data import datasets
from revcor.models import architectures, loading
from revcor.models.train import evaluate, train


def train_on_dataset(
    dataset_path: str,
    settings: dict[str, Any],
    *,
    model_out: str,
    metrics_out: str,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Build ``settings["arch"]``, train it on a dataset artifact, save the model and metrics.

    ``settings`` holds arch, kwargs, epochs, lr, batch_size, optimizer, momentum and seed.
    The model file records the dataset, its class names and provenance.
    """
    tr, te = datasets.load(dataset_path, "train"), datasets.load(dataset_path, "test")
    in_shape, classes = tuple(tr.images.shape[1:]), tr.classes
    torch.manual_seed(settings["seed"])
    model = architectures.build(settings["arch"], in_shape, len(classes), **settings.get("kwargs", {}))
    metrics = train(
        model,
        tr.images,
        tr.labels,
        epochs=settings["epochs"],
        lr=settings["lr"],
        batch_size=settings["batch_size"],
        optimizer=settings["optimizer"],
        momentum=settings.get("momentum", 0.0),
        seed=settings["seed"],
        device=device,
        progress=progress,
        test=(te.images, te.labels),
    )
    with store.open_artifact(dataset_path, "dataset") as f:
        provenance = {k: store.get_attr(f, k) for k in ("name", "source", "subset", "description")}
        patched = "test_patched" in f
    if patched:  # a backdoored dataset: also the test set with every source-class image patched
        tp = datasets.load(dataset_path, "test_patched")
        metrics["test_patched"] = evaluate(model, tp.images, tp.labels, device=device)
    metrics |= {
        "arch": settings["arch"],
        "kwargs": settings.get("kwargs", {}),
        "classes": classes,
        "dataset": provenance,
        "device": str(device),
        "torch": torch.__version__,
    }
    model.cpu()
    loading.save(
        model,
        model_out,
        arch=settings["arch"],
        in_shape=in_shape,
        num_classes=len(classes),
        kwargs=settings.get("kwargs", {}),
        meta={"classes": classes, "dataset": provenance["name"], "settings": settings},
    )
    store.write_json(metrics_out, metrics)
    return metrics
