"""The ``given_model`` rule: a model the user brings (file, factory or torchvision weights),
checked against its dataset before any long work, written as a revcor model file with its
test metrics. Nothing is trained."""

from __future__ import annotations

import time
from typing import Any

import torch

from revcor.base import store
from revcor.data import datasets
from revcor.models import given, specs
from revcor.models.layers import get_layer
from revcor.models.loading import check_fits
from revcor.models.specs import ModelError
from revcor.models.train import evaluate

CHECK_IMAGES = 256  # test images the outputs are checked on


def import_model(
    dataset_path: str,
    settings: dict[str, Any],
    *,
    name: str,
    layers: dict[str, list[str]] | None = None,
    model_out: str,
    metrics_out: str,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Write the given model ``settings`` for a dataset artifact as ``model_out`` (nothing is
    kept if it does not fit the data, or lacks a layer that ``layers``, {analysis: layers},
    names) and its test metrics as ``metrics_out``."""
    t0 = time.perf_counter()
    test = datasets.load(dataset_path, "test")
    in_shape, classes = tuple(int(s) for s in test.images.shape[1:]), test.classes
    with store.open_artifact(dataset_path, "dataset") as f:
        provenance = {k: store.get_attr(f, k) for k in ("name", "source", "subset", "description")}
    meta = {"classes": classes, "dataset": provenance["name"], "settings": settings}
    with store.atomic_path(model_out) as tmp:
        loaded = given.write(settings, tmp, in_shape=in_shape, num_classes=len(classes), meta=meta)
        module = loaded.module.to(device)
        check_fits(module, in_shape, len(classes), f"model {name}")
        given.check_outputs(module, datasets.to_tensor(test.images[:CHECK_IMAGES]), f"model {name}")
        for analysis, named in (layers or {}).items():
            try:
                for layer in named:
                    get_layer(module, layer)
            except ModelError as e:
                raise ModelError(f"{analysis} cannot run on model {name}: {e}") from None
        metrics = {
            "given": specs.kind_of(settings),
            "source": loaded.source,
            "files": loaded.meta.get("files", {}),
            "in_shape": list(in_shape),
            "classes": classes,
            "dataset": provenance,
            "parameters": sum(p.numel() for p in module.parameters()),
            "test": evaluate(module, test.images, test.labels, device=device),
            "wall_time_s": time.perf_counter() - t0,
            "torch": torch.__version__,
        }
    store.write_json(metrics_out, metrics)
    return metrics
