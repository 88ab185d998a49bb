"""Choosing the compute device, and the batch size, chunk size and precision that suit it.

Everything else is device-agnostic: noise is drawn on the device, reductions stay there in
float64, and the only host<->device copies go through :func:`to_device` and :func:`to_host`
(pinned memory and non-blocking copies on CUDA), so a run moves to a GPU by changing
``device`` alone.
"""

from __future__ import annotations

import ctypes
import logging
import math
import platform
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from revcor.base.errors import RevcorError

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}
CPU_BF16 = {"avx512_bf16", "amx_bf16"}  # CPU flags (Linux's names) of native bf16 arithmetic
BATCH = {"cpu": 256, "cuda": 2048, "mps": 1024}  # samples per forward pass for batch_size: auto
CHUNK_BYTES = {"cpu": 1 << 28, "cuda": 1 << 30, "mps": 1 << 29}  # stored stimuli per chunk for chunk_size: auto
MAX_CHUNK = 65536


def keep_freed_memory() -> bool:
    """Make glibc's allocator keep freed memory for reuse rather than hand it back to the
    operating system; True if it was set.

    Every batch frees and reallocates the same few large buffers (activations, noise chunks).
    By default glibc returns freed memory at the top of its heap to the system, and buffers
    above a moving threshold come from fresh ``mmap`` s, so the next batch pays a page fault
    per 4 KiB again (docs/performance.md measures the cost). Blocks up
    to 32 MiB now come from the heap, which is trimmed only beyond 1 GiB free; the peak
    resident memory stays what it was. Other C libraries keep their own policy.
    """
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))


def resolve(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; anything else is checked to exist. Every
    computing step starts here, so this also calls :func:`keep_freed_memory`."""
    keep_freed_memory()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise DeviceError(f"device {device!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} requested but CUDA is not available here; use 'auto' or 'cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceError(f"device {device!r} requested but this machine has {torch.cuda.device_count()} GPUs")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {device!r} requested but MPS is not available here; use 'auto' or 'cpu'")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device {device!r} is not supported; use auto, cpu, cuda, cuda:N or mps")
    return dev


class DeviceError(RevcorError, ValueError):
    """The device asked for does not exist here; the message says what to use."""


def check_chunk_memory(chunk_size: int, sample_bytes: int, dev: torch.device) -> None:
    """Refuse, before any work, a chunk whose stored stimuli (``chunk_size`` samples of
    ``sample_bytes``) and their float copy in one batch cannot fit the device's free memory."""
    need = chunk_size * sample_bytes
    free = _free_memory(dev)
    if free is not None and need > free:
        fit = 1 << max(0, int(math.log2(max(1, free // (4 * max(1, sample_bytes))))))
        raise DeviceError(
            f"one chunk of {chunk_size:,} samples needs {need / 2**30:.1f} GiB, more than the "
            f"{free / 2**30:.1f} GiB free on {dev}; lower the chunk size (e.g. --chunk-size {fit})"
        )


def _free_memory(dev: torch.device) -> int | None:
    """Bytes free on ``dev`` (None when unknown)."""
    if dev.type == "cuda":
        return int(torch.cuda.mem_get_info(dev)[0])
    if dev.type == "cpu" and platform.system() == "Linux":
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    return None


def native_bf16(dev: torch.device) -> bool:
    """Whether ``dev`` computes in bf16 natively: a GPU that supports it, or a CPU with
    AVX512-BF16 or AMX (the flags Linux lists in /proc/cpuinfo; other systems: not detected)."""
    if dev.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return dev.type == "cpu" and bool(CPU_BF16 & cpu_flags())


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them (empty elsewhere)."""
    if platform.system() != "Linux":
        return set()
    with open("/proc/cpuinfo") as f:
        return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())


def precision(setting: str, dev: torch.device) -> str:
    """``auto`` -> bf16 on a GPU that supports it, else fp32 (on CPUs too: bf16 pays there only
    with native support, and then changes labels near the decision boundary; docs/performance.md);
    fp32 and bf16 as given, with a warning when bf16 is asked of a CPU or GPU without native bf16
    (where it is emulated; other devices are not checked)."""
    if setting != "auto":
        dtype(setting)
        if setting == "bf16" and dev.type in ("cpu", "cuda") and not native_bf16(dev):  # detected on these only
            log.warning(
                "precision bf16 on %s, which has no native bf16 (%s): emulated there, usually slower than fp32",
                dev,
                "a GPU without bf16" if dev.type == "cuda" else f"none of the CPU flags {', '.join(sorted(CPU_BF16))}",
            )
        return setting
    return "bf16" if dev.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def dtype(precision: str) -> torch.dtype:
    """The torch dtype for a precision name (fp32, bf16)."""
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise ValueError(f"precision {precision!r} is not supported; allowed: {', '.join(PRECISIONS)}") from None


def engine_settings(engine_cfg: Mapping[str, Any], dev: torch.device, sample_bytes: int) -> dict[str, Any]:
    """``engine_cfg`` with ``batch_size: auto`` and ``chunk_size: auto`` made numbers for ``dev``:
    a larger batch on a GPU; chunks of at most :data:`MAX_CHUNK` samples whose stored stimuli
    (``sample_bytes`` each) fit the device's budget, a power of two so that small inputs
    (MNIST, CIFAR) get the same chunks, hence the same noise, on every device."""
    out = dict(engine_cfg)
    if out["batch_size"] == "auto":
        out["batch_size"] = BATCH.get(dev.type, BATCH["cpu"])
    if out["chunk_size"] == "auto":
        fit = CHUNK_BYTES.get(dev.type, CHUNK_BYTES["cpu"]) // max(1, int(sample_bytes))
        out["chunk_size"] = min(MAX_CHUNK, 1 << max(0, int(math.log2(max(1, fit)))))
    return out


def to_device(t: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """Copy a host tensor to ``dev``; on CUDA through pinned memory, without blocking."""
    if dev.type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(dev, non_blocking=True)
    return t.to(dev)


def to_host(t: torch.Tensor) -> np.ndarray:
    """A device tensor as a NumPy array; on CUDA copied into pinned memory without blocking,
    then synchronised once."""
    if t.device.type == "cuda":
        host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
        host.copy_(t, non_blocking=True)
        torch.cuda.current_stream(t.device).synchronize()
        return host.numpy()
    return t.detach().cpu().numpy()


def set_threads(n: int | None) -> None:
    """Use ``n`` CPU threads for torch's intra-op parallelism (None leaves the default)."""
    if n:
        torch.set_num_threads(n)
