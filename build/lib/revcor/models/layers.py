"""Layers addressed by their dotted ``named_modules()`` names, and forward hooks on them
that are always released: capture outputs, stop a pass early, replace an output."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import nn

from revcor.models.architectures import Wrapped
from revcor.models.onnx import OnnxModule
from revcor.models.specs import ModelError


def network(model: nn.Module) -> nn.Module:
    """The user's network inside any :class:`Wrapped` layers (normalisation, exported program)."""
    while isinstance(model, Wrapped):
        model = model.net
    return model


def layer_names(model: nn.Module) -> list[str]:
    """Dotted names of all layers (as in the network's ``named_modules``), excluding the
    network itself."""
    return [n for n, _ in network(model).named_modules() if n]


def hookable(model: nn.Module) -> bool:
    """Whether forward hooks on the network's layers run (not in TorchScript's compiled code,
    nor in an ONNX model run by onnxruntime)."""
    return not isinstance(network(model), (torch.jit.ScriptModule, OnnxModule))


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The layer called ``name`` (dotted ``named_modules`` name of the network). TorchScript
    networks refuse: their compiled code runs no Python hooks."""
    net = network(model)
    if not hookable(model):
        raise ModelError(
            "layer analyses (STA/STC, activations, injection, microstimulation) hook layers, which a "
            "TorchScript or ONNX model cannot run; give the model as a torch.export program (.pt2), a "
            "factory with a state dict, or a revcor model file"
        )
    modules = dict(net.named_modules())
    if not name or name not in modules:
        raise ModelError(f"model has no layer {name!r}; valid layers: {', '.join(layer_names(model)) or 'none'}")
    return modules[name]


@contextmanager
def capture(model: nn.Module, names: str | Sequence[str]) -> Iterator[dict[str, Any]]:
    """Record the outputs of the named submodules during forward passes.

    Yields a dict that each forward pass fills with ``name -> module output`` (the last
    call wins if a module runs twice). Unknown names raise :class:`ModelError` listing the
    valid ones. The hooks are removed on exit, also when the block raises.
    """
    names = [names] if isinstance(names, str) else list(names)
    modules = {name: get_layer(model, name) for name in names}
    outputs: dict[str, Any] = {}
    handles = []
    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(_recorder(outputs, name)))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def _recorder(outputs: dict[str, Any], name: str):
    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        outputs[name] = output

    return hook


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the layers of interest have run."""


@contextmanager
def stop_after(model: nn.Module, names: Sequence[str]) -> Iterator[None]:
    """End every forward pass (raising :class:`_Stop`, see :func:`run_hooks`) as soon as all
    the named modules have run in it: what comes after them is not needed. Register it
    after :func:`capture` so that the outputs are recorded first."""
    pending: set[str] = set()

    def start(module: nn.Module, inputs: Any) -> None:
        pending.update(names)

    def done(name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            pending.discard(name)
            if not pending:
                raise _Stop

        return hook

    handles = [model.register_forward_pre_hook(start)]
    try:
        handles += [get_layer(model, name).register_forward_hook(done(name)) for name in names]
        yield
    finally:
        for handle in handles:
            handle.remove()


def run_hooks(model: nn.Module, x: torch.Tensor) -> Any:
    """Run ``model`` on ``x`` for its hooks' sake, up to where :func:`stop_after` ends it;
    the model's output, or None if the pass was ended."""
    try:
        return model(x)
    except _Stop:
        return None


Outputs = tuple[torch.Tensor | None, dict[str, torch.Tensor]]


@contextmanager
def outputs(
    model: nn.Module, names: Sequence[str], *, logits: bool = False, stop: bool = True
) -> Iterator[Callable[[torch.Tensor], Outputs]]:
    """Within the block, a function from a batch to (the model's output if ``logits`` else
    None, the outputs of the named layers). ``stop`` ends each pass once the layers have run
    (eager runs); without it the whole pass runs, which a compiled function prunes to what it
    returns. A layer that does not run raises :class:`ModelError`."""
    if logits and stop:
        raise ValueError("the model's output needs the whole forward pass: stop=False")
    with capture(model, names) as out, stop_after(model, names) if stop else nullcontext():

        def fn(x: torch.Tensor) -> Outputs:
            out.clear()
            y = run_hooks(model, x)
            missing = [name for name in names if name not in out]
            if missing:
                raise ModelError(f"layers {', '.join(map(repr, missing))} did not run in the model's forward pass")
            return (y if logits else None), {name: out[name] for name in names}

        yield fn


@contextmanager
def replace_output(model: nn.Module, name: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Within the block the output ``a`` of module ``name`` is replaced by ``fn(a)``; the
    hook is removed on exit, also on an exception."""
    handle = get_layer(model, name).register_forward_hook(lambda module, args, output: fn(output))
    try:
        yield
    finally:
        handle.remove()
