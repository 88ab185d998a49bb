"""Counter-based random streams: chunk ``i`` of an experiment is drawn from a generator keyed by
``(seed, i)``.

On the CPU the generator is numpy's Philox (a counter-based generator whose 128-bit key is
``(seed, i)``), so a chunk's bits are the same on every machine. On CUDA it is torch's
Philox seeded from ``(seed, i)``: reproducible on CUDA, but different bits from the CPU
stream. The backend is recorded with every artifact and checked when a chunk is regenerated.
"""

from __future__ import annotations

import numpy as np
import torch


def backend(device: torch.device) -> str:
    """Name of the random stream used on ``device`` (``cpu-philox`` or ``cuda-philox``)."""
    return "cuda-philox" if device.type == "cuda" else "cpu-philox"


def _mix(seed: int, index: int) -> int:
    """SplitMix64 of (seed, index), folded to a non-negative 63-bit torch seed."""
    z = (seed * 0x9E3779B97F4A7C15 + index + 1) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) >> 1


class ChunkRNG:
    """Random draws for one chunk, keyed by ``(seed, index)``, produced on ``device``."""

    def __init__(self, seed: int, index: int, device: torch.device):
        self.device = device
        if device.type == "cuda":
            self._torch = torch.Generator(device=device)
            self._torch.manual_seed(_mix(seed, index))
            self._np = None
        else:
            key = np.array([seed, index], dtype=np.uint64)
            self._np = np.random.Generator(np.random.Philox(key=key))
            self._torch = None

    def uint8(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Uniform integers 0..255."""
        if self._np is not None:  # every byte of Philox's 64-bit words is uniform
            size = int(np.prod(shape))
            raw = self._np.bit_generator.random_raw(-(-size // 8)).view(np.uint8)[:size]
            return torch.from_numpy(raw.reshape(shape))
        return torch.randint(0, 256, shape, dtype=torch.uint8, device=self.device, generator=self._torch)

    def uniform(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Uniform floats in [0, 1), float32."""
        if self._np is not None:
            return torch.from_numpy(self._np.random(shape, dtype=np.float32))
        return torch.rand(shape, device=self.device, generator=self._torch)

    def normal(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Standard normal floats, float32."""
        if self._np is not None:
            return torch.from_numpy(self._np.standard_normal(shape, dtype=np.float32))
        return torch.randn(shape, device=self.device, generator=self._torch)

    def integers(self, high: int, size: int) -> torch.Tensor:
        """Uniform integers in [0, high), int64."""
        if self._np is not None:
            return torch.from_numpy(self._np.integers(0, high, size=size, dtype=np.int64))
        return torch.randint(0, high, (size,), device=self.device, generator=self._torch)
