"""Stimuli and model responses of one part of an experiment, stored in HDF5 chunk by chunk.

Layout of ``results/noise/{experiment}/part{j}.h5``: ``logits`` (N, K) float32, ``labels``
(N,) int64, ``stimuli`` (N, C, H, W) in the storage dtype (absent when
``store_stimuli`` is false: chunks are then regenerated from their seeds), and for signal
trials ``signal_index`` and ``gamma_index``. Attributes record the experiment, the sample
range, the random stream, the model, and ``wall_time_s``: the seconds the part took to draw
its noise, run the model and store the results.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from tqdm import tqdm

from . import store
from .device import to_device, to_host
from .engine import Chunk, Signal, chunk_span, draw, mix
from .noise import NoiseSource, backend
from .reduce import Layout, Reducer, Stats, predict

_COMPRESSION = {"none": None, "gzip": "gzip", "lzf": "lzf"}


def write(path: str | Path, chunks: Iterable[Chunk], *, n: int, chunk_size: int,
          chunk_indices: range, source: NoiseSource, n_logits: int, attrs: dict,
          store_stimuli: bool = True, compression: str = "none") -> None:
    """Consume the engine's chunks into a responses artifact (written atomically)."""
    if not chunk_indices:
        raise ValueError("this part has no chunks; use fewer jobs than chunks")
    start = chunk_span(chunk_indices[0], n, chunk_size)[0]
    stop = chunk_span(chunk_indices[-1], n, chunk_size)[1]
    size = stop - start
    meta = {**attrs, "kind": "responses", "n": n, "chunk_size": chunk_size,
            "first_chunk": chunk_indices[0], "last_chunk": chunk_indices[-1],
            "start": start, "stop": stop, "store_stimuli": store_stimuli,
            "noise": source.describe()}
    comp = _COMPRESSION[compression]
    t0 = time.perf_counter()
    with store.create(path, meta) as f:
        logits = f.create_dataset("logits", (size, n_logits), dtype="f4")
        labels = f.create_dataset("labels", (size,), dtype="i8")
        stim = sig = gam = None
        if store_stimuli:
            rows = min(size, max(1, 2 ** 20 // int(np.prod(source.shape))))
            stim = f.create_dataset("stimuli", (size, *source.shape), dtype=source.storage,
                                    compression=comp, chunks=(rows, *source.shape) if comp else None)
        for c in chunks:
            lo, hi = c.start - start, c.start - start + c.size
            logits[lo:hi] = to_host(c.logits)
            labels[lo:hi] = to_host(predict(c.logits)[0])
            if stim is not None:
                stim[lo:hi] = to_host(c.stored)
            if c.signal_index is not None:
                if sig is None:
                    sig = f.create_dataset("signal_index", (size,), dtype="i8")
                    gam = f.create_dataset("gamma_index", (size,), dtype="i8")
                sig[lo:hi] = to_host(c.signal_index)
                gam[lo:hi] = to_host(c.gamma_index)
        f.attrs["wall_time_s"] = time.perf_counter() - t0


def reduce(path: str | Path, source: NoiseSource, layout: Layout, checkpoints: list[int],
           device: torch.device, *, signal: Signal | None = None, threshold: float = 0.9,
           batch_size: int = 1024, progress: bool = False, desc: str = "reduce") -> Stats:
    """Reduce one responses artifact to sufficient statistics (stimuli read or regenerated)."""
    with store.open_artifact(path, "responses") as f:
        n, chunk_size = int(f.attrs["n"]), int(f.attrs["chunk_size"])
        start, stop = int(f.attrs["start"]), int(f.attrs["stop"])
        seed = int(f.attrs["seed"])
        stored_stimuli = bool(f.attrs["store_stimuli"])
        if not stored_stimuli and f.attrs["rng"] != backend(device):
            raise store.ArtifactError(
                f"{path}: stimuli were not stored and were drawn with {f.attrs['rng']}; "
                f"they can only be regenerated on a {f.attrs['rng'].split('-')[0]} device "
                f"(this one uses {backend(device)})")
        if stored_stimuli and f["stimuli"].dtype != np.dtype(source.storage):
            raise store.ArtifactError(f"{path}: stored stimuli are {f['stimuli'].dtype}, expected {source.storage}")
        reducer = Reducer(layout, source.shape, f["logits"].shape[1], checkpoints, start, stop,
                          device, threshold)
        chunks = range(int(f.attrs["first_chunk"]), int(f.attrs["last_chunk"]) + 1)
        for index in tqdm(chunks, desc=desc, unit="chunk", disable=not progress):
            c0, c1 = chunk_span(index, n, chunk_size)
            if stored_stimuli:
                stored = to_device(torch.from_numpy(f["stimuli"][c0 - start:c1 - start]), device)
            else:
                stored = draw(source, seed, index, n, chunk_size, device)[0]
            logits = to_device(torch.from_numpy(f["logits"][c0 - start:c1 - start]), device)
            sig = gam = None
            if signal is not None:
                sig = to_device(torch.from_numpy(f["signal_index"][c0 - start:c1 - start]), device)
                gam = to_device(torch.from_numpy(f["gamma_index"][c0 - start:c1 - start]), device)
            reduce_chunk(reducer, source, c0, stored, logits, signal, sig, gam, batch_size)
        attrs = {k: store.get_attr(f, k) for k in ("experiment", "model", "rng", "seed", "n")
                 if k in f.attrs}
    return reducer.result(attrs)


def reduce_chunk(reducer: Reducer, source: NoiseSource, start: int, stored: torch.Tensor,
                 logits: torch.Tensor, signal: Signal | None = None,
                 signal_index: torch.Tensor | None = None, gamma_index: torch.Tensor | None = None,
                 batch_size: int = 1024) -> None:
    """Add one chunk's trials to ``reducer`` in float64, a batch at a time (small batches
    keep the float64 copy in cache)."""
    for i in range(0, stored.shape[0], batch_size):
        j = slice(i, i + batch_size)
        noise = source.to_input(stored[j], torch.float64)
        extra = {}
        if signal is not None:
            extra = {"signal_label": signal.labels[signal_index[j]], "gamma_index": gamma_index[j],
                     "stimulus": mix(noise, signal, signal_index[j], gamma_index[j])}
        reducer.update(start + i, noise, logits[j], **extra)
