"""Sufficient statistics as data: how trials are grouped (``Layout``), the sums at every
checkpoint (``Stats``), merging parts by addition, and which sample counts an experiment keeps
(checkpoints, the rounds of ``n: auto``).

Pure NumPy: merging, maps, figures and tables read statistics without the deep-learning
stack; the reduction that makes them on a device is :mod:`revcor.core.reduce`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from revcor.base import store
from revcor.base.config import ConfigError

if TYPE_CHECKING:
    import torch


AUTO = "auto"  # the ``n`` of an experiment that draws noise until its maps have converged


def rounds(max_n: int, chunk_size: int) -> list[int]:
    """Sample totals after each round of an ``n: auto`` experiment: one chunk, then the total
    doubles (1, 2, 4, 8 ... chunks), the last round capped at ``max_n``."""
    totals, chunks = [], 1
    while not totals or totals[-1] < max_n:
        totals.append(min(chunks * chunk_size, max_n))
        chunks *= 2
    return totals


@dataclass
class Layout:
    """How trials are grouped: response classes, and for signal trials signal classes and gammas."""

    responses: list[str]
    signals: list[str] | None = None
    gammas: list[float] | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """(gammas, signal classes, responses)."""
        return (len(self.gammas or [0]), len(self.signals or [0]), len(self.responses))

    @property
    def n_groups(self) -> int:
        g, s, r = self.shape
        return g * s * r

    def group(
        self, response: torch.Tensor, signal: torch.Tensor | None = None, gamma: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Group id of each trial."""
        _, ns, nr = self.shape
        gid = response.clone()
        if signal is not None:
            gid += nr * signal
        if gamma is not None:
            gid += nr * ns * gamma
        return gid

    def to_attrs(self) -> dict:
        return {"responses": self.responses, "signals": self.signals, "gammas": self.gammas}


@dataclass
class Stats:
    """Sufficient statistics for prefixes ``checkpoints`` of the samples [start, stop).

    Group statistics have shape (checkpoints, gammas, signal classes, responses[, pixels]);
    logit statistics (checkpoints, logits[, pixels]).
    """

    layout: Layout
    checkpoints: list[int]
    image_shape: tuple[int, ...]
    arrays: dict[str, np.ndarray]
    start: int = 0
    stop: int = 0
    attrs: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def save(self, path: str | Path, attrs: dict | None = None) -> None:
        """Write to an HDF5 artifact (atomically)."""
        meta = {
            **self.attrs,
            **(attrs or {}),
            "kind": "stats",
            "layout": self.layout.to_attrs(),
            "checkpoints": self.checkpoints,
            "image_shape": list(self.image_shape),
            "start": self.start,
            "stop": self.stop,
        }
        with store.create(path, meta) as f:
            for key, arr in self.arrays.items():
                f.create_dataset(key, data=arr)

    @classmethod
    def load(cls, path: str | Path) -> Stats:
        """Read a stats artifact."""
        with store.open_artifact(path, "stats") as f:
            layout = Layout(**store.get_attr(f, "layout"))
            attrs = store.get_attrs(f, exclude=("layout", "checkpoints", "image_shape", "start", "stop"))
            return cls(
                layout,
                list(store.get_attr(f, "checkpoints")),
                tuple(store.get_attr(f, "image_shape")),
                {k: f[k][()] for k in f},
                int(f.attrs["start"]),
                int(f.attrs["stop"]),
                attrs,
            )

    def truncated(self, n: int | None = None) -> Stats:
        """The statistics of the first ``n`` samples (default: ``stop``, the samples so far)
        with the checkpoints beyond dropped: an ``n: auto`` experiment stopped at ``n``."""
        n = self.stop if n is None else n
        if self.start != 0 or n > self.stop or n not in self.checkpoints:
            raise ValueError(
                f"samples 0..{n} of {self.start}..{self.stop} do not end at a checkpoint {self.checkpoints}"
            )
        keep = self.checkpoints.index(n) + 1
        arrays = {k: v[:keep] for k, v in self.arrays.items()}
        return Stats(self.layout, self.checkpoints[:keep], self.image_shape, arrays, 0, n, {**self.attrs, "n": n})

    def select(self, n: int) -> dict[str, np.ndarray]:
        """The statistics of the first ``n`` samples (``n`` must be a checkpoint)."""
        if n not in self.checkpoints:
            raise ValueError(f"{n} is not a checkpoint; available: {self.checkpoints}")
        i = self.checkpoints.index(n)
        return {k: v[i] for k, v in self.arrays.items()}


def merge(parts: list[Stats]) -> Stats:
    """Add statistics of disjoint, adjacent sample ranges; checks they tile [0, stop)."""
    if not parts:
        raise ValueError("nothing to merge")
    parts = sorted(parts, key=lambda s: s.start)
    first = parts[0]
    expected = first.start
    for p in parts:
        if p.start != expected:
            raise ValueError(f"parts do not tile the sample range: gap or overlap at {expected} vs {p.start}")
        if p.checkpoints != first.checkpoints or p.layout != first.layout:
            raise ValueError("parts come from different experiment settings; rerun them together")
        expected = p.stop
    arrays = {k: np.sum([p.arrays[k] for p in parts], axis=0) for k in first.arrays}
    return Stats(first.layout, first.checkpoints, first.image_shape, arrays, first.start, expected, dict(first.attrs))


def checkpoints(n: int, wanted: list[int] | tuple[int, ...] = ()) -> list[int]:
    """The prefix sizes kept for ``n`` samples: the wanted checkpoints below n, and n."""
    if bad := [c for c in wanted if isinstance(c, bool) or not isinstance(c, int) or c < 1]:
        raise ConfigError(f"checkpoints are positive numbers of samples; got {bad}")
    return sorted({c for c in wanted if c < n} | {n})


def layout_for(spec: dict, classes: list[str]) -> Layout:
    """How the trials of an experiment spec are grouped."""
    if spec.get("signal"):
        return Layout(classes, classes, list(spec["signal"]["gammas"]))
    return Layout(classes)


def kept(spec: dict, chunk_size: int) -> list[int]:
    """The checkpoints an experiment keeps; for ``n: auto`` also every round's total, so that
    the statistics of any number of rounds can stop there."""
    if spec["n"] == AUTO:
        return checkpoints(spec["max_n"], [*spec.get("checkpoints", []), *rounds(spec["max_n"], chunk_size)])
    return checkpoints(spec["n"], spec.get("checkpoints", []))
