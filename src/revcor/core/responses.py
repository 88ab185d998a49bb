"""Stimuli and model responses of one part of an experiment, stored in HDF5 chunk by chunk.

Layout of ``results/responses/{experiment}/part{j}.h5``: ``logits`` (N, K) float32, ``labels``
(N,) in the smallest unsigned integer type that holds the class indices, ``stimuli`` (N, C, H, W) in the storage dtype (absent when
``store_stimuli`` is false: chunks are then regenerated from their seeds), and for signal
trials ``signal_index`` and ``gamma_index``. Attributes record the experiment, the sample
range, the random stream, the model, ``wall_time_s``: the seconds the part took to draw
its noise, run the model and store the results, and ``compile_s``: the part of them spent
compiling the forward pass (0 for an eager run).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from revcor.base import store
from revcor.base.device import to_host
from revcor.core.engine import Chunk, chunk_span
from revcor.models.architectures import predict_labels
from revcor.noise.sources import NoiseSource

_COMPRESSION = {"none": None, "gzip": "gzip", "lzf": "lzf"}


def write(
    path: str | Path,
    chunks: Iterable[Chunk],
    *,
    n: int,
    chunk_size: int,
    chunk_indices: range,
    source: NoiseSource,
    n_logits: int,
    attrs: dict,
    store_stimuli: bool = False,
    compression: str = "none",
) -> None:
    """Consume the engine's chunks into a responses artifact (written atomically)."""
    start = chunk_span(chunk_indices[0], n, chunk_size)[0]
    stop = chunk_span(chunk_indices[-1], n, chunk_size)[1]
    size = stop - start
    meta = {
        **attrs,
        "kind": "responses",
        "n": n,
        "chunk_size": chunk_size,
        "first_chunk": chunk_indices[0],
        "last_chunk": chunk_indices[-1],
        "start": start,
        "stop": stop,
        "store_stimuli": store_stimuli,
        "noise": source.describe(),
    }
    comp = _COMPRESSION[compression]
    t0, compile_s = time.perf_counter(), 0.0
    with store.create(path, meta) as f:
        logits = f.create_dataset("logits", (size, n_logits), dtype="f4")
        labels = f.create_dataset("labels", (size,), dtype=np.min_scalar_type(max(n_logits, 2) - 1))
        stim = sig = gam = None
        if store_stimuli:
            rows = min(size, max(1, 2**20 // int(np.prod(source.shape))))
            stim = f.create_dataset(
                "stimuli",
                (size, *source.shape),
                dtype=source.storage,
                compression=comp,
                chunks=(rows, *source.shape) if comp else None,
            )
        for c in chunks:
            compile_s += c.compile_s
            lo, hi = c.start - start, c.start - start + c.size
            logits[lo:hi] = to_host(c.logits)
            labels[lo:hi] = to_host(predict_labels(c.logits))
            if stim is not None:
                stim[lo:hi] = to_host(c.stored)
            if c.signal_index is not None:
                if sig is None:
                    sig = f.create_dataset("signal_index", (size,), dtype="i8")
                    gam = f.create_dataset("gamma_index", (size,), dtype="i8")
                sig[lo:hi] = to_host(c.signal_index)
                gam[lo:hi] = to_host(c.gamma_index)
        f.attrs["wall_time_s"] = time.perf_counter() - t0
        f.attrs["compile_s"] = compile_s
