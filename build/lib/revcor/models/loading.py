"""Saving, loading and checking models.

:func:`load` reads four kinds of model specs: a revcor model file written by :func:`save` or
:func:`save_program`, a TorchScript file, a ``torch.export`` program (``.pt2``), or
``package.module:factory`` together with a state-dict file. A revcor model file records how
to rebuild the network (a revcor architecture, ``torchvision:NAME``,
``factory:package.module:function``, or an embedded TorchScript / ``torch.export`` file), its
weights, and the ``normalize`` its inputs need.
"""

from __future__ import annotations

import io
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
from typing import Any

import torch
from torch import nn

from revcor.base import store
from revcor.models import onnx
from revcor.models.architectures import (
    Logits,
    LogProbabilities,
    ModelError,
    Normalized,
    Wrapped,
    build,
    check_in_shape,
    factory_net,
)
from revcor.models.specs import FACTORY, TIMM

FORMAT = "revcor-model/2"
_READABLE = ("revcor-model/1", FORMAT)  # version 1: no normalize, no embedded programs
PROGRAMS = ("torchscript", "export", "onnx")  # archs of revcor model files that embed a program file
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")  # where checkpoints keep weights
FACTORY_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _rebuild(arch: str, in_shape: Any, num_classes: int, kwargs: Mapping[str, Any]) -> nn.Module:
    """Build a model whose weights will be replaced, without consuming the global torch RNG."""
    with torch.random.fork_rng(devices=[]):
        return build(arch, in_shape, num_classes, **kwargs)


def _short(e: BaseException, limit: int = 240) -> str:
    """A one-line description of an exception (for TorchScript's, its last line: the cause)."""
    lines = [s.strip() for s in str(e).splitlines() if s.strip()]
    text = lines[0] if lines else type(e).__name__
    if text.startswith("The following operation failed in the TorchScript interpreter"):
        text = lines[-1]
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
    normalize: Mapping[str, list[float]] | None = None,
    outputs: str = "logits",
) -> None:
    """Write ``model`` as a revcor model file (atomically) that :func:`load` can rebuild.

    The file is a ``torch.save`` of a plain dict {format, arch, kwargs, in_shape,
    num_classes, meta, normalize, outputs, state_dict}; ``kwargs`` and ``meta`` must be
    JSON-serialisable. :func:`load` normalises the inputs with ``normalize`` ({mean, std}
    per channel) and takes the log of ``outputs="probabilities"``; ``model`` is then the
    network without either.
    """
    for what, value in (("kwargs", kwargs), ("meta", meta), ("normalize", normalize)):
        try:
            json.dumps(value)
        except (TypeError, ValueError) as e:
            raise ModelError(f"cannot save model to {path}: {what} is not JSON-serialisable ({e})") from None
    reference = _rebuild(arch, in_shape, num_classes, kwargs)
    problem = _state_dict_mismatch(reference, model.state_dict())
    if problem:
        raise ModelError(
            f"cannot save model to {path}: it is not a {arch} model for in_shape {tuple(in_shape)} ({problem})"
        )
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
        "normalize": dict(normalize) if normalize else None,
        "outputs": outputs,
        "state_dict": cpu_state,
    }
    with store.atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_program(
    program: str | os.PathLike,
    path: str | os.PathLike,
    *,
    in_shape: tuple[int, int, int],
    num_classes: int,
    meta: dict,
    normalize: Mapping[str, list[float]] | None = None,
    outputs: str = "logits",
) -> None:
    """Write the TorchScript, ``torch.export`` or ONNX file ``program`` into a revcor model file
    (with the ``normalize`` and ``outputs`` of :func:`save`), atomically."""
    program = Path(program)
    kind = file_kind(program)
    if kind not in PROGRAMS:
        raise ModelError(f"{program} is neither a TorchScript file, a torch.export program nor an ONNX model")
    obj = {
        "format": FORMAT,
        "arch": kind,
        "kwargs": {},
        "in_shape": tuple(int(s) for s in in_shape),
        "num_classes": int(num_classes),
        "meta": dict(meta),
        "normalize": dict(normalize) if normalize else None,
        "outputs": outputs,
        "program": onnx.read(program) if kind == "onnx" else program.read_bytes(),
        "state_dict": {},
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

    def class_names(self, n_logits: int) -> list[str]:
        """Class names recorded with a revcor model, else numbers (two for one logit)."""
        names = self.meta.get("classes") if self.meta else None
        return list(names) if names else [str(i) for i in range(max(n_logits, 2))]


class ExportedModule(Wrapped):
    """A ``torch.export`` program as a module (``torch.export.unflatten``, which keeps the
    original layers and their names). Its train/eval behaviour was fixed at export time
    (:func:`load` only accepts programs exported in eval mode), so ``train()`` only sets the flag."""

    def __init__(self, program: torch.export.ExportedProgram, data: bytes):
        super().__init__()
        self.net = torch.export.unflatten(program)
        self.data = data  # the serialised program, for copies

    def __deepcopy__(self, memo: dict) -> ExportedModule:
        """A copy with its own weights (the unflattened graph itself cannot be deep-copied)."""
        copy = ExportedModule(torch.export.load(io.BytesIO(self.data)), self.data)
        copy.load_state_dict(self.state_dict())
        return copy.train(self.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def train(self, mode: bool = True) -> ExportedModule:
        self.training = mode
        return self


def file_kind(path: str | os.PathLike) -> str:
    """``torchscript``, ``export``, ``onnx`` or (anything else) ``revcor``: what :func:`load`
    reads a file as."""
    path = Path(path)
    return _zip_kind(path) or ("onnx" if onnx.is_onnx(path) else "revcor")


def copy_revcor(
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    meta: dict,
    normalize: Mapping[str, list[float]] | None = None,
    outputs: str = "logits",
) -> None:
    """Copy the revcor model file ``path`` to ``out`` (atomically, in the current format) with
    ``meta`` added and, when given, ``normalize`` and ``outputs`` set."""
    path = Path(path)
    obj = _torch_load(path, "model file")
    _load_revcor(path, obj)  # the same checks as loading it
    obj = {
        **obj,
        "format": FORMAT,
        "meta": {**obj["meta"], **meta},
        "normalize": dict(normalize) if normalize else obj.get("normalize"),
        "outputs": outputs if outputs != "logits" else obj.get("outputs", "logits"),
    }
    with store.atomic_path(out) as tmp:
        torch.save(obj, tmp)


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
            raise ModelError(
                f"{what} {path} is not a model file revcor reads (torch.load cannot unpickle it); give a revcor "
                "model file, TorchScript, a torch.export program, an ONNX model, or a factory with a state dict"
            ) from None
        raise ModelError(
            f"{what} {path} contains pickled Python objects (e.g. torch.save(model)), which revcor "
            "does not unpickle; save a state_dict, TorchScript or torch.export program instead"
        ) from None
    except (RuntimeError, OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise ModelError(
            f"{what} {path} is not a model file revcor reads (torch.load fails: {_short(e)}); give a revcor model "
            "file, TorchScript, a torch.export program, an ONNX model, or a factory with a state dict"
        ) from None


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


def _load_export(path: Path, data: bytes | None = None) -> tuple[nn.Module, tuple[int, int, int] | None]:
    """The program of the file ``path`` (or of ``data``, that file's bytes) and its input shape."""
    try:
        program = torch.export.load(path if data is None else io.BytesIO(data))
    except (RuntimeError, OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as e:
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
        module = ExportedModule(program, path.read_bytes() if data is None else data)
    except (RuntimeError, ValueError) as e:
        raise ModelError(f"cannot turn torch.export program {path} into a module: {_short(e)}") from None
    return module, in_shape


def _load_torchscript(path: Path, data: bytes | None = None) -> nn.Module:
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated, but still a supported input here
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(path if data is None else io.BytesIO(data), map_location="cpu")
    except (RuntimeError, OSError, ValueError) as e:
        raise ModelError(f"cannot load TorchScript file {path}: {_short(e)}") from None


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
    if obj["format"] not in _READABLE:
        raise ModelError(f"{path} has format {obj['format']!r}; this revcor reads {', '.join(_READABLE)}")
    try:
        arch, kwargs, in_shape, num_classes = obj["arch"], obj["kwargs"], tuple(obj["in_shape"]), obj["num_classes"]
        state, meta = obj["state_dict"], obj["meta"]
    except KeyError as e:
        raise ModelError(f"revcor model file {path} lacks the entry {e}") from None
    if arch == "export":
        model, _ = _load_export(path, obj["program"])
    elif arch == "torchscript":
        model = _load_torchscript(path, obj["program"])
    elif arch == "onnx":
        model = onnx.load(path, obj["program"])
    else:
        try:
            model = _rebuild(arch, in_shape, num_classes, kwargs)
        except ModelError as e:
            raise ModelError(f"cannot rebuild the model in {path}: {e}") from None
        _load_state(model, state, f"revcor model file {path}")
    structured = arch in PROGRAMS or arch.startswith((FACTORY, TIMM))  # may return more than logits
    model = wrap(model, obj.get("normalize"), obj.get("outputs", "logits"), meta.get("output_key"), structured)
    return LoadedModel(model, in_shape, num_classes, f"{arch} model {path}", dict(meta))  # type: ignore[arg-type]


def wrap(
    model: nn.Module,
    normalize: Mapping[str, Any] | None = None,
    outputs: str = "logits",
    output_key: str | None = None,
    structured: bool = True,
) -> nn.Module:
    """``model`` as revcor feeds it: inputs in [0, 1] normalised with ``normalize`` ({mean, std}
    per channel); the logits taken from what it returns (:class:`Logits`, for a model that is
    ``structured``, i.e. may return more than a tensor, or given ``output_key``); for
    ``outputs="probabilities"`` the log of its outputs as logits."""
    if outputs not in ("logits", "probabilities"):
        raise ModelError(f"outputs must be logits or probabilities, got {outputs!r}")
    if structured or output_key is not None:
        model = Logits(model, output_key)
    if outputs == "probabilities":
        model = LogProbabilities(model)
    if normalize:
        model = Normalized(model, normalize["mean"], normalize["std"])
    return model


def _load_state(model: nn.Module, state: Any, what: str) -> None:
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{what} does not hold a state dict (a mapping of names to tensors)")
    problem = _state_dict_mismatch(model, state)
    if problem:
        raise ModelError(f"{what} does not fit the model: {problem}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelError(f"{what} does not fit the model: {_short(e)}") from None


def load_state_file(model: nn.Module, state_dict: str | os.PathLike) -> None:
    """Load the weights in the file ``state_dict`` (a state dict saved by ``torch.save`` or as
    ``.safetensors``, a checkpoint dict holding one under a key of :data:`CHECKPOINT_KEYS`, or a
    revcor model file) into ``model``."""
    path = Path(state_dict)
    if not path.is_file():
        raise ModelError(f"state dict file {path} does not exist")
    obj = _load_safetensors(path) if _is_safetensors(path) else _torch_load(path, "state dict file")
    if isinstance(obj, Mapping) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = [k for k in CHECKPOINT_KEYS if isinstance(obj.get(k), Mapping)]
        if inner:  # a revcor model file or a training checkpoint
            obj = obj[inner[0]]
        else:
            raise ModelError(
                f"state dict file {path} holds a checkpoint with keys {_listing(sorted(map(str, obj)), 8)} and no "
                f"state dict under {', '.join(CHECKPOINT_KEYS)}; save model.state_dict() on its own"
            )
    _load_state(model, obj, f"state dict file {path}")


def _is_safetensors(path: Path) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then a JSON header."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") <= path.stat().st_size


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:
        raise ModelError(
            f"{path} is a safetensors file, which needs the safetensors package: pip install safetensors"
        ) from None
    try:
        return load_file(path)
    except SafetensorError as e:
        raise ModelError(f"cannot read safetensors file {path}: {e}") from None


def _load_factory(spec: str, state_dict: str | os.PathLike | None) -> nn.Module:
    if state_dict is None:
        raise ModelError(f"model spec {spec!r} needs a state dict file with the trained weights")
    model = factory_net(spec)
    load_state_file(model, state_dict)
    return model


def load(
    spec: str | os.PathLike,
    state_dict: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    *,
    normalize: Mapping[str, Any] | None = None,
    outputs: str = "logits",
    output_key: str | None = None,
) -> LoadedModel:
    """Load a model for analysis, in eval mode on ``device``, wrapped by :func:`wrap` with
    ``normalize``, ``outputs`` and ``output_key`` (besides what a revcor model file records).

    ``spec`` is a revcor model file (from :func:`save`), a TorchScript file, a
    ``torch.export`` program (``.pt2``, exported in eval mode with a dynamic batch
    dimension), an ONNX model (run with onnxruntime), or ``package.module:factory`` where
    ``factory()`` builds the model and ``state_dict`` names the file of its weights (a
    ``torch.save`` or ``.safetensors`` file). Files are recognised by content.
    Any failure raises :class:`ModelError` with a one-line reason.
    """
    text = os.fspath(spec)
    path = Path(text)
    structured = True  # the model may return more than a tensor of logits
    if not path.exists() and FACTORY_SPEC.match(text):
        module = _load_factory(text, state_dict)
        loaded = LoadedModel(module, None, None, f"{text} with weights {state_dict}", {})
    else:
        if state_dict is not None:
            raise ModelError(f"a state dict file is only used with a package.module:factory spec, not with {text}")
        if path.is_dir():
            raise ModelError(f"model {text} is a folder; give the model file")
        if not path.is_file():
            raise ModelError(f"model file {text} does not exist (nor is it a package.module:factory spec)")
        kind = file_kind(path)
        if kind == "export":
            module, in_shape = _load_export(path)
            loaded = LoadedModel(module, in_shape, None, f"torch.export program {path}", {})
        elif kind == "torchscript":
            loaded = LoadedModel(_load_torchscript(path), None, None, f"TorchScript model {path}", {})
        elif kind == "onnx":
            module = onnx.load(path)
            loaded = LoadedModel(module, module.in_shape, None, f"ONNX model {path}", {})
        else:
            loaded = _load_revcor(path, _torch_load(path, "model file"))
            structured = False  # wrapped as its file records
    loaded.module = wrap(loaded.module, normalize, outputs, output_key, structured)
    try:
        loaded.module.to(device)
    except (RuntimeError, AssertionError) as e:
        raise ModelError(f"cannot move model {loaded.source} to device {device}: {_short(e)}") from None
    loaded.module.eval()
    return loaded


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a model without any)."""
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")


def check_fits(model: nn.Module, in_shape: tuple[int, int, int], num_classes: int | None, name: str = "model") -> int:
    """Check that ``model`` maps (N, *in_shape) images to (N, K) or (N,) logits; return K.

    K == 1 (one logit) is accepted for a two-class task. Runs one forward pass of a zero
    batch in eval mode (the model's mode is restored afterwards).
    """
    shape = check_in_shape(in_shape)
    x = torch.zeros((2, *shape), device=device_of(model))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except ModelError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as e:
        raise ModelError(
            f"{name} does not accept inputs of shape (N,C,H,W)=(N,{','.join(map(str, shape))}): {_short(e)}"
        ) from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.dim() not in (1, 2) or out.shape[0] != 2:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelError(f"{name} must return logits of shape (N,K) or (N,); for N=2 it returned {got}")
    k = 1 if out.dim() == 1 else int(out.shape[1])
    if num_classes is not None and k != num_classes and not (k == 1 and num_classes == 2):
        raise ModelError(f"{name} has {k} output{'s' * (k != 1)} but the data has {num_classes} classes")
    return k
