"""Architectures of the paper and the torchvision ImageNet backbones of its Table 1.

Every architecture takes float images in [0, 1] of shape (N, C, H, W) and returns LOGITS
(no softmax inside ``forward``). Binary tasks use ONE logit: the predicted label is
``logit > 0`` (class 1), see :func:`predict_labels`.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from revcor.models.specs import BACKBONES, FACTORY, TIMM, TORCHVISION, ModelError


def _check_classes(arch: str, num_classes: int, allowed: tuple[int, ...] | None = None) -> None:
    ok = isinstance(num_classes, int) and not isinstance(num_classes, bool)
    if ok and allowed is not None:
        ok = num_classes in allowed
    elif ok:
        ok = num_classes >= 2
    if not ok:
        want = " or ".join(map(str, allowed)) if allowed else "an integer >= 2"
        raise ModelError(f"{arch} needs num_classes {want}, got {num_classes!r}")


def _too_small(arch: str, in_shape: tuple[int, int, int], minimum: int) -> ModelError:
    return ModelError(
        f"{arch} needs images of at least {minimum}x{minimum} pixels, got in_shape (C,H,W)={tuple(in_shape)}"
    )


def _conv5_pool(n: int) -> int:
    """Side length after a 5x5 valid convolution and a 2x2 max-pool."""
    return (n - 4) // 2


class _TwoConvNet(nn.Module):
    """conv1 (5x5) ReLU pool -> conv2 (5x5) ReLU pool -> fc1 ReLU -> fc2."""

    arch = ""

    def __init__(self, in_shape: tuple[int, int, int], c1: int, c2: int, hidden: int, outputs: int):
        super().__init__()
        c, h, w = in_shape
        if min(h, w) < 16:
            raise _too_small(self.arch, in_shape, 16)
        self.conv1 = nn.Conv2d(c, c1, 5)
        self.conv2 = nn.Conv2d(c1, c2, 5)
        self.fc1 = nn.Linear(c2 * _conv5_pool(_conv5_pool(h)) * _conv5_pool(_conv5_pool(w)), hidden)
        self.fc2 = nn.Linear(hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class MnistCNN(_TwoConvNet):
    """MNIST CNN: conv1 C->20, conv2 20->50, fc1 800->500, fc2 500->K (for 28x28 inputs)."""

    arch = "mnist_cnn"

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int):
        _check_classes(self.arch, num_classes)
        super().__init__(in_shape, 20, 50, 500, num_classes)


class FashionCNN(_TwoConvNet):
    """Fashion-MNIST CNN: conv1 C->40, conv2 40->50, fc1 800->1000, fc2 1000->K."""

    arch = "fashion_cnn"

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int):
        _check_classes(self.arch, num_classes)
        super().__init__(in_shape, 40, 50, 1000, num_classes)


class BinaryCNN(_TwoConvNet):
    """Binary CNN: conv1 C->conv1_channels, conv2 ->50, fc1 800->100, fc2 100->1.

    A binary task has ONE output logit whatever ``num_classes`` (1 or 2) says: the
    predicted label is ``logit > 0``, i.e. class 1; train it with BCEWithLogits.
    """

    arch = "binary_cnn"

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, conv1_channels: int = 10):
        _check_classes(self.arch, num_classes, allowed=(1, 2))
        if not isinstance(conv1_channels, int) or isinstance(conv1_channels, bool) or conv1_channels < 1:
            raise ModelError(f"binary_cnn needs a positive integer conv1_channels, got {conv1_channels!r}")
        super().__init__(in_shape, conv1_channels, 50, 100, 1)


class MLP(nn.Module):
    """Multi-layer perceptron: flatten -> fc1 (C*H*W -> 1000) ReLU -> fc2 (1000 -> K)."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        _check_classes("mlp", num_classes)
        self.fc1 = nn.Linear(in_shape[0] * in_shape[1] * in_shape[2], 1000)
        self.fc2 = nn.Linear(1000, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class LogReg(nn.Module):
    """Multinomial logistic regression: flatten -> fc (C*H*W -> K)."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        _check_classes("logreg", num_classes)
        self.fc = nn.Linear(in_shape[0] * in_shape[1] * in_shape[2], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class RNN(nn.Module):
    """2-layer Elman RNN (tanh, hidden 100) over image rows (H steps of C*W inputs); ``fc`` head."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        _check_classes("rnn", num_classes)
        self.rnn = nn.RNN(in_shape[0] * in_shape[2], 100, num_layers=2, nonlinearity="tanh", batch_first=True)
        self.fc = nn.Linear(100, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        out, _ = self.rnn(x.permute(0, 2, 1, 3).reshape(n, h, c * w))
        return self.fc(out[:, -1])


class CifarCNN(nn.Module):
    """CIFAR-10 CNN: three blocks of two 3x3 convs (32/64, 128/128, 256/256) with max-pools,
    batch norm after conv1/conv3/conv5, then fc1 4096->1024, fc2 1024->512, fc3 512->K.

    ``activation`` is "relu" (default) or "tanh" (the variant used for STA).
    """

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, activation: str = "relu"):
        super().__init__()
        _check_classes("cifar_cnn", num_classes)
        acts = {"relu": torch.relu, "tanh": torch.tanh}
        if activation not in acts:
            raise ModelError(f"cifar_cnn activation must be 'relu' or 'tanh', got {activation!r}")
        self.act = acts[activation]
        c, h, w = in_shape
        if min(h, w) < 8:
            raise _too_small("cifar_cnn", in_shape, 8)
        self.conv1, self.bn1 = nn.Conv2d(c, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3, self.bn3 = nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128)
        self.conv4 = nn.Conv2d(128, 128, 3, padding=1)
        self.drop2d = nn.Dropout2d(0.05)
        self.conv5, self.bn5 = nn.Conv2d(128, 256, 3, padding=1), nn.BatchNorm2d(256)
        self.conv6 = nn.Conv2d(256, 256, 3, padding=1)
        self.drop = nn.Dropout(0.1)
        self.fc1 = nn.Linear(256 * (h // 8) * (w // 8), 1024)
        self.fc2 = nn.Linear(1024, 512)
        self.fc3 = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act
        x = F.max_pool2d(a(self.conv2(a(self.bn1(self.conv1(x))))), 2)
        x = self.drop2d(F.max_pool2d(a(self.conv4(a(self.bn3(self.conv3(x))))), 2))
        x = F.max_pool2d(a(self.conv6(a(self.bn5(self.conv5(x))))), 2)
        x = self.drop(x.flatten(1))
        return self.fc3(a(self.fc2(a(self.fc1(x)))))


# torchvision ImageNet classifiers of the paper's Table 1. They are built here with random
# weights; revcor.models.backbones loads the published weights into them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the normalisation every one of their weights was trained with
IMAGENET_STD = (0.229, 0.224, 0.225)
# constructor arguments that give the random network the pretrained one's state-dict keys
# (torchvision's googlenet drops its auxiliary heads when it loads weights)
_BACKBONE_ARGS = {"googlenet": {"aux_logits": False, "transform_input": True, "init_weights": True}}
_BACKBONE_MIN_SIDE = {"squeezenet1_1": 17, "densenet201": 29, "vgg19_bn": 32, "googlenet": 15}


class Wrapped(nn.Module):
    """A module around a network ``net`` (an input normalisation, an exported program); its
    layers are addressed by their names inside ``net``."""

    net: nn.Module


class Normalized(Wrapped):
    """``net`` fed images in [0, 1] normalised per channel, ``(x - mean) / std``, so that a model
    trained on normalised inputs takes noise and images like every other model."""

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        if len(mean) != len(std) or not all(s > 0 for s in std):
            raise ModelError(f"normalize needs a mean and a positive std per channel, got mean {mean}, std {std}")
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


class LogProbabilities(Wrapped):
    """A ``net`` that outputs class probabilities, as a logit model: their logarithm (for one
    output, the probability of class 1, its log-odds). Softmax of the result gives ``net``'s
    probabilities back, and the predicted class is unchanged."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.net(x)
        if p.dim() == 1 or p.shape[1] == 1:
            return torch.logit(p, eps=1e-7)
        return torch.log(p.clamp_min(torch.finfo(p.dtype).tiny))


class Logits(Wrapped):
    """A ``net`` whose forward returns more than a tensor of logits, as a logit model: ``key``
    names the attribute, entry or index that holds them; without it, a Hugging Face
    ``ModelOutput``'s ``logits``, a mapping's ``logits`` entry or a tuple's first element."""

    def __init__(self, net: nn.Module, key: str | None = None):
        super().__init__()
        self.net, self.key = net, key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.key is None and isinstance(out, torch.Tensor):
            return out
        return logits_of(out, self.key)


def logits_of(out: Any, key: str | None) -> torch.Tensor:
    """The logits in a model's output ``out`` (see :class:`Logits`)."""
    if key is not None:
        if isinstance(out, Mapping) and key in out:
            found = out[key]
        elif isinstance(out, (tuple, list)) and key.lstrip("-").isdigit() and -len(out) <= int(key) < len(out):
            found = out[int(key)]
        elif not isinstance(out, (Mapping, tuple, list)) and hasattr(out, key):
            found = getattr(out, key)
        else:
            raise ModelError(f"the model's output has no {key!r}: it returns {_describe(out)}")
    elif isinstance(out, Mapping) and "logits" in out:  # a ModelOutput is a mapping too
        found = out["logits"]
    elif hasattr(out, "logits"):
        found = out.logits
    elif isinstance(out, (tuple, list)) and out:
        found = out[0]
    else:
        raise ModelError(
            f"the model returns {_describe(out)}, not a tensor of logits; name the logits with "
            "output_key (--output-key KEY: an attribute, a key or an index)"
        )
    if not isinstance(found, torch.Tensor):
        raise ModelError(f"the model's output {key or 'logits'} is {_describe(found)}, not a tensor of logits")
    return found


def _describe(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return f"a tensor of shape {tuple(out.shape)}"
    if isinstance(out, Mapping):
        return f"a {type(out).__name__} with keys {', '.join(map(str, out))}"
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of {len(out)}: " + ", ".join(_describe(o) for o in out)
    return f"a {type(out).__name__}"


class Backbone(Normalized):
    """A torchvision ImageNet classifier (``net``) that takes images in [0, 1]: it normalises
    them with the ImageNet mean and std before the network. Its final pooling is adaptive, so
    it takes any input size from a minimum that depends on the architecture."""

    def __init__(self, arch: str, in_shape: tuple[int, int, int], num_classes: int):
        _check_classes(arch, num_classes)
        if in_shape[0] != 3:
            raise ModelError(f"{arch} takes RGB images (3 channels), got in_shape (C,H,W)={tuple(in_shape)}")
        if min(in_shape[1:]) < _BACKBONE_MIN_SIDE.get(arch, 1):
            raise _too_small(arch, in_shape, _BACKBONE_MIN_SIDE[arch])
        from torchvision.models import get_model

        net = get_model(arch, weights=None, num_classes=num_classes, **_BACKBONE_ARGS.get(arch, {}))
        super().__init__(net, IMAGENET_MEAN, IMAGENET_STD)


def torchvision_net(name: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """Torchvision classification architecture ``name`` (e.g. resnet18), randomly initialised
    with ``num_classes`` outputs unless ``kwargs`` says otherwise."""
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise ModelError(f"{name!r} is not a torchvision classification architecture; known: {', '.join(known)}")
    with torch.random.fork_rng(devices=[]):
        return torchvision.models.get_model(name, weights=None, **{"num_classes": num_classes, **kwargs})


def timm_net(name: str, in_shape: tuple[int, int, int], **kwargs: Any) -> nn.Module:
    """timm architecture ``name`` (e.g. resnet18), randomly initialised, for ``in_shape[0]``
    input channels unless ``kwargs`` (e.g. ``num_classes``) says otherwise."""
    try:
        import timm
    except ImportError:
        raise ModelError(f"timm architecture {name!r} needs the timm package: pip install timm") from None
    if not timm.is_model(name):
        raise ModelError(f"{name!r} is not a timm architecture (timm.list_models() names them)")
    with torch.random.fork_rng(devices=[]):
        return timm.create_model(name, pretrained=False, **{"in_chans": in_shape[0], **kwargs})


def _import(module_name: str) -> Any:
    """``importlib.import_module``; a module not found on ``sys.path`` is also looked for in the
    working directory, as ``python -m`` would."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        cwd = os.getcwd()
        if e.name != module_name.split(".")[0] or cwd in sys.path:
            raise
        sys.path.append(cwd)
        return importlib.import_module(module_name)


def factory_net(spec: str, **kwargs: Any) -> nn.Module:
    """The model built by ``package.module:function(**kwargs)`` (found in the working directory too)."""
    module_name, _, attr = spec.partition(":")
    try:
        module = _import(module_name)
    except ImportError as e:
        raise ModelError(
            f"cannot import module {module_name!r} for factory {spec!r}: {type(e).__name__}: {e}"
        ) from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ModelError(f"module {module_name!r} has no callable {attr!r} (factory {spec!r})")
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as e:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ModelError(f"calling {spec}({args}) failed: {type(e).__name__}: {e}") from None
    model = factory(**kwargs)  # an error inside the user's factory keeps its traceback
    if not isinstance(model, nn.Module):
        raise ModelError(f"{spec}() returned a {type(model).__name__}, not a torch.nn.Module")
    return model


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "mnist_cnn": MnistCNN,
    "fashion_cnn": FashionCNN,
    "binary_cnn": BinaryCNN,
    "mlp": MLP,
    "logreg": LogReg,
    "rnn": RNN,
    "cifar_cnn": CifarCNN,
    **{arch: functools.partial(Backbone, arch) for arch in BACKBONES},
}


def check_in_shape(in_shape: Any) -> tuple[int, int, int]:
    try:
        shape = tuple(in_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ModelError(f"in_shape must be three positive integers (C, H, W), got {in_shape!r}")
    return shape  # type: ignore[return-value]


def build(arch: str, in_shape: tuple[int, int, int], num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a freshly initialised model of architecture ``arch``: a key of ARCHITECTURES,
    ``torchvision:NAME`` (any torchvision classification architecture) or
    ``factory:package.module:function`` (called with ``kwargs``)."""
    shape = check_in_shape(in_shape)
    if arch.startswith(TIMM):
        return timm_net(arch.removeprefix(TIMM), shape, **{"num_classes": num_classes, **kwargs})
    if arch.startswith(TORCHVISION):
        return torchvision_net(arch.removeprefix(TORCHVISION), **{"num_classes": num_classes, **kwargs})
    if arch.startswith(FACTORY):
        return factory_net(arch.removeprefix(FACTORY), **kwargs)
    if arch not in ARCHITECTURES:
        raise ModelError(
            f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}, {TORCHVISION}NAME, "
            f"{TIMM}NAME or {FACTORY}package.module:function"
        )
    factory = ARCHITECTURES[arch]
    try:
        inspect.signature(factory).bind(shape, num_classes, **kwargs)
    except TypeError:
        options = [p for p in inspect.signature(factory).parameters if p not in ("in_shape", "num_classes")]
        raise ModelError(
            f"architecture {arch!r} does not accept options {sorted(kwargs)}; "
            f"it accepts: {', '.join(options) or 'none'}"
        ) from None
    return factory(shape, num_classes, **kwargs)


def predict_labels(logits: torch.Tensor) -> torch.Tensor:
    """Predicted labels (N,): ``logit > 0`` for one-logit binary outputs (N,1)/(N,), else argmax."""
    if logits.dim() == 1 or (logits.dim() == 2 and logits.shape[1] == 1):
        return (logits.reshape(-1) > 0).long()
    if logits.dim() == 2:
        return logits.argmax(dim=1)
    raise ModelError(f"logits must have shape (N,K) or (N,), got {tuple(logits.shape)}")
