"""Model architectures of the paper (with the torchvision ImageNet backbones of its Table 1),
and saving, loading and checking of models.

Every architecture takes float images in [0, 1] of shape (N, C, H, W) and returns LOGITS
(no softmax inside ``forward``). Binary tasks use ONE logit: the predicted label is
``logit > 0`` (class 1), see :func:`predict_labels`.

:func:`load` reads four kinds of model specs: a revcor model file written by :func:`save`,
a TorchScript file, a ``torch.export`` program (``.pt2``), or ``package.module:factory``
together with a state-dict file.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import itertools
import json
import os
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from . import store

FORMAT = "revcor-model/1"
_FACTORY_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class ModelError(ValueError):
    """A model cannot be built, loaded, saved or used as asked; the message says why."""


# ----------------------------------------------------------------------------- architectures


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
        f"{arch} needs images of at least {minimum}x{minimum} pixels, "
        f"got in_shape (C,H,W)={tuple(in_shape)}"
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
# weights; revcor.backbones loads the published weights into them.
BACKBONES = ("resnet152", "resnet101", "densenet201", "squeezenet1_1", "googlenet", "mnasnet1_3", "vgg19_bn")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the normalisation every one of their weights was trained with
IMAGENET_STD = (0.229, 0.224, 0.225)
# constructor arguments that give the random network the pretrained one's state-dict keys
# (torchvision's googlenet drops its auxiliary heads when it loads weights)
_BACKBONE_ARGS = {"googlenet": {"aux_logits": False, "transform_input": True, "init_weights": True}}
_BACKBONE_MIN_SIDE = {"squeezenet1_1": 17, "densenet201": 29, "vgg19_bn": 32, "googlenet": 15}


class Backbone(nn.Module):
    """A torchvision ImageNet classifier (``net``) that takes images in [0, 1]: it normalises
    them with the ImageNet mean and std before the network. Its final pooling is adaptive, so
    it takes any input size from a minimum that depends on the architecture."""

    def __init__(self, arch: str, in_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        _check_classes(arch, num_classes)
        if in_shape[0] != 3:
            raise ModelError(f"{arch} takes RGB images (3 channels), got in_shape (C,H,W)={tuple(in_shape)}")
        if min(in_shape[1:]) < _BACKBONE_MIN_SIDE.get(arch, 1):
            raise _too_small(arch, in_shape, _BACKBONE_MIN_SIDE[arch])
        from torchvision.models import get_model

        self.net = get_model(arch, weights=None, num_classes=num_classes, **_BACKBONE_ARGS.get(arch, {}))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


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


def _check_in_shape(in_shape: Any) -> tuple[int, int, int]:
    try:
        shape = tuple(in_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ModelError(f"in_shape must be three positive integers (C, H, W), got {in_shape!r}")
    return shape  # type: ignore[return-value]


def build(arch: str, in_shape: tuple[int, int, int], num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a freshly initialised model of architecture ``arch`` (a key of ARCHITECTURES)."""
    if arch not in ARCHITECTURES:
        raise ModelError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    shape = _check_in_shape(in_shape)
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


# ----------------------------------------------------------------------------- save / load


def _rebuild(arch: str, in_shape: Any, num_classes: int, kwargs: Mapping[str, Any]) -> nn.Module:
    """Build a model whose weights will be replaced, without consuming the global torch RNG."""
    with torch.random.fork_rng(devices=[]):
        return build(arch, in_shape, num_classes, **kwargs)


def _short(e: BaseException, limit: int = 240) -> str:
    """A one-line description of an exception."""
    lines = [s.strip() for s in str(e).splitlines() if s.strip()]
    text = lines[0] if lines else type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _listing(items: list[str], limit: int = 5) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _state_dict_mismatch(model: nn.Module, state: Mapping[str, Any]) -> str | None:
    """Describe how ``state`` fails to match ``model.state_dict()``, or None if it matches."""
    own = model.state_dict()
    problems = []
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != v.shape
    ]
    if missing:
        problems.append(f"missing keys {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_listing(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch {_listing(shapes, 3)}")
    return "; ".join(problems) or None


def save(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    arch: str,
    in_shape: tuple[int, int, int],
    num_classes: int,
    kwargs: dict,
    meta: dict,
) -> None:
    """Write ``model`` as a revcor model file (atomically) that :func:`load` can rebuild.

    The file is a ``torch.save`` of a plain dict {format, arch, kwargs, in_shape,
    num_classes, meta, state_dict}; ``kwargs`` and ``meta`` must be JSON-serialisable.
    """
    for what, value in (("kwargs", kwargs), ("meta", meta)):
        try:
            json.dumps(value)
        except (TypeError, ValueError) as e:
            raise ModelError(f"cannot save model to {path}: {what} is not JSON-serialisable ({e})") from None
    reference = _rebuild(arch, in_shape, num_classes, kwargs)
    problem = _state_dict_mismatch(reference, model.state_dict())
    if problem:
        raise ModelError(f"cannot save model to {path}: it is not a {arch} model for in_shape {tuple(in_shape)} ({problem})")
    state = model.state_dict()
    cpu_state = type(state)((k, v.detach().cpu()) for k, v in state.items())
    if hasattr(state, "_metadata"):
        cpu_state._metadata = state._metadata  # module versions, which e.g. MNASNet needs to load
    obj = {
        "format": FORMAT,
        "arch": arch,
        "kwargs": dict(kwargs),
        "in_shape": tuple(int(s) for s in in_shape),
        "num_classes": int(num_classes),
        "meta": dict(meta),
        "state_dict": cpu_state,
    }
    with store.atomic_path(path) as tmp:
        torch.save(obj, tmp)


@dataclass
class LoadedModel:
    """A loaded model in eval mode, with what is known about its inputs and outputs."""

    module: nn.Module
    in_shape: tuple[int, int, int] | None
    num_classes: int | None
    source: str
    meta: dict = field(default_factory=dict)


class ExportedModule(nn.Module):
    """Wraps a ``torch.export`` program. Its train/eval behaviour was fixed at export time
    (:func:`load` only accepts programs exported in eval mode), so ``train()`` only sets the flag."""

    def __init__(self, program: nn.Module):
        super().__init__()
        self.program = program

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.program(x)

    def train(self, mode: bool = True) -> "ExportedModule":
        self.training = mode
        return self


def _zip_kind(path: Path) -> str | None:
    """'export' for a torch.export archive, 'torchscript' for a TorchScript archive, else None."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    if any(n == "archive_format" or n.endswith("/archive_format") for n in names):
        return "export"
    if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
        return "torchscript"
    return None


def _torch_load(path: Path, what: str) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" not in str(e):
            raise ModelError(f"{what} {path} is not a file torch.load can read (corrupt, or another format)") from None
        raise ModelError(
            f"{what} {path} contains pickled Python objects (e.g. torch.save(model)), which revcor "
            "does not unpickle; save a state_dict, TorchScript or torch.export program instead"
        ) from None
    except Exception as e:
        raise ModelError(f"{what} {path} is not readable by torch.load: {_short(e)}") from None


def _training_ops(graph: torch.fx.Graph) -> list[str]:
    """Names of ops in an exported graph that run in training mode (dropout, batch-norm statistics)."""
    found = []
    for node in graph.nodes:
        schema = getattr(node.target, "_schema", None)
        if node.op != "call_function" or schema is None:
            continue
        for i, arg in enumerate(schema.arguments):
            if arg.name in ("train", "training"):
                value = node.args[i] if i < len(node.args) else node.kwargs.get(arg.name)
                if value is True:
                    found.append(str(node.target))
    return found


def _load_export(path: Path) -> tuple[nn.Module, tuple[int, int, int] | None]:
    try:
        program = torch.export.load(path)
    except Exception as e:
        raise ModelError(f"cannot load torch.export program {path}: {_short(e)}") from None
    user_inputs = list(program.graph_signature.user_inputs)
    if len(user_inputs) != 1:
        raise ModelError(f"torch.export program {path} takes {len(user_inputs)} inputs; expected one image batch")
    training = _training_ops(program.graph)
    if training:
        raise ModelError(
            f"torch.export program {path} was exported in training mode ({_listing(sorted(set(training)), 3)}); "
            "call model.eval() before torch.export.export"
        )
    in_shape = None
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name == user_inputs[0]:
            shape = tuple(getattr(node.meta.get("val"), "shape", ()))
            if len(shape) == 4 and isinstance(shape[0], int):
                raise ModelError(
                    f"torch.export program {path} was exported with a fixed batch size of {shape[0]}; export it "
                    "with dynamic_shapes={'x': {0: torch.export.Dim('batch')}} and an example batch of >= 2"
                )
            if len(shape) == 4 and all(isinstance(s, int) for s in shape[1:]):
                in_shape = tuple(shape[1:])
    try:
        module = program.module()
    except Exception as e:
        raise ModelError(f"cannot turn torch.export program {path} into a module: {_short(e)}") from None
    return ExportedModule(module), in_shape  # type: ignore[return-value]


def _load_revcor(path: Path, obj: Any) -> LoadedModel:
    if not isinstance(obj, Mapping):
        raise ModelError(f"{path} holds a {type(obj).__name__}, not a model")
    if "format" not in obj:
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise ModelError(
                f"{path} is a bare state dict, not a model; pass it as the state dict "
                "together with a package.module:factory spec"
            )
        raise ModelError(f"{path} is not a revcor model file (no 'format' entry)")
    if obj["format"] != FORMAT:
        raise ModelError(f"{path} has format {obj['format']!r}; this revcor reads {FORMAT!r}")
    try:
        arch, kwargs, in_shape, num_classes = obj["arch"], obj["kwargs"], tuple(obj["in_shape"]), obj["num_classes"]
        state, meta = obj["state_dict"], obj["meta"]
    except KeyError as e:
        raise ModelError(f"revcor model file {path} lacks the entry {e}") from None
    try:
        model = _rebuild(arch, in_shape, num_classes, kwargs)
    except ModelError as e:
        raise ModelError(f"cannot rebuild the model in {path}: {e}") from None
    _load_state(model, state, f"revcor model file {path}")
    return LoadedModel(model, in_shape, num_classes, f"{arch} model {path}", dict(meta))  # type: ignore[arg-type]


def _load_state(model: nn.Module, state: Any, what: str) -> None:
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{what} does not hold a state dict (a mapping of names to tensors)")
    problem = _state_dict_mismatch(model, state)
    if problem:
        raise ModelError(f"{what} does not fit the model: {problem}")
    try:
        model.load_state_dict(state, strict=True)
    except Exception as e:
        raise ModelError(f"{what} does not fit the model: {_short(e)}") from None


def _load_factory(spec: str, state_dict: str | os.PathLike | None) -> nn.Module:
    module_name, attr = spec.split(":")
    if state_dict is None:
        raise ModelError(f"model spec {spec!r} needs a state dict file with the trained weights")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise ModelError(f"cannot import module {module_name!r} for model spec {spec!r}: {type(e).__name__}: {_short(e)}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ModelError(f"module {module_name!r} has no callable {attr!r} (model spec {spec!r})")
    try:
        model = factory()
    except Exception as e:
        raise ModelError(f"calling {spec}() failed: {type(e).__name__}: {_short(e)}") from None
    if not isinstance(model, nn.Module):
        raise ModelError(f"{spec}() returned a {type(model).__name__}, not a torch.nn.Module")
    path = Path(state_dict)
    if not path.is_file():
        raise ModelError(f"state dict file {path} does not exist")
    obj = _torch_load(path, "state dict file")
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]  # a revcor model file or a checkpoint dict
    _load_state(model, obj, f"state dict file {path}")
    return model


def load(spec: str | os.PathLike, state_dict: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> LoadedModel:
    """Load a model for analysis, in eval mode on ``device``.

    ``spec`` is a revcor model file (from :func:`save`), a TorchScript file, a
    ``torch.export`` program (``.pt2``, exported in eval mode with a dynamic batch
    dimension), or ``package.module:factory`` where ``factory()`` builds the model and
    ``state_dict`` names the file of its weights. Files are recognised by content.
    Any failure raises :class:`ModelError` with a one-line reason.
    """
    text = os.fspath(spec)
    path = Path(text)
    if not path.exists() and _FACTORY_SPEC.match(text):
        module = _load_factory(text, state_dict)
        loaded = LoadedModel(module, None, None, f"{text} with weights {state_dict}", {})
    else:
        if state_dict is not None:
            raise ModelError(f"a state dict file is only used with a package.module:factory spec, not with {text}")
        if not path.is_file():
            raise ModelError(f"model file {text} does not exist (nor is it a package.module:factory spec)")
        kind = _zip_kind(path)
        if kind == "export":
            module, in_shape = _load_export(path)
            loaded = LoadedModel(module, in_shape, None, f"torch.export program {path}", {})
        elif kind == "torchscript":
            try:
                with warnings.catch_warnings():  # TorchScript is deprecated, but still a supported input here
                    warnings.simplefilter("ignore", FutureWarning)
                    module = torch.jit.load(path, map_location="cpu")
            except Exception as e:
                raise ModelError(f"cannot load TorchScript file {path}: {_short(e)}") from None
            loaded = LoadedModel(module, None, None, f"TorchScript model {path}", {})
        else:
            loaded = _load_revcor(path, _torch_load(path, "model file"))
    try:
        loaded.module.to(device)
    except Exception as e:
        raise ModelError(f"cannot move model {loaded.source} to device {device}: {_short(e)}") from None
    loaded.module.eval()
    return loaded


# ----------------------------------------------------------------------------- use


def _device_of(model: nn.Module) -> torch.device:
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


def check_fits(model: nn.Module, in_shape: tuple[int, int, int], num_classes: int | None, name: str = "model") -> int:
    """Check that ``model`` maps (N, *in_shape) images to (N, K) or (N,) logits; return K.

    K == 1 (one logit) is accepted for a two-class task. Runs one forward pass of a zero
    batch in eval mode (the model's mode is restored afterwards).
    """
    shape = _check_in_shape(in_shape)
    x = torch.zeros((2, *shape), device=_device_of(model))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as e:
        raise ModelError(f"{name} does not accept inputs of shape (N,C,H,W)=(N,{','.join(map(str, shape))}): {_short(e)}") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() not in (1, 2) or out.shape[0] != 2:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelError(f"{name} must return logits of shape (N,K) or (N,); for N=2 it returned {got}")
    k = 1 if out.dim() == 1 else int(out.shape[1])
    if num_classes is not None and k != num_classes and not (k == 1 and num_classes == 2):
        raise ModelError(f"{name} has {k} output{'s' * (k != 1)} but the data has {num_classes} classes")
    return k


def predict_labels(logits: torch.Tensor) -> torch.Tensor:
    """Predicted labels (N,): ``logit > 0`` for one-logit binary outputs (N,1)/(N,), else argmax."""
    if logits.dim() == 1 or (logits.dim() == 2 and logits.shape[1] == 1):
        return (logits.reshape(-1) > 0).long()
    if logits.dim() == 2:
        return logits.argmax(dim=1)
    raise ModelError(f"logits must have shape (N,K) or (N,), got {tuple(logits.shape)}")


def layer_names(model: nn.Module) -> list[str]:
    """Dotted names of all submodules (as in ``named_modules``), excluding the model itself."""
    return [n for n, _ in model.named_modules() if n]


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (dotted ``named_modules`` name)."""
    modules = dict(model.named_modules())
    if not name or name not in modules:
        raise ModelError(f"model has no layer {name!r}; valid layers: {', '.join(layer_names(model)) or 'none'}")
    return modules[name]
