"""Mean layer activations per class, and injecting them into real images (paper Sec. 3.3,
Fig. 7C, 20 and 21).

A layer's *activation* is the output of the module of that ``named_modules`` name; the name
``"input"`` stands for the model's input itself. In the revcor architectures ReLU and
pooling are functional, so the activation of a conv or fc layer is its output before the
nonlinearity.

Class means (Fig. 20): noise or real images are run through the model and each layer's
output is summed per class, the class the model predicts (noise) or the true label (real
data), as a float64 product one-hot^T @ activations on the device.

Injection (Fig. 7C, 21): on a real image x the layer's output a(x) is replaced by
``(1 - gamma) * m_k + gamma * a(x)``, where m_k is the mean activation of the noise the
model labels k (gamma = 1: the image untouched, gamma = 0: the mean noise activation alone).
At ``"input"`` m_k is the mean noise image of class k, the bias map. The misclassification
ratio towards k is the fraction of the images of the other classes that the model then
labels k.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.distance import pdist
from torch import nn
from tqdm import tqdm

from revcor.base.device import to_device
from revcor.core import engine
from revcor.data.datasets import to_tensor
from revcor.models.architectures import predict_labels
from revcor.models.layers import outputs, replace_output
from revcor.noise.sources import NoiseSource

INPUT = "input"
BY = ("prediction", "label")

Batch = tuple[torch.Tensor, torch.Tensor | np.ndarray | None]


# --------------------------------------------------------------------------- class means


def noise_batches(
    source: NoiseSource, n: int, seed: int, batch: int, device: torch.device, *, chunk_size: int | None = None
) -> Iterator[tuple[torch.Tensor, None]]:
    """``n`` noise stimuli of ``source`` as model inputs on ``device``, ``batch`` at a time,
    without labels. Chunk i of ``chunk_size`` (default ``batch``) samples is drawn from
    ``ChunkRNG(seed, i)`` as in :func:`revcor.core.engine.draw`, so with the chunk size of a noise
    experiment this is the same noise."""
    chunk_size = chunk_size or batch
    for i in range(engine.n_chunks(n, chunk_size)):
        stored, _, _ = engine.draw(source, seed, i, n, chunk_size, device)
        for start in range(0, stored.shape[0], batch):
            yield source.to_input(stored[start : start + batch]), None


def data_batches(
    images: np.ndarray, labels: np.ndarray, batch: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """uint8 images (N, C, H, W) scaled to [0, 1] and their int64 labels, ``batch`` at a
    time, on ``device``."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    for start in range(0, len(images), batch):
        yield (
            to_device(to_tensor(images[start : start + batch]), device),
            to_device(torch.from_numpy(labels[start : start + batch]), device),
        )


def _check_labels(labels: torch.Tensor, n: int, num_classes: int, what: str) -> None:
    if labels.shape != (n,):
        raise ValueError(f"{n} inputs but {what} of shape {tuple(labels.shape)}")
    if n and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"{what} must lie in [0, {num_classes}), got [{int(labels.min())}, {int(labels.max())}]")


def class_means(
    model: nn.Module,
    layers: Sequence[str],
    batches: Iterable[Batch],
    num_classes: int,
    *,
    by: str = "prediction",
    rectify: bool = False,
    device: torch.device = torch.device("cpu"),
    compiled: str | None = None,
) -> dict[str, Any]:
    """Mean output of each layer per class (mean of ``max(output, 0)`` with ``rectify``).

    ``batches`` yields (inputs (B, C, H, W) float in [0, 1], labels (B,) or None), e.g. from
    :func:`noise_batches` or :func:`data_batches`. A sample's class is the model's predicted
    label (``by="prediction"``) or its given label (``by="label"``). Returns
    ``{"means": {layer: (K, *layer output shape) float64, NaN rows for classes without
    samples}, "counts": (K,) int64}``. ``compiled`` is a ``torch.compile`` mode for the
    forward pass (:func:`revcor.core.engine.compile_mode`), None for the eager pass.
    """
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}, got {by!r}")
    model.eval()
    layout = engine.prepare(model)
    sums: dict[str, torch.Tensor] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    counts = torch.zeros(num_classes, dtype=torch.float64, device=device)
    net = None
    with torch.inference_mode(), outputs(model, [n for n in layers if n != INPUT], logits=True, stop=False) as fn:
        for x, labels in batches:
            x = x.to(device, torch.float32).contiguous(memory_format=layout)
            if net is None:  # compiled for the size of the first batch (the others are no larger)
                net = fn if compiled is None else engine.Compiled(fn, x.shape[0], compiled)
            logits, layer_outputs = net(x)
            if by == "prediction":
                cls = predict_labels(logits)
            elif labels is None:
                raise ValueError("by='label' needs labels with every batch")
            else:
                cls = torch.as_tensor(labels, device=device).long()
            _check_labels(cls, x.shape[0], num_classes, "predicted labels" if by == "prediction" else "labels")
            onehot = F.one_hot(cls, num_classes).T.double()  # (K, B)
            counts += onehot.sum(1)
            for name in layers:
                a = x if name == INPUT else layer_outputs[name]
                if not isinstance(a, torch.Tensor):
                    raise ValueError(f"layer {name!r} outputs a {type(a).__name__}, not a tensor")
                shapes.setdefault(name, tuple(a.shape[1:]))
                a = a.clamp(min=0) if rectify else a
                part = onehot @ a.reshape(a.shape[0], -1).double()
                sums[name] = sums[name] + part if name in sums else part
    n = counts.cpu().numpy()
    if not n.sum():
        raise ValueError("no samples: the batches are empty")
    with np.errstate(invalid="ignore", divide="ignore"):
        means = {
            name: np.where(n[:, None] > 0, s.cpu().numpy() / n[:, None], np.nan).reshape(num_classes, *shapes[name])
            for name, s in sums.items()
        }
    return {"means": means, "counts": n.astype(np.int64)}


def class_distances(means: np.ndarray) -> float:
    """Mean pairwise L2 distance between the class means (K, *shape) of one layer, over the
    classes without NaN, divided by sqrt(number of units): the RMS difference per unit, so
    layers of different sizes compare (Fig. 20, bottom). NaN for fewer than two classes."""
    m = np.asarray(means, dtype=np.float64)
    m = m.reshape(len(m), -1)
    present = m[np.isfinite(m).all(1)]
    if len(present) < 2:
        return float("nan")
    return float(pdist(present).mean() / np.sqrt(m.shape[1]))


# --------------------------------------------------------------------------- injection


def _activations(values: np.ndarray, device: torch.device) -> tuple[torch.Tensor, np.ndarray]:
    """Class activations (K, *shape) as float32 on ``device``, and which rows are usable."""
    a = np.asarray(values, dtype=np.float32)
    return torch.from_numpy(a).to(device), np.isfinite(a.reshape(len(a), -1)).all(1)


def _injected_labels(
    model: nn.Module, layer: str, acts: torch.Tensor, x: torch.Tensor, gammas: torch.Tensor, layout: torch.memory_format
) -> torch.Tensor:
    """The model's labels (T, G, B) of the images ``x`` (B, C, H, W) when the output ``a`` of
    ``layer`` is ``(1 - g) * acts[t] + g * a`` for every target t and gamma g. The upstream
    part of the model runs once on ``x``; the hook widens the batch to T * G * B."""

    def mix(a: torch.Tensor) -> torch.Tensor:
        if not isinstance(a, torch.Tensor) or a.shape[1:] != acts.shape[1:]:
            got = tuple(a.shape[1:]) if isinstance(a, torch.Tensor) else type(a).__name__
            raise ValueError(
                f"class activations of shape {tuple(acts.shape[1:])} do not match the output {got} of layer {layer!r}"
            )
        g = gammas.to(a.dtype).view(1, -1, 1, *([1] * (a.dim() - 1)))
        out = engine.mix(a[None, None], acts.to(a.dtype)[:, None, None], g).flatten(0, 2)
        return out.contiguous(memory_format=layout) if out.dim() == 4 else out

    if layer == INPUT:
        logits = model(mix(x))
    else:
        with replace_output(model, layer, mix):
            logits = model(x)
    return predict_labels(logits).view(len(acts), len(gammas), x.shape[0])


def injection_rates(
    model: nn.Module,
    layer: str,
    class_activations: np.ndarray,
    images: torch.Tensor,
    labels: np.ndarray,
    gammas: Sequence[float],
    *,
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
    progress: bool = False,
) -> np.ndarray:
    """Misclassification ratio towards each class when its mean noise activation is injected
    at ``layer`` (Fig. 21): (G, K) float64, one row per gamma.

    ``class_activations`` (K, *layer output shape) holds the mean noise activation of each
    class (NaN rows: no noise fell into the class); ``images`` (N, C, H, W) float in [0, 1]
    and ``labels`` (N,) their true classes. Entry (g, k) is the fraction of the images whose
    true class is not k that the model labels k when the layer's output a is replaced by
    ``(1 - g) * class_activations[k] + g * a``; NaN for classes without a mean activation or
    without images of other classes. A forward pass handles about ``batch_size`` stimuli.
    """
    acts, valid = _activations(class_activations, device)
    k, targets = len(acts), np.flatnonzero(valid)
    images = torch.as_tensor(images)
    labels = np.asarray(labels, dtype=np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    _check_labels(torch.from_numpy(labels), len(labels), k, "labels")
    g = torch.tensor([float(v) for v in gammas], dtype=torch.float32, device=device)
    t = torch.from_numpy(targets).to(device)
    y_all = torch.from_numpy(labels).to(device)
    hits = torch.zeros(len(targets), len(g), dtype=torch.int64, device=device)
    step = max(1, batch_size // max(len(targets) * len(g), 1))  # images per forward pass
    model.eval()
    layout = engine.prepare(model)
    with (
        torch.inference_mode(),
        tqdm(total=len(images), unit="img", desc=f"inject {layer}", disable=not progress) as bar,
    ):
        for start in range(0, len(images) if len(targets) else 0, step):
            x = images[start : start + step].to(device, torch.float32).contiguous(memory_format=layout)
            y = y_all[start : start + step]
            pred = _injected_labels(model, layer, acts[t], x, g, layout)
            hits += ((pred == t[:, None, None]) & (y != t[:, None])[:, None]).sum(2)
            bar.update(x.shape[0])
    others = len(labels) - np.bincount(labels, minlength=k)[targets]
    rates = np.full((len(g), k), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates[:, targets] = np.where(others > 0, hits.cpu().numpy().T / others, np.nan)
    return rates


def examples(
    model: nn.Module,
    class_activations: Mapping[str, np.ndarray],
    images: torch.Tensor,
    labels: np.ndarray,
    source: int,
    target: int,
    gamma: float,
    *,
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
) -> dict[str, Any]:
    """One real image of class ``source`` turned towards ``target`` (Fig. 7C).

    The image is the first of class ``source`` that the model labels correctly (else the
    first of the class). ``class_activations`` maps layers (or ``"input"``) to their mean
    noise activations (K, *shape). Returns ``{"index", "image" (C, H, W) float32, "label",
    "prediction", "target", "gamma", "injected": {layer: the model's label with the target's
    mean activation injected at gamma, -1 if the target has none}}``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    candidates = np.flatnonzero(labels == source)
    if not len(candidates):
        raise ValueError(f"no image of class {source}")
    images = torch.as_tensor(images)
    model.eval()
    layout = engine.prepare(model)
    clean = engine.forward(
        model,
        images[torch.from_numpy(candidates)].to(device, torch.float32).contiguous(memory_format=layout),
        batch_size,
    )
    preds = predict_labels(clean).cpu().numpy()
    i = int(np.argmax(preds == source))  # the first correct one, else the first
    x = images[candidates[i] : candidates[i] + 1].to(device, torch.float32).contiguous(memory_format=layout)
    g = torch.tensor([float(gamma)], device=device)
    injected = {}
    with torch.inference_mode():
        for layer, values in class_activations.items():
            acts, valid = _activations(values, device)
            injected[layer] = (
                int(_injected_labels(model, layer, acts[target : target + 1], x, g, layout)) if valid[target] else -1
            )
    return {
        "index": int(candidates[i]),
        "image": x[0].cpu().numpy(),
        "label": int(source),
        "prediction": int(preds[i]),
        "target": int(target),
        "gamma": float(gamma),
        "injected": injected,
    }


def layer_summary(
    model: nn.Module,
    source: NoiseSource,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    layers: Sequence[str],
    inject: Sequence[str],
    gammas: Sequence[float],
    n: int,
    seed: int,
    num_classes: int,
    batch_size: int,
    chunk_size: int,
    device: torch.device,
    compiled: str | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Everything Sec. 3.3 asks of layer activations: the class means of ``layers`` for ``n``
    noise images (by the model's label) and for the real ``images`` (by their label), the
    distance between classes per layer, and the injection rates at each layer of ``inject``
    (from the noise means); {} when neither is asked."""
    hooked = list(dict.fromkeys([*layers, *inject]))
    if not hooked:
        return {}
    noise = class_means(
        model,
        hooked,
        noise_batches(source, n, seed, batch_size, device, chunk_size=chunk_size),
        num_classes,
        by="prediction",
        device=device,
        compiled=compiled,
    )
    out: dict[str, Any] = {"noise_counts": noise["counts"], "layers": list(layers), "noise": {}, "data": {}}
    out["distances"] = {"noise": {}, "real data": {}}
    if layers:
        data = class_means(
            model, layers, data_batches(images, labels, batch_size, device), num_classes, by="label", device=device
        )
        out["data_counts"] = data["counts"]
        for layer in layers:
            out["noise"][layer], out["data"][layer] = noise["means"][layer], data["means"][layer]
            out["distances"]["noise"][layer] = class_distances(noise["means"][layer])
            out["distances"]["real data"][layer] = class_distances(data["means"][layer])
    if inject:
        tensor = to_tensor(images)
        out["injection"] = {
            layer: injection_rates(
                model,
                layer,
                noise["means"][layer],
                tensor,
                labels,
                gammas,
                batch_size=batch_size,
                device=device,
                progress=progress,
            )
            for layer in inject
        }
    return out
