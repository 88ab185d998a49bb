"""The noise engine: chunk by chunk, draw stimuli on the device, run the model, hand on.

An experiment of ``n`` samples is cut into chunks of ``chunk_size``; chunk ``i`` is drawn
from a generator keyed by ``(seed, i)`` (see :mod:`revcor.noise.sources`), so chunks can be run in
any order, split over any number of jobs, and regenerated exactly.

The model's forward pass is compiled (``torch.compile``) when it pays (:func:`compile_mode`):
one graph for the run's batch size, a short last batch padded to it, and a first batch that
is also run eagerly to check that the labels agree; a model that does not compile runs eagerly
after one warning. Compiled code is cached on disk (inductor's caches, in
:data:`COMPILE_CACHE`), so only the first job of a model on a machine pays for compiling.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils._pytree import tree_leaves, tree_map_only
from tqdm import tqdm

from revcor.base.defaults import CACHE
from revcor.base.device import engine_settings
from revcor.core.stats import rounds
from revcor.data import datasets
from revcor.models import given, layers
from revcor.models.architectures import predict_labels
from revcor.noise.rng import ChunkRNG
from revcor.noise.sources import NoiseSource

log = logging.getLogger(__name__)

COMPILE_MIN_IMAGES = 500_000  # compile: auto compiles runs of at least this many images (where it pays)
SMALL_MODEL = 10_000_000  # parameters: on CUDA, smaller models replay CUDA graphs (reduce-overhead)
# inductor's on-disk caches, shared by every job and run of this user (TORCHINDUCTOR_CACHE_DIR wins)
COMPILE_CACHE = CACHE / "inductor"


@dataclass
class Signal:
    """Signal+noise trials (Eq. 3): ``t = gamma * s + (1 - gamma) * n``.

    Each trial draws a signal image uniformly from ``images``; trial ``k`` of the
    experiment uses ``gammas[k % len(gammas)]``, so every gamma gets the same count.
    """

    images: torch.Tensor  # (S, C, H, W) float in [0, 1]
    labels: torch.Tensor  # (S,) int64, the class index of each signal image
    gammas: list[float]


@dataclass
class Chunk:
    """One chunk's stimuli (in stored form) and the model's responses, on the device."""

    index: int
    start: int
    stored: torch.Tensor
    logits: torch.Tensor
    signal_index: torch.Tensor | None = None
    gamma_index: torch.Tensor | None = None
    compile_s: float = 0.0  # seconds of this chunk spent compiling the forward pass (and checking it)

    @property
    def size(self) -> int:
        return self.stored.shape[0]


def signal_for(spec: dict, dataset_path: str | Path | None, device: torch.device) -> Signal | None:
    """The signal images of a signal+noise experiment spec (the test split of its model's
    dataset); None for a plain noise experiment."""
    if not spec.get("signal"):
        return None
    if dataset_path is None:
        raise ValueError("a signal+noise experiment needs the model's dataset")
    test = datasets.load(dataset_path, "test")
    return Signal(
        datasets.to_tensor(test.images).to(device),
        torch.as_tensor(test.labels, device=device),
        list(spec["signal"]["gammas"]),
    )


def settings_for(engine_cfg: dict, source: NoiseSource, device: torch.device) -> dict:
    """The engine settings with ``auto`` batch and chunk sizes chosen for ``device`` and the
    size of ``source``'s stored samples."""
    return engine_settings(engine_cfg, device, int(np.prod(source.shape)) * np.dtype(source.storage).itemsize)


def n_chunks(n: int, chunk_size: int) -> int:
    """Number of chunks in an experiment of ``n`` samples."""
    return math.ceil(n / chunk_size)


def round_chunks(index: int, max_n: int, chunk_size: int) -> range:
    """The chunk indices of round ``index`` of an ``n: auto`` experiment of at most ``max_n``."""
    totals = rounds(max_n, chunk_size)
    if not 0 <= index < len(totals):
        raise ValueError(f"round {index} out of range: {len(totals)} rounds reach {max_n:,} samples")
    start = 0 if index == 0 else totals[index - 1]
    return range(start // chunk_size, n_chunks(totals[index], chunk_size))


def part_chunks(n: int, chunk_size: int, jobs: int, part: int) -> range:
    """The chunk indices that job ``part`` of ``jobs`` handles (contiguous, balanced)."""
    total = n_chunks(n, chunk_size)
    if not 0 <= part < jobs:
        raise ValueError(f"part {part} out of range for {jobs} jobs")
    lo, hi = (total * part) // jobs, (total * (part + 1)) // jobs
    if lo == hi:
        raise ValueError(f"part {part} of {jobs} has no chunks: use at most {total} jobs (the experiment's chunks)")
    return range(lo, hi)


def chunk_span(index: int, n: int, chunk_size: int) -> tuple[int, int]:
    """Sample range [start, stop) of chunk ``index``."""
    start = index * chunk_size
    return start, min(start + chunk_size, n)


def draw(
    source: NoiseSource,
    seed: int,
    index: int,
    n: int,
    chunk_size: int,
    device: torch.device,
    signal: Signal | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Regenerate chunk ``index``: stored stimuli, and signal and gamma indices if any."""
    start, stop = chunk_span(index, n, chunk_size)
    rng = ChunkRNG(seed, index, device)
    stored = source.sample(rng, stop - start).to(device, non_blocking=True)
    if signal is None:
        return stored, None, None
    sig = rng.integers(len(signal.images), stop - start).to(device)
    gam = torch.arange(start, stop, device=device) % len(signal.gammas)
    return stored, sig, gam


def mix(signal: torch.Tensor, noise: torch.Tensor, gamma: torch.Tensor | float) -> torch.Tensor:
    """Eq. 3: ``gamma * signal + (1 - gamma) * noise``, with ``gamma`` broadcast against the images.
    Every signal+noise stimulus of revcor (trials, attacks, microstimulation, activation
    injection) is made here."""
    return gamma * signal + (1 - gamma) * noise


def signal_trials(
    noise: torch.Tensor, signal: Signal, signal_index: torch.Tensor, gamma_index: torch.Tensor
) -> torch.Tensor:
    """The signal+noise stimuli of trials (Eq. 3), in the dtype of ``noise``."""
    g = torch.as_tensor(signal.gammas, dtype=noise.dtype, device=noise.device)[gamma_index]
    return mix(signal.images[signal_index].to(noise.dtype), noise, g.view(-1, *([1] * (noise.dim() - 1))))


def stimuli(
    source: NoiseSource,
    stored: torch.Tensor,
    dtype: torch.dtype,
    signal: Signal | None = None,
    signal_index: torch.Tensor | None = None,
    gamma_index: torch.Tensor | None = None,
) -> torch.Tensor:
    """What the model sees: the noise, or signal+noise for signal trials, in ``dtype``."""
    x = source.to_input(stored, torch.float32)
    if signal is not None:
        x = signal_trials(x, signal, signal_index, gamma_index)
    return x.to(dtype)


def prepare(model: nn.Module) -> torch.memory_format:
    """Put a convolutional model in channels-last memory format, which the CPU and GPU
    convolution kernels run fastest in (docs/performance.md); return the format its inputs should
    have."""
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
        return torch.channels_last
    return torch.contiguous_format


def compile_mode(model: nn.Module, setting: bool | str, images: int, device: torch.device) -> str | None:
    """The ``torch.compile`` mode for a run of ``images`` through ``model``, or None (eager).

    ``setting`` is the config's ``engine.compile``: False never, True always, ``auto`` for runs
    of at least :data:`COMPILE_MIN_IMAGES`. TorchScript and ONNX models run as they are. On CUDA, small models
    replay CUDA graphs (``reduce-overhead``: kernel launches, not arithmetic, bound them) and
    large ones autotune their kernels (``max-autotune``); on the CPU the default mode."""
    if setting is False or not layers.hookable(model):  # TorchScript, ONNX: compiled already
        return None
    if setting == "auto" and images < COMPILE_MIN_IMAGES:
        return None
    if device.type == "cuda":
        return "reduce-overhead" if sum(p.numel() for p in model.parameters()) < SMALL_MODEL else "max-autotune"
    return "default"


class Compiled:
    """``fn`` (a model, or a function from a batch to tensors such as
    :func:`revcor.models.layers.outputs`) compiled once for batches of ``batch_size`` (a
    shorter batch is padded with zeros and its outputs cut), with answers checked against the
    eager pass on the first batch; if compiling fails, the eager pass after one warning."""

    def __init__(self, fn: Callable[[torch.Tensor], Any], batch_size: int, mode: str):
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(COMPILE_CACHE))
        self.model, self.batch_size, self.mode = fn, batch_size, mode
        self.fn: Callable[[torch.Tensor], Any] = torch.compile(fn, mode=mode, dynamic=False)
        self.checked = False
        self.seconds = 0.0  # spent compiling and checking (the first batch)

    def __call__(self, x: torch.Tensor) -> Any:
        if self.fn is self.model:
            return self.model(x)
        n = x.shape[0]
        if n < self.batch_size:
            x = torch.cat([x, x.new_zeros((self.batch_size - n, *x.shape[1:]))]).contiguous(memory_format=_format(x))
        out = self.fn(x) if self.checked else self._first(x)
        # CUDA graphs reuse their output memory on the next replay
        copy = self.mode == "reduce-overhead"
        return tree_map_only(torch.Tensor, lambda t: t[:n].clone() if copy else t[:n], out)

    def _first(self, x: torch.Tensor) -> Any:
        self.checked = True
        t = time.perf_counter()
        out = self._checked(x)
        self.seconds = time.perf_counter() - t
        if self.fn is not self.model:
            log.info("compiled the forward pass (%s) in %.1f s", self.mode, self.seconds)
        return out

    def _checked(self, x: torch.Tensor) -> Any:
        try:
            out = self.fn(x)
        except torch._dynamo.exc.TorchDynamoException as e:  # BackendCompilerFailed, InductorError, Unsupported
            cause = getattr(e, "inner_exception", e)  # what the compiler raised
            log.warning(
                "torch.compile failed, running eagerly: %s: %s", type(cause).__name__, f"{cause}\n".splitlines()[0]
            )
            self.fn = self.model
            return self.model(x)
        differ = _disagreement(out, self.model(x))
        if differ:
            log.warning("compiled and eager forward passes %s", differ)
        return out


def _disagreement(out: Any, eager: Any) -> str:
    """How a compiled pass's output differs from the eager one's ('' if it agrees): logits in
    the labels they give, layer outputs by more than 1e-3 of their largest value."""
    if isinstance(out, torch.Tensor):
        differ = int((predict_labels(out) != predict_labels(eager)).sum())
        return f"label {differ} of {len(out)} images differently" if differ else ""
    tensors = [[t for t in tree_leaves(o) if isinstance(t, torch.Tensor)] for o in (out, eager)]
    pairs = zip(*tensors, strict=True)
    worst = max((float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)) for a, b in pairs), default=0.0)
    return f"give outputs that differ by up to {worst:.1e} of their largest value" if worst > 1e-3 else ""


def _format(x: torch.Tensor) -> torch.memory_format:
    return (
        torch.channels_last
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
        else torch.contiguous_format
    )


@torch.inference_mode()
def forward(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in batches, as float32 of shape (N, K)."""
    out = [model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
    logits = torch.cat(out).float()
    return logits.unsqueeze(1) if logits.dim() == 1 else logits


def run(
    model: nn.Module,
    source: NoiseSource,
    *,
    n: int,
    seed: int,
    chunk_size: int,
    chunks: Iterable[int],
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    signal: Signal | None = None,
    compiled: str | None = None,
    progress: bool = True,
    desc: str = "noise",
) -> Iterator[Chunk]:
    """Yield each chunk's stimuli and responses; memory does not grow with ``n``. ``compiled``
    is a ``torch.compile`` mode (see :func:`compile_mode`), None for the eager pass."""
    layout = prepare(model)
    spans = {i: chunk_span(i, n, chunk_size) for i in chunks}
    total = sum(stop - start for start, stop in spans.values())
    net = model if compiled is None else Compiled(model, batch_size, compiled)
    compile_s = 0.0
    with tqdm(total=total, unit="img", unit_scale=True, desc=desc, disable=not progress) as bar:
        for index, (start, stop) in spans.items():
            stored, sig, gam = draw(source, seed, index, n, chunk_size, device, signal)
            logits = []
            for i in range(0, stop - start, batch_size):
                part = slice(i, i + batch_size)
                x = stimuli(
                    source,
                    stored[part],
                    dtype,
                    signal,
                    None if sig is None else sig[part],
                    None if gam is None else gam[part],
                )
                logits.append(forward(net, x.contiguous(memory_format=layout), batch_size))
            out = torch.cat(logits)
            given.check_finite(out, f"noise images {start:,}..{stop - 1:,}")
            spent = net.seconds - compile_s if isinstance(net, Compiled) else 0.0
            compile_s += spent
            yield Chunk(index, start, stored, out, sig, gam, spent)
            bar.update(stop - start)
