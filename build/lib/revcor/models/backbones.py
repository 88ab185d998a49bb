"""Pretrained torchvision ImageNet backbones as revcor models (paper Sec. 3.1, Table 1).

:func:`pretrained` loads the weights torchvision publishes through torchvision's own API
(``torchvision.models.get_model(arch, weights=...)``), from torch hub's cache
(``$TORCH_HOME/hub/checkpoints``) or downloaded into it; without a network it fails within
:data:`DOWNLOAD_TIMEOUT` seconds with an error that names the weights, their URL and the
cache. The workflow's ``backbone`` rule (:mod:`revcor.pipeline.backbone`) writes a backbone
for a dataset as a revcor model file; nothing is trained.
"""

from __future__ import annotations

import http.client
import os
import pickle
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from revcor.base.store import sha256
from revcor.data import datasets, readers
from revcor.models.architectures import IMAGENET_MEAN, IMAGENET_STD, Backbone
from revcor.models.classify import classify
from revcor.models.specs import BACKBONES, DEFAULT_WEIGHTS, NO_WEIGHTS, ModelError

DOWNLOAD_TIMEOUT = 30.0  # seconds a download may wait for the network before it fails


def weights_enum(arch: str, name: str = DEFAULT_WEIGHTS) -> Any:
    """torchvision's weights ``name`` of ``arch`` (``DEFAULT``, ``IMAGENET1K_V1``, ...), a
    member of its weights enum such as ``ResNet152_Weights``."""
    from torchvision.models import get_model_weights

    try:
        enum = get_model_weights(arch)
    except (ValueError, KeyError):
        raise ModelError(f"torchvision has no published weights for {arch!r}") from None
    try:
        return enum[name]
    except KeyError:
        raise ModelError(
            f"{arch} has no weights {name!r}; torchvision's {enum.__name__} has "
            f"{', '.join(enum.__members__)} (or use {NO_WEIGHTS!r} for random weights)"
        ) from None


def cache_file(weights: Any) -> Path:
    """Where torch hub keeps the file of ``weights``: ``$TORCH_HOME/hub/checkpoints/<name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def _missing(arch: str, weights: Any, reason: str) -> ModelError:
    path = cache_file(weights)
    home = os.environ.get("TORCH_HOME")
    return ModelError(
        f"the pretrained weights {type(weights).__name__}.{weights.name} of {arch} are not in torch hub's cache "
        f"and cannot be downloaded from {weights.url} ({reason}). Put that file at {path} (torch hub's cache, "
        f"$TORCH_HOME/hub/checkpoints; TORCH_HOME is {home or 'not set, so ~/.cache/torch'}), e.g. copied from a "
        f"machine with internet after: python -c \"import torchvision; torchvision.models.get_model('{arch}', "
        f"weights='{weights.name}')\"; or set the model's weights to {NO_WEIGHTS!r} for random weights"
    )


def _download(arch: str, weights: Any, timeout: float, progress: bool) -> None:
    """Fetch the file of ``weights`` into torch hub's cache (sha256-prefix checked, as torchvision does)."""
    path = cache_file(weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(path.name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # urllib inside torch.hub opens the URL without its own timeout
    try:
        torch.hub.download_url_to_file(weights.url, str(path), match.group(1) if match else None, progress=progress)
    except (OSError, RuntimeError, http.client.HTTPException) as e:
        raise _missing(arch, weights, f"{type(e).__name__}: {e}") from None
    finally:
        socket.setdefaulttimeout(previous)


def published(
    arch: str, name: str = DEFAULT_WEIGHTS, *, timeout: float = DOWNLOAD_TIMEOUT, progress: bool = False
) -> tuple[torch.nn.Module, dict]:
    """Torchvision architecture ``arch`` with its published weights ``name``, and a description
    of them: enum, URL, file and its sha256, categories and the ``normalize`` (mean, std) of
    their inputs."""
    from torchvision.models import get_model

    weights = weights_enum(arch, name)
    path = cache_file(weights)
    if not path.is_file():
        _download(arch, weights, timeout, progress)
    try:
        net = get_model(arch, weights=weights)  # reads the cached file; torchvision's own key handling
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as e:
        raise ModelError(
            f"cannot load the cached weights {path} of {arch} ({type(e).__name__}: {e}); "
            "delete the file to download it again"
        ) from None
    transform = weights.transforms()
    info = {
        "enum": f"{type(weights).__name__}.{weights.name}",
        "url": weights.url,
        "file": str(path),
        "sha256": sha256(path),
        "categories": list(weights.meta["categories"]),
        "normalize": {"mean": list(transform.mean), "std": list(transform.std)},
    }
    return net.eval(), info


def pretrained(
    arch: str,
    name: str = DEFAULT_WEIGHTS,
    in_shape: tuple[int, int, int] = (3, 224, 224),
    *,
    timeout: float = DOWNLOAD_TIMEOUT,
    progress: bool = False,
) -> tuple[Backbone, dict]:
    """Backbone ``arch`` with torchvision's pretrained weights ``name`` for images of
    ``in_shape``, and a description of the weights (see :func:`published`)."""
    if arch not in BACKBONES:
        raise ModelError(f"{arch!r} is not a torchvision backbone of the paper; known: {', '.join(BACKBONES)}")
    net, info = published(arch, name, timeout=timeout, progress=progress)
    norm = info.pop("normalize")
    if (tuple(norm["mean"]), tuple(norm["std"])) != (IMAGENET_MEAN, IMAGENET_STD):
        raise ModelError(
            f"{info['enum']} expects inputs normalised with mean {norm['mean']} and std {norm['std']}; "
            f"revcor's backbones use {IMAGENET_MEAN}, {IMAGENET_STD}"
        )
    model = Backbone(arch, in_shape, len(info["categories"]))
    model.net.load_state_dict(net.state_dict())
    return model.eval(), info


@torch.inference_mode()
def accuracy(
    model: torch.nn.Module,
    dataset_path: str | Path,
    in_shape: tuple[int, int, int],
    num_classes: int,
    *,
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
) -> dict:
    """Top-1 accuracy of ``model`` on a dataset's test split, read a batch at a time and
    resized to the model's input ``in_shape``."""
    model.to(device)
    batches = (
        (readers.resize(datasets.to_tensor(images).to(device), in_shape[1:]), labels)
        for images, labels in datasets.batches(dataset_path, "test", batch_size)
    )
    result = classify(model, batches, num_classes)
    return {"accuracy": result["accuracy"], "n": result["n"]}
