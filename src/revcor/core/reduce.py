"""Class-conditional reductions of noise and responses, as sufficient statistics.

Every statistic is a float64 sum, so partial results over disjoint sample ranges merge
exactly by addition: one job or a thousand give the same maps. Sums are kept for every
prefix size in ``checkpoints`` (for sample-complexity curves) at no extra pass: each sample
is added to the bucket of the first checkpoint that includes it, and buckets are
cumulated at the end. The sums and counts of the even-numbered trials are kept as well
(``hsum``, ``hcount``), so every map, at every checkpoint, also exists as two independent
halves (split-half reliability) at no extra pass.

Groups are trials with the same (gamma, signal class, response class); plain noise
experiments have one gamma and no signal, so groups are just response classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch

from revcor.core.engine import Chunk, Signal, signal_trials
from revcor.core.stats import Layout, Stats
from revcor.models.architectures import predict_labels
from revcor.noise.sources import NoiseSource

# statistics with one row per group (the others have one row per logit: xsum, lsum, lsumsq)
GROUP_SUMS = ("sum", "sumsq", "wsum", "tsum", "hsum")
GROUP_COUNTS = ("count", "wcount", "tcount", "hcount")
SIGNAL_SUMS = ("ssum",)
EXACT_BATCH = 258  # uint8 trials per update: 258 * 255**2 < 2**24, so float32 sums of squares stay exact


def predict(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted labels (:func:`~revcor.models.architectures.predict_labels`) and confidence
    (the probability of the predicted class)."""
    labels = predict_labels(logits)
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits[:, 0].double())
        return labels, torch.maximum(p, 1 - p)
    return labels, torch.softmax(logits.double(), dim=1).max(dim=1).values


class Reducer:
    """Accumulates :class:`Stats` on the device in float64, batch by batch."""

    def __init__(
        self,
        layout: Layout,
        image_shape: tuple[int, ...],
        n_logits: int,
        checkpoints: list[int],
        start: int,
        stop: int,
        device: torch.device,
        threshold: float = 0.9,
    ):
        self.layout, self.image_shape = layout, tuple(image_shape)
        self.checkpoints = sorted(set(int(c) for c in checkpoints))
        self.start, self.stop, self.threshold, self.device = start, stop, threshold, device
        d, g, k, p = int(np.prod(image_shape)), layout.n_groups, n_logits, len(self.checkpoints)
        self._cp = torch.as_tensor(self.checkpoints, device=device)
        zeros = lambda *s: torch.zeros(*s, dtype=torch.float64, device=device)  # noqa: E731
        # one buffer per matrix product (rows: indicators, one-hot rows on squares, weights),
        # so that a batch adds to each in one step; the statistics are views of them
        self._ind, self._sq, self._wt = zeros(p, 3 * g, d), zeros(p, g, d), zeros(p, g + k, d)
        self._ind_n, self._wt_n = zeros(p, 3 * g), zeros(p, g + k)
        thirds = lambda t: (t[:, :g], t[:, g : 2 * g], t[:, 2 * g :])  # noqa: E731
        self.acc = dict(zip(("sum", "tsum", "hsum"), thirds(self._ind), strict=True))
        self.acc |= dict(zip(("count", "tcount", "hcount"), thirds(self._ind_n), strict=True))
        self.acc |= {"sumsq": self._sq, "wsum": self._wt[:, :g], "xsum": self._wt[:, g:]}
        self.acc |= {"wcount": self._wt_n[:, :g], "lsum": self._wt_n[:, g:], "lsumsq": zeros(p, k)}
        if layout.signals is not None:
            self.acc["ssum"] = zeros(p, g, d)

    def update(
        self,
        start: int,
        noise: torch.Tensor,
        logits: torch.Tensor,
        signal_label: torch.Tensor | None = None,
        gamma_index: torch.Tensor | None = None,
        stimulus: torch.Tensor | None = None,
    ) -> None:
        """Add trials ``start .. start + len(noise)``: ``noise`` is float, or uint8 levels ``v``
        standing for ``v / 255`` (flattened or not, as is ``stimulus``).

        The group sums come from matrix products per checkpoint bucket: indicator rows
        [one-hot group; one-hot x (confidence > threshold); one-hot x (even trial)] times the
        noise (and the one-hot rows times its square), and weighted rows [one-hot x
        confidence; logits] times the noise in float64. For uint8 levels the indicator
        products are sums of integers below 2**24, exact in float32 (half the cost of float64), and are
        scaled in float64.
        """
        b, g = noise.shape[0], self.layout.n_groups
        levels = noise.dtype == torch.uint8
        if levels and b > EXACT_BATCH:
            raise ValueError(f"{b} uint8 trials in one update; at most {EXACT_BATCH} sum exactly in float32")
        exact, scale = (torch.float32, 1 / 255) if levels else (torch.float64, 1.0)
        flat = noise.reshape(b, -1)
        xe, x = flat.to(exact), flat.to(torch.float64)
        labels, conf = predict(logits)
        idx = torch.arange(start, start + b, device=self.device)
        bucket = torch.searchsorted(self._cp, idx, right=True)
        if int(bucket[-1]) >= len(self.checkpoints):
            raise ValueError(f"trial index beyond the last checkpoint {self.checkpoints[-1]}")
        onehot = torch.zeros(g, b, dtype=exact, device=self.device)
        onehot[self.layout.group(labels, signal_label, gamma_index), idx - start] = 1
        even = idx % 2 == 0  # the first half; trials are independent draws, so the halves are too
        indicators = torch.cat([onehot, onehot * (conf > self.threshold), onehot * even])
        weights = torch.cat([onehot.to(torch.float64) * conf, logits.to(torch.float64).T])
        sq = xe * xe
        stim = None if stimulus is None else stimulus.reshape(b, -1).to(torch.float64)
        first, last = int(bucket[0]), int(bucket[-1])
        for p in range(first, last + 1):
            ip, wp = (indicators, weights) if first == last else (indicators * (bucket == p), weights * (bucket == p))
            self._ind[p].add_(ip @ xe, alpha=scale)
            self._sq[p].add_(ip[:g] @ sq, alpha=scale**2)
            self._wt[p].addmm_(wp, x, alpha=scale)
            self._ind_n[p].add_(ip.sum(1))
            self._wt_n[p].add_(wp.sum(1))
            self.acc["lsumsq"][p].add_(wp[g:].square().sum(1))
            if stim is not None:
                self.acc["ssum"][p].addmm_(ip[:g].to(torch.float64), stim)

    def result(self, attrs: dict | None = None) -> Stats:
        """Cumulate buckets into prefix statistics and move them to the host."""
        p = len(self.checkpoints)
        arrays = {}
        for k, v in self.acc.items():
            if k in GROUP_SUMS + GROUP_COUNTS + SIGNAL_SUMS:
                v = v.reshape(p, *self.layout.shape, *v.shape[2:])
            arrays[k] = torch.cumsum(v, dim=0).cpu().numpy()
        return Stats(self.layout, self.checkpoints, self.image_shape, arrays, self.start, self.stop, dict(attrs or {}))


def reducing(
    chunks: Iterable[Chunk], reducer: Reducer, source: NoiseSource, signal: Signal | None = None
) -> Iterator[Chunk]:
    """Pass the engine's chunks on, each added to ``reducer`` first (while it is in memory)."""
    for c in chunks:
        reduce_chunk(reducer, source, c.start, c.stored, c.logits, signal, c.signal_index, c.gamma_index)
        yield c


def reduce_chunk(
    reducer: Reducer,
    source: NoiseSource,
    start: int,
    stored: torch.Tensor,
    logits: torch.Tensor,
    signal: Signal | None = None,
    signal_index: torch.Tensor | None = None,
    gamma_index: torch.Tensor | None = None,
    batch_size: int = 256,
) -> None:
    """Add one chunk's trials to ``reducer``, a batch at a time, at the noise's own size (not
    resized to the model's input): uint8 noise as its levels (summed exactly), other noise in
    float64; batches of ``batch_size`` (at most :data:`EXACT_BATCH`) keep the copies in cache."""
    levels = stored.dtype == torch.uint8
    for i in range(0, stored.shape[0], batch_size):
        j = slice(i, i + batch_size)
        noise = None if levels and signal is None else source.values(stored[j], torch.float64)
        extra = {}
        if signal is not None:
            extra = {
                "signal_label": signal.labels[signal_index[j]],
                "gamma_index": gamma_index[j],
                "stimulus": signal_trials(noise, signal, signal_index[j], gamma_index[j]),
            }
        reducer.update(start + i, stored[j] if levels else noise, logits[j], **extra)
