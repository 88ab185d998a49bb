"""A classifier run over images: its scores over a test set, and its label for each class map
fed back as an image."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from revcor.data.readers import resize
from revcor.models.architectures import predict_labels
from revcor.models.metrics import confusion, scores


@torch.no_grad()
def classify(model: nn.Module, batches: Iterable[tuple[torch.Tensor, np.ndarray]], k: int) -> dict:
    """:func:`scores` of ``model`` (put in eval mode) over ``batches`` of (inputs on the
    model's device, true labels); ``k`` classes (2 for a one-logit binary model)."""
    model.eval()
    cm = np.zeros((k, k), dtype=np.int64)
    for x, labels in batches:
        cm += confusion(labels, predict_labels(model(x)).cpu().numpy(), k)
    return scores(cm)


@torch.inference_mode()
def feed_back(
    model: nn.Module, maps: np.ndarray, device: torch.device, input_size: tuple[int, int] | None = None
) -> list[int | None]:
    """The model's label for each map fed back as an image (None for empty classes);
    maps of a smaller noise ``size`` are resized to the model's ``input_size`` as the noise was."""
    ok = np.isfinite(maps.reshape(len(maps), -1)).all(1)
    out: list[int | None] = [None] * len(maps)
    if ok.any():
        x = torch.as_tensor(maps[ok], dtype=torch.float32, device=device)
        x = x if input_size is None else resize(x, input_size)
        pred = predict_labels(model(x).float())
        for i, p in zip(np.flatnonzero(ok), pred.tolist(), strict=False):
            out[i] = int(p)
    return out
