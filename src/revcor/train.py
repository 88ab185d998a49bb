"""Training and evaluation of classifiers on uint8 image arrays.

Images are (N, C, H, W) uint8 (scaled to [0, 1] one batch at a time) or float already in
[0, 1]. Models output logits; one-logit models are binary (label = logit > 0) and are
trained with BCEWithLogits, models with K >= 2 outputs with cross-entropy.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import data, models, store
from .device import to_device
from .models import check_fits, predict_labels

ImageArray = torch.Tensor | np.ndarray


def _images(images: ImageArray) -> torch.Tensor:
    """A (N, C, H, W) tensor sharing memory with ``images`` where possible (no float copy)."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.require(images, requirements=["C", "W"]))
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a numpy array or torch tensor, got {type(images).__name__}")
    if images.dim() != 4:
        raise ValueError(f"images must have shape (N,C,H,W), got {tuple(images.shape)}")
    if images.dtype != torch.uint8 and not images.dtype.is_floating_point:
        raise ValueError(f"images must be uint8 (0-255) or float in [0,1], got {images.dtype}")
    if len(images) == 0:
        raise ValueError("no images given")
    return images


def _labels(labels: ImageArray, n: int) -> torch.Tensor:
    t = torch.from_numpy(np.array(labels)) if not isinstance(labels, torch.Tensor) else labels
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dim() != 1 or len(t) != n:
        raise ValueError(f"labels must be {n} integers (one per image), got {t.dtype} of shape {tuple(t.shape)}")
    return t.to(torch.int64)


def _batch(images: torch.Tensor, idx: torch.Tensor | slice, device: torch.device) -> torch.Tensor:
    x = to_device(images[idx], device)
    return x.float().div_(255) if x.dtype == torch.uint8 else x.float()


def _check_labels(labels: torch.Tensor, outputs: int) -> None:
    hi = 2 if outputs == 1 else outputs
    lo_seen, hi_seen = int(labels.min()), int(labels.max())
    if lo_seen < 0 or hi_seen >= hi:
        kind = "a one-logit binary model needs labels 0/1" if outputs == 1 else f"the model has {outputs} outputs"
        raise ValueError(f"labels range over {lo_seen}..{hi_seen} but {kind}")


def train(
    model: nn.Module,
    images: ImageArray,
    labels: ImageArray,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    optimizer: str = "adam",
    seed: int,
    device: str | torch.device = "cpu",
    momentum: float = 0.0,
    progress: bool = True,
    test: tuple[ImageArray, ImageArray] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place and return metrics; the model is left in eval mode.

    ``optimizer`` is "adam" or "sgd" (``momentum`` applies to sgd only). Batches are
    shuffled with a generator seeded by ``seed``, and dropout draws from the global
    torch generator seeded with ``seed`` inside a forked RNG state, so a run is
    reproducible on CPU for the same seed and initial weights. Returns {"epochs",
    "seed", "lr", "batch_size", "optimizer", "momentum", "n_train", "wall_time_s",
    "train_loss" (mean per epoch), "test" (:func:`evaluate` on ``test``, or None)}.
    """
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if momentum and optimizer != "sgd":
        raise ValueError("momentum applies only to the sgd optimizer")
    if epochs < 0 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 0, batch_size >= 1 and lr > 0; got {epochs}, {batch_size}, {lr}")
    x_all = _images(images)
    y_all = _labels(labels, len(x_all))
    device = torch.device(device)
    model.to(device)
    outputs = check_fits(model, tuple(x_all.shape[1:]), None)
    _check_labels(y_all, outputs)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=lr) if optimizer == "adam" else torch.optim.SGD(params, lr=lr, momentum=momentum)
    n = len(x_all)
    shuffle = torch.Generator().manual_seed(seed)
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    losses = []
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        model.train()
        for epoch in range(epochs):
            order = torch.randperm(n, generator=shuffle)
            total = 0.0
            bar = tqdm(range(0, n, batch_size), desc=f"epoch {epoch + 1}/{epochs}", unit="batch", disable=not progress)
            for first in bar:
                idx = order[first : first + batch_size]
                x, y = _batch(x_all, idx, device), y_all[idx].to(device)
                logits = model(x)
                if outputs == 1:
                    loss = F.binary_cross_entropy_with_logits(logits.reshape(len(idx)), y.float())
                else:
                    loss = F.cross_entropy(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
                bar.set_postfix(loss=f"{total / (first + len(idx)):.4f}")
            losses.append(total / n)
    model.eval()
    return {
        "epochs": epochs,
        "seed": seed,
        "lr": lr,
        "batch_size": batch_size,
        "optimizer": optimizer,
        "momentum": momentum,
        "n_train": n,
        "wall_time_s": time.perf_counter() - t0,
        "train_loss": losses,
        "test": None if test is None else evaluate(model, test[0], test[1], device=device),
    }


def evaluate(
    model: nn.Module, images: ImageArray, labels: ImageArray, *, batch_size: int = 1024, device: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Accuracy of ``model`` (put in eval mode) on labelled images.

    Returns {"accuracy", "per_class_accuracy" (None for classes without examples),
    "confusion" (K x K counts, rows = true label, columns = predicted), "n"}; K is the
    number of outputs, or 2 for a one-logit binary model.
    """
    x_all = _images(images)
    y_all = _labels(labels, len(x_all))
    device = torch.device(device)
    model.to(device).eval()
    outputs = check_fits(model, tuple(x_all.shape[1:]), None)
    _check_labels(y_all, outputs)
    k = 2 if outputs == 1 else outputs
    confusion = torch.zeros(k * k, dtype=torch.int64)
    with torch.no_grad():
        for s in range(0, len(x_all), batch_size):
            part = slice(s, s + batch_size)
            pred = predict_labels(model(_batch(x_all, part, device))).cpu()
            confusion += torch.bincount(y_all[part] * k + pred, minlength=k * k)
    confusion = confusion.reshape(k, k)
    totals = confusion.sum(dim=1)
    return {
        "accuracy": float(confusion.diagonal().sum()) / len(x_all),
        "per_class_accuracy": [float(confusion[i, i]) / int(totals[i]) if totals[i] else None for i in range(k)],
        "confusion": confusion.tolist(),
        "n": len(x_all),
    }


def train_on_dataset(dataset_path: str, settings: dict[str, Any], *, model_out: str, metrics_out: str,
                     device: str | torch.device = "cpu", progress: bool = True) -> dict[str, Any]:
    """Build ``settings["arch"]``, train it on a dataset artifact, save the model and metrics.

    ``settings`` holds arch, kwargs, epochs, lr, batch_size, optimizer, momentum and seed.
    The model file records the dataset, its class names and provenance.
    """
    tr, te = data.load(dataset_path, "train"), data.load(dataset_path, "test")
    in_shape, classes = tuple(tr.images.shape[1:]), tr.classes
    torch.manual_seed(settings["seed"])
    model = models.build(settings["arch"], in_shape, len(classes), **settings.get("kwargs", {}))
    metrics = train(model, tr.images, tr.labels, epochs=settings["epochs"], lr=settings["lr"],
                    batch_size=settings["batch_size"], optimizer=settings["optimizer"],
                    momentum=settings.get("momentum", 0.0), seed=settings["seed"], device=device,
                    progress=progress, test=(te.images, te.labels))
    with store.open_artifact(dataset_path, "dataset") as f:
        provenance = {k: store.get_attr(f, k) for k in ("name", "source", "subset", "description")}
        patched = "test_patched" in f
    if patched:  # a backdoored dataset: also the test set with every source-class image patched
        tp = data.load(dataset_path, "test_patched")
        metrics["test_patched"] = evaluate(model, tp.images, tp.labels, device=device)
    metrics |= {"arch": settings["arch"], "kwargs": settings.get("kwargs", {}), "classes": classes,
                "dataset": provenance, "device": str(device), "torch": torch.__version__}
    model.cpu()
    models.save(model, model_out, arch=settings["arch"], in_shape=in_shape, num_classes=len(classes),
                kwargs=settings.get("kwargs", {}),
                meta={"classes": classes, "dataset": provenance["name"], "settings": settings})
    store.write_json(metrics_out, metrics)
    return metrics
