"""Adversarial uses of classification images (paper Sec. 3.2, Fig. 6, 7D, 17 and Table 2).

Targeted attack: add a class template (its bias map, or its mean training image) to an
input, ``(1 - gamma) * base + gamma * template`` (Eq. 3), and count how often the model
labels the result as the template's class. The attack only reads the model's hard labels.

Defence check: the mean gradient of the classification loss with respect to the input, per
true class, which shows where raising a pixel raises or lowers the loss (Fig. 7D).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from revcor.core import engine
from revcor.models.architectures import predict_labels
from revcor.noise.sources import WhiteNoise


def _templates(templates: np.ndarray, base: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, np.ndarray]:
    """Templates as float32 on ``device`` and which of them are usable (all finite)."""
    t = np.asarray(templates, dtype=np.float32)
    if t.ndim != 4 or tuple(t.shape[1:]) != tuple(base.shape[1:]):
        raise ValueError(f"templates (K,C,H,W) {t.shape} do not match the base images (N,C,H,W) {tuple(base.shape)}")
    return torch.from_numpy(t).to(device), np.isfinite(t).reshape(len(t), -1).all(1)


def target_rates(
    model: nn.Module,
    templates: np.ndarray,
    base: torch.Tensor,
    gammas: Sequence[float],
    *,
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
    progress: bool = False,
    compiled: str | None = None,
) -> np.ndarray:
    """Fraction of the stimuli ``(1 - g) * base + g * templates[k]`` that ``model`` labels k
    (the forward pass compiled when ``compiled`` is a ``torch.compile`` mode, see
    :func:`revcor.core.engine.compile_mode`).

    ``templates`` (K, C, H, W) in [0, 1], NaN for classes without a template; ``base``
    (N, C, H, W) float in [0, 1] (noise or test images). Returns (G, K) float64, one row per
    gamma; NaN columns for classes without a template.
    """
    temps, valid = _templates(templates, base, device)
    targets = np.flatnonzero(valid)
    n, n_g = base.shape[0], len(gammas)
    g = torch.tensor([float(x) for x in gammas], dtype=torch.float32, device=device).view(-1, 1, 1, 1, 1)
    hits = torch.zeros(n_g, len(temps), dtype=torch.int64, device=device)
    step = max(1, batch_size // max(n_g, 1))  # base images per forward pass, G stimuli each
    model.eval()
    layout = engine.prepare(model)
    net = model if compiled is None else engine.Compiled(model, batch_size, compiled)
    with (
        torch.inference_mode(),
        tqdm(total=n * n_g * len(targets), unit="img", unit_scale=True, desc="attack", disable=not progress) as bar,
    ):
        for start in range(0, n, step):
            b = base[start : start + step].to(device, torch.float32)
            for k in targets:
                x = engine.mix(temps[k], b, g).flatten(0, 1).contiguous(memory_format=layout)
                labels = predict_labels(engine.forward(net, x, batch_size)).view(n_g, -1)
                hits[:, k] += (labels == int(k)).sum(1)
                bar.update(x.shape[0])
    rates = hits.cpu().numpy() / max(n, 1)
    rates[:, ~valid] = np.nan
    return rates


def white_noise(n: int, shape: tuple[int, int, int], seed: int, device: torch.device) -> torch.Tensor:
    """``n`` uniform white-noise images in [0, 1) of ``shape`` (C, H, W), float32 on ``device``:
    chunk 0 of a float32 white-noise experiment of ``n`` samples with ``seed``."""
    return engine.draw(WhiteNoise(shape, storage="float32"), seed, 0, n, n, device)[0]


def examples(
    model: nn.Module,
    templates: np.ndarray,
    base: torch.Tensor,
    gamma: float,
    *,
    device: torch.device = torch.device("cpu"),
) -> tuple[np.ndarray, np.ndarray]:
    """The first base image mixed with each template at ``gamma`` (Fig. 6A, 17): the stimuli
    (K, C, H, W) float32 (NaN for classes without a template) and the model's label for
    each (K,) int64 (-1 without a template)."""
    temps, valid = _templates(templates, base, device)
    x = engine.mix(temps, base[:1].to(device, torch.float32), gamma)
    labels = np.full(len(temps), -1, dtype=np.int64)
    if valid.any():
        model.eval()
        layout = engine.prepare(model)
        logits = engine.forward(
            model, x[torch.from_numpy(valid).to(device)].contiguous(memory_format=layout), len(temps)
        )
        labels[valid] = predict_labels(logits).cpu().numpy()
    return x.cpu().numpy(), labels


def mean_input_gradient(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    num_classes: int,
    *,
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
) -> np.ndarray:
    """Mean over the images of each true class of the gradient of the loss with respect to
    the input (Fig. 7D): (K, C, H, W) float64, NaN for classes without images.

    ``images`` uint8 (N, C, H, W) (scaled to [0, 1]), ``labels`` (N,) the classes the loss
    is taken against. The loss is the per-image cross entropy, or BCE with logits for a
    one-logit binary model. Only the input's gradient is computed: the model's parameters
    get no ``.grad``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if labels.size and not (0 <= labels.min() and labels.max() < num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
    model.eval()
    layout = engine.prepare(model)
    sums = torch.zeros(num_classes, *images.shape[1:], dtype=torch.float64, device=device)
    with torch.enable_grad():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(device)
            x = x.float().div_(255).contiguous(memory_format=layout).requires_grad_()
            y = torch.from_numpy(labels[start : start + batch_size]).to(device)
            logits = model(x)
            if logits.dim() == 1 or logits.shape[1] == 1:
                loss = F.binary_cross_entropy_with_logits(logits.reshape(-1).float(), y.float(), reduction="sum")
            else:
                loss = F.cross_entropy(logits.float(), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x)
            sums.index_add_(0, y, grad.double())
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums.cpu().numpy() / counts.reshape(-1, *([1] * (sums.dim() - 1)))


RATE_KINDS = ("noise + bias", "digit + bias", "noise + mean", "digit + mean")
