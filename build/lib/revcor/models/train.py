"""Training and evaluation of classifiers on uint8 image arrays.

Images are (N, C, H, W) uint8 (scaled to [0, 1] one batch at a time) or float already in
[0, 1]. Models output logits; one-logit models are binary (label = logit > 0) and are
trained with BCEWithLogits, models with K >= 2 outputs with cross-entropy.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from revcor.base.device import to_device
from revcor.models import classify
from revcor.models.loading import check_fits

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


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Within the block the global torch generators (CPU and ``device``'s) start from
    ``seed``; outside it they are as before (weight initialisation and dropout are
    reproducible without touching the caller's random state)."""
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield


def run_epochs(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    step: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    progress: bool = False,
    desc: str = "epoch",
) -> list[float]:
    """The training loop: each epoch visits the ``n`` samples in an order shuffled by a
    generator seeded with ``seed``, in batches; ``step(indices)`` returns the batch's mean
    loss, which is minimised with ``opt``. Returns the mean loss per sample of each epoch."""
    shuffle = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=shuffle)
        total = 0.0
        bar = tqdm(range(0, n, batch_size), desc=f"{desc} {epoch + 1}/{epochs}", unit="batch", disable=not progress)
        for first in bar:
            idx = order[first : first + batch_size]
            loss = step(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            bar.set_postfix(loss=f"{total / (first + len(idx)):.4g}")
        losses.append(total / n)
    return losses


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

    def step(idx: torch.Tensor) -> torch.Tensor:
        x, y = _batch(x_all, idx, device), y_all[idx].to(device)
        logits = model(x)
        if outputs == 1:
            return F.binary_cross_entropy_with_logits(logits.reshape(len(idx)), y.float())
        return F.cross_entropy(logits, y)

    t0 = time.perf_counter()
    with seeded(seed, device):
        losses = run_epochs(
            model, opt, step, n, epochs=epochs, batch_size=batch_size, seed=seed, progress=progress, desc="epoch"
        )
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
    model: nn.Module,
    images: ImageArray,
    labels: ImageArray,
    *,
    batch_size: int = 1024,
    device: str | torch.device = "cpu",
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
    batches = (
        (_batch(x_all, slice(s, s + batch_size), device), y_all[s : s + batch_size].numpy())
        for s in range(0, len(x_all), batch_size)
    )
    return classify.classify(model, batches, 2 if outputs == 1 else outputs)
