"""The ``responses`` rule: one part of a noise experiment through its model, reduced as it runs.

Each chunk is drawn, run through the model and added to the part's sufficient statistics
while it is in memory; the responses artifact keeps the model's answers (and the stimuli only
with ``store_stimuli``: every chunk is a function of its key, :func:`revcor.core.engine.draw`).
A spec is one entry of the config's ``experiments``; ``engine_cfg`` is the config's ``engine``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from revcor.base import store
from revcor.base.device import dtype as precision_dtype
from revcor.base.device import precision as resolve_precision
from revcor.core import engine, responses
from revcor.core.reduce import Reducer, reducing
from revcor.core.stats import AUTO, kept, layout_for
from revcor.models import loading
from revcor.models.specs import ModelError
from revcor.noise import sources
from revcor.noise.rng import backend


def part(
    spec: dict,
    engine_cfg: dict,
    model_path: str | Path,
    out: str | Path,
    stats_out: str | Path,
    part: int,
    *,
    dataset_path: str | Path | None = None,
    generator: str | Path | None = None,
    device: torch.device,
    precision: str = "fp32",
    progress: bool = True,
    name: str = "noise",
) -> None:
    """Run the model on part ``part`` of the experiment: its responses to ``out``, their
    sufficient statistics to ``stats_out``."""
    loaded = loading.load(str(model_path), device=device)
    shape = loaded.in_shape
    if shape is None:
        raise ModelError(f"{model_path}: input shape unknown; give it in the experiment")
    n_logits = loading.check_fits(loaded.module, shape, None, str(model_path))
    src = sources.for_experiment(spec, engine_cfg["storage"], shape, generator, device)
    engine_cfg, precision = engine.settings_for(engine_cfg, src, device), resolve_precision(precision, device)
    signal = engine.signal_for(spec, dataset_path, device)
    if signal is not None:
        loading.check_fits(loaded.module, tuple(signal.images.shape[1:]), None, str(model_path))
    loaded.module.to(precision_dtype(precision))
    size = engine_cfg["chunk_size"]
    if spec["n"] == AUTO:  # part = round; chunks are numbered as in an experiment of max_n
        n, idx = spec["max_n"], engine.round_chunks(part, spec["max_n"], size)
    else:
        n, idx = spec["n"], engine.part_chunks(spec["n"], size, spec["jobs"], part)
    start, stop = engine.chunk_span(idx[0], n, size)[0], engine.chunk_span(idx[-1], n, size)[1]
    images = stop - start
    compiled = engine.compile_mode(loaded.module, engine_cfg["compile"], images, device)
    chunks = engine.run(
        loaded.module,
        src,
        n=n,
        seed=spec["seed"],
        chunk_size=size,
        chunks=idx,
        batch_size=engine_cfg["batch_size"],
        device=device,
        dtype=precision_dtype(precision),
        signal=signal,
        compiled=compiled,
        progress=progress,
        desc=f"{name} part {part}",
    )
    classes = loaded.class_names(n_logits)
    reducer = Reducer(
        layout_for(spec, classes), src.shape, n_logits, kept(spec, size), start, stop, device, engine_cfg["threshold"]
    )
    attrs = {
        "experiment": spec,
        "seed": spec["seed"],
        "rng": backend(device),
        "device": str(device),
        "precision": precision,
        "compiled": compiled or "eager",
        "model": str(model_path),
        "model_sha256": store.sha256(model_path),
        "classes": classes,
        **({"generator_sha256": store.sha256(generator)} if generator else {}),
    }
    responses.write(
        out,
        reducing(chunks, reducer, src, signal),
        n=n,
        chunk_size=size,
        chunk_indices=idx,
        source=src,
        n_logits=n_logits,
        attrs=attrs,
        store_stimuli=engine_cfg["store_stimuli"],
        compression=engine_cfg["compression"],
    )
    stats = reducer.result({k: attrs[k] for k in ("experiment", "model", "rng", "seed")} | {"n": n})
    stats.save(stats_out, {"classes": classes})
