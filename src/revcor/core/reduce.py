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
BATCH = 1024  # trials per update in reduce_chunk: large enough to amortise per-call costs, small enough for cache
LEVEL = 255  # uint8 noise level v stands for v / LEVEL


def int_products(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` of int8 matrices, exact, as int32 (``torch._int_mm``), padded with zeros to the
    shapes CUDA's kernel requires (more than 16 rows of ``a``; inner and column sizes multiples
    of 8), on every device, so that one code path runs everywhere."""
    (m, k), n = a.shape, b.shape[1]
    pm, pk, pn = max(m, 17) - m, -k % 8, -n % 8
    if pm or pk:
        a = torch.nn.functional.pad(a, (0, pk, 0, pm))
    if pk or pn:
        b = torch.nn.functional.pad(b, (0, pn, 0, pk))
    return torch._int_mm(a, b)[:m, :n]


def signed_bytes(levels: torch.Tensor) -> torch.Tensor:
    """uint8 ``v`` as int8 ``v - 128`` (the top bit flipped), for :func:`int_products`."""
    return levels.bitwise_xor(128).view(torch.int8)


def predict(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted labels (:func:`~revcor.models.architectures.predict_labels`) and confidence
    (the probability of the predicted class)."""
    labels = predict_labels(logits)
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits[:, 0].double())
        return labels, torch.maximum(p, 1 - p)
    x = logits.double()
    return labels, 1 / (x - x.max(dim=1, keepdim=True).values).exp_().sum(dim=1)  # the largest softmax


class Reducer:
    """Accumulates :class:`Stats` on the device in float64, batch by batch.

    Noise given as uint8 levels ``v`` (standing for ``v / 255``) is summed in levels: the
    indicator sums and sums of squares are int8 matrix products (:func:`int_products`), exact,
    whose totals float64 holds exactly (below 2**53, i.e. for up to 10**11 trials); each
    checkpoint bucket's sums are scaled to values once, in :meth:`result`. Float noise is summed
    in float64.
    """

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
        self._levels: bool | None = None  # set by the first update: uint8 levels or float values
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
        """Add trials ``start .. start + len(noise)``: ``noise`` is float, or uint8 levels
        (flattened or not, as is ``stimulus``), the same in every update.

        The group sums come from matrix products per checkpoint bucket: indicator rows
        [one-hot group; one-hot x (confidence > threshold); one-hot x (even trial)] times the
        noise (and the one-hot rows times its square), and weighted rows [one-hot x
        confidence; logits] times the noise in float64.
        """
        b, g = noise.shape[0], self.layout.n_groups
        flat = noise.reshape(b, -1)
        levels = flat.dtype == torch.uint8
        if self._levels is None:
            self._levels = levels
        elif levels != self._levels:
            raise ValueError("a Reducer adds uint8 levels or float noise, not both")
        labels, conf = predict(logits)
        idx = torch.arange(start, start + b, device=self.device)
        bucket = torch.searchsorted(self._cp, idx, right=True)
        if int(bucket[-1]) >= len(self.checkpoints):
            raise ValueError(f"trial index beyond the last checkpoint {self.checkpoints[-1]}")
        group, trial = self.layout.group(labels, signal_label, gamma_index), idx - start
        # the even trials are the first half; trials are independent draws, so the halves are too
        indicators = torch.zeros(3 * g, b, dtype=torch.int8, device=self.device)
        for row, value in enumerate((1, conf > self.threshold, idx % 2 == 0)):
            indicators[group + row * g, trial] = torch.as_tensor(value, dtype=torch.int8, device=self.device)
        weights = torch.zeros(g + logits.shape[1], b, dtype=torch.float64, device=self.device)
        weights[group, trial] = conf
        weights[g:] = logits.T
        x = flat.to(torch.float64)
        if levels:
            signed = signed_bytes(flat)
            square = flat.to(torch.int16)
            square.mul_(square)  # v**2 < 2**16 (int16 wraps around): its two bytes, low first, as levels
            square = signed_bytes(square.view(torch.uint8))
        else:
            square = x * x
        stim = None if stimulus is None else stimulus.reshape(b, -1).to(torch.float64)
        first, last = int(bucket[0]), int(bucket[-1])
        for p in range(first, last + 1):
            ip, wp = (indicators, weights) if first == last else (indicators * (bucket == p), weights * (bucket == p))
            counts = ip.sum(1, dtype=torch.float64)
            if levels:  # sum(v) = sum(v - 128) + 128 n;  sum(v**2) = 256 sum(hi - 128) + sum(lo - 128) + 32896 n
                self._ind[p].add_(int_products(ip, signed)).add_(counts[:, None], alpha=128)
                lo, hi = int_products(ip[:g], square).view(g, -1, 2).unbind(2)
                self._sq[p].add_(hi, alpha=256).add_(lo).add_(counts[:g, None], alpha=32896)
            else:
                f = ip.to(torch.float64)
                self._ind[p].addmm_(f, x)
                self._sq[p].addmm_(f[:g], square)
            self._wt[p].addmm_(wp, x)
            self._ind_n[p].add_(counts)
            self._wt_n[p].add_(wp.sum(1))
            self.acc["lsumsq"][p].add_(wp[g:].square().sum(1))
            if stim is not None:
                self.acc["ssum"][p].addmm_(ip[:g].to(torch.float64), stim)

    def result(self, attrs: dict | None = None) -> Stats:
        """Cumulate buckets into prefix statistics (the sums of levels of each bucket scaled to
        values first) and move them to the host."""
        p = len(self.checkpoints)
        scale = {"sum": 1, "tsum": 1, "hsum": 1, "wsum": 1, "xsum": 1, "sumsq": 2} if self._levels else {}
        arrays = {}
        for k, v in self.acc.items():
            if k in GROUP_SUMS + GROUP_COUNTS + SIGNAL_SUMS:
                v = v.reshape(p, *self.layout.shape, *v.shape[2:])
            # each bucket scaled, then cumulated: a checkpoint's sums are those of parts that end there, merged
            arrays[k] = torch.cumsum(v / LEVEL ** scale[k] if k in scale else v, dim=0).cpu().numpy()
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
    batch_size: int = BATCH,
) -> None:
    """Add one chunk's trials to ``reducer``, a batch at a time, at the noise's own size (not
    resized to the model's input): uint8 noise as its levels (summed exactly), other noise in
    float64."""
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
