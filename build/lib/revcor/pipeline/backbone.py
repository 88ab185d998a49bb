"""The ``backbone`` rule: a torchvision ImageNet backbone as a revcor model file (pretrained
or random weights; never trained), with its metrics."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from revcor.base import store
from revcor.models.architectures import build as build_model
from revcor.models.backbones import accuracy, pretrained, weights_enum
from revcor.models.loading import check_fits
from revcor.models.loading import save as save_model
from revcor.models.specs import DEFAULT_WEIGHTS, NO_WEIGHTS, ModelError


def prepare(
    dataset_path: str | Path,
    settings: dict,
    *,
    model_out: str | Path,
    metrics_out: str | Path,
    device: torch.device = torch.device("cpu"),
    progress: bool = False,
) -> dict:
    """Write backbone ``settings["arch"]`` for a dataset as a revcor model file, and its metrics JSON.

    ``settings``: ``weights`` (torchvision's name, default ``DEFAULT``; ``none`` for random
    weights drawn with ``seed``), ``input_size`` (side of the square model input; default
    the dataset's image size) and ``evaluate`` (also measure the top-1 accuracy on the
    dataset's test split). Pretrained weights need a dataset of their 1000 classes.
    """
    arch = settings["arch"]
    with store.open_artifact(dataset_path, "dataset") as f:
        provenance = {k: store.get_attr(f, k) for k in ("name", "source", "subset", "description")}
        classes, image_shape = store.get_attr(f, "classes"), store.get_attr(f, "image_shape")
    side = settings.get("input_size") or image_shape[-1]
    in_shape = (3, side, side)
    name = settings.get("weights", DEFAULT_WEIGHTS)
    t0 = time.perf_counter()
    if name == NO_WEIGHTS:
        torch.manual_seed(settings["seed"])
        model, info = build_model(arch, in_shape, len(classes)), None
    else:
        k = len(weights_enum(arch, name).meta["categories"])
        if len(classes) != k:
            raise ModelError(
                f"{arch} with weights {name} predicts {k} ImageNet classes, but dataset {provenance['name']} has "
                f"{len(classes)}; the validation folder needs all {k} class folders (their sorted names give the "
                f"weights' class order), or set the model's weights to {NO_WEIGHTS!r}"
            )
        model, info = pretrained(arch, name, in_shape, progress=progress)
    check_fits(model, in_shape, len(classes), arch)
    kept = {k: settings[k] for k in ("arch", "weights", "input_size", "evaluate", "seed") if k in settings}
    metrics = {
        "arch": arch,
        "weights": info and {k: v for k, v in info.items() if k != "categories"},
        "in_shape": list(in_shape),
        "classes": classes,
        "dataset": provenance,
        "settings": kept,
        "parameters": sum(p.numel() for p in model.parameters()),
        "wall_time_s": time.perf_counter() - t0,
        "torch": torch.__version__,
        "test": accuracy(model, dataset_path, in_shape, len(classes), device=device)
        if settings.get("evaluate")
        else None,
    }
    save_model(
        model.cpu(),
        model_out,
        arch=arch,
        in_shape=in_shape,
        num_classes=len(classes),
        kwargs={},
        meta={"classes": classes, "dataset": provenance["name"], "settings": kept, "weights": info},
    )
    store.write_json(metrics_out, metrics)
    return metrics
