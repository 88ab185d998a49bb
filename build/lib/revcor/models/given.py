"""Models a user brings, described by a config entry, checked against the data before any long
work, and written as a revcor model file.

An entry is one of ``file:`` (TorchScript, a ``torch.export`` program, an ONNX model or a
revcor model file), ``factory: package.module:function`` with ``kwargs:`` and ``state_dict:``,
``torchvision: NAME`` with ``weights:`` (a state-dict file, or the name of torchvision's
published weights) and ``kwargs:``, or ``timm: NAME`` with ``weights:`` (a state-dict file) and
``kwargs:``; any of them with ``normalize: {mean, std}`` for a model trained on normalised
inputs, ``outputs: probabilities`` for one that ends in a softmax, and ``output_key:`` for one
that returns more than its logits.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from revcor.base.store import sha256
from revcor.models import backbones, loading
from revcor.models.architectures import factory_net, timm_net, torchvision_net
from revcor.models.specs import FACTORY, KINDS, TIMM, TORCHVISION, ModelError, files_of, kind_of

PROBABILITY_TOL = 1e-3  # rows of outputs in [0, 1] summing to 1 within this are probabilities


def write(
    settings: Mapping[str, Any], out: str | Path, *, in_shape: tuple[int, int, int], num_classes: int, meta: dict
) -> loading.LoadedModel:
    """Write the model of ``settings`` as the revcor model file ``out`` and load it back."""
    kind = kind_of(settings)
    normalize, outputs = settings.get("normalize"), settings.get("outputs", "logits")
    kwargs = dict(settings.get("kwargs") or {})
    meta = {**meta, "given": {k: settings[k] for k in KINDS if k in settings}}
    meta["files"] = {f: sha256(f) for f in files_of(settings) if Path(f).is_file()}
    if settings.get("output_key") is not None:
        meta["output_key"] = settings["output_key"]
    common = {"in_shape": in_shape, "num_classes": num_classes, "meta": meta, "outputs": outputs}
    if kind == "file":
        path = Path(settings["file"])
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist")
        if loading.file_kind(path) in loading.PROGRAMS:
            loading.save_program(path, out, normalize=normalize, **common)
        else:
            loading.copy_revcor(path, out, meta=meta, normalize=normalize, outputs=outputs)
    elif kind == "factory":
        if not settings.get("state_dict"):
            raise ModelError(f"factory {settings['factory']} needs state_dict, the file of its trained weights")
        net = factory_net(settings["factory"], **kwargs)
        loading.load_state_file(net, settings["state_dict"])
        loading.save(net, out, arch=FACTORY + settings["factory"], kwargs=kwargs, normalize=normalize, **common)
    elif kind == "torchvision":
        name, weights = settings["torchvision"], settings.get("weights")
        if not weights:
            raise ModelError(
                f"torchvision model {name} needs weights: a state-dict file or the name of torchvision's "
                f"published weights (e.g. DEFAULT); to train {name} here use arch: {TORCHVISION}{name}"
            )
        outputs_k = kwargs.pop("num_classes", num_classes)
        if Path(weights).is_file():
            net = torchvision_net(name, num_classes=outputs_k, **kwargs)
            loading.load_state_file(net, weights)
        else:
            net, published = backbones.published(name, weights)
            outputs_k = len(published.pop("categories"))
            normalize = normalize or published.pop("normalize")
            meta["weights"] = published
        common["num_classes"] = outputs_k  # the network's outputs; checked against the data later
        loading.save(net, out, arch=TORCHVISION + name, kwargs=kwargs, normalize=normalize, **common)
    elif kind == "timm":
        name, weights = settings["timm"], settings.get("weights")
        if not weights or not Path(weights).is_file():
            raise ModelError(
                f"timm model {name} needs weights, a state-dict file (got {weights!r}); to train {name} here "
                f"use arch: {TIMM}{name}"
            )
        outputs_k = kwargs.pop("num_classes", num_classes)
        net = timm_net(name, in_shape, num_classes=outputs_k, **kwargs)
        loading.load_state_file(net, weights)
        common["num_classes"] = outputs_k
        loading.save(net, out, arch=TIMM + name, kwargs=kwargs, normalize=normalize, **common)
    else:
        raise ModelError("a given model needs file, factory, torchvision or timm")
    return loading.load(out)


def check_finite(logits: torch.Tensor, what: str) -> None:
    """Refuse NaN or infinite model outputs, saying for how many images: they have no answer."""
    bad = ~torch.isfinite(logits.reshape(len(logits), -1)).all(1)
    if bad.any():
        raise ModelError(
            f"the model returned NaN or infinite outputs for {int(bad.sum()):,} of {len(logits):,} {what}; "
            "no answer was recorded"
        )


def check_logits(logits: torch.Tensor, name: str) -> None:
    """Refuse outputs that are probabilities (every row in [0, 1] and summing to 1) where
    logits are expected."""
    if logits.dim() == 2 and logits.shape[1] > 1:
        p = logits.double()
        if bool(((p >= 0) & (p <= 1)).all()) and bool(((p.sum(1) - 1).abs() < PROBABILITY_TOL).all()):
            raise ModelError(
                f"{name} outputs probabilities (each row in [0, 1] summing to 1), not logits; give the network "
                "without its final softmax, or set outputs: probabilities (--outputs probabilities) and revcor "
                "uses their logarithm"
            )


@torch.no_grad()
def check_outputs(module: nn.Module, images: torch.Tensor, name: str) -> None:
    """Run ``module`` (as loaded, so a model declared to output probabilities gives their
    logarithm) on real ``images``: refuse non-finite outputs and probabilities."""
    module.eval()
    out = module(images.to(loading.device_of(module)))
    check_finite(out, f"test images ({name})")
    check_logits(out, name)
