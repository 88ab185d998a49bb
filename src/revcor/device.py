"""Choosing the compute device, precision and thread count."""
from __future__ import annotations

import torch

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


def resolve(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; anything else is checked to exist."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use 'auto' or 'cpu'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} requested but MPS is not available here; use 'auto' or 'cpu'")
    return dev


def dtype(precision: str) -> torch.dtype:
    """The torch dtype for a precision name (fp32, bf16)."""
    try:
        return PRECISIONS[precision]
    except KeyError:
        raise ValueError(f"precision {precision!r} is not supported; allowed: {', '.join(PRECISIONS)}") from None


def set_threads(n: int | None) -> None:
    """Use ``n`` CPU threads for torch's intra-op parallelism (None leaves the default)."""
    if n:
        torch.set_num_threads(n)
