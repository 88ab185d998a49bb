"""The workflow's single-unit step: one model, one noise source, every analysis of Sec. 3.3.

STA of every unit of the named layers (and whitened STA, STC of chosen units) from
:mod:`revcor.analyses.units`; mean activations per class for noise and for the real test set, the
distance between classes per layer, and activation injection from :mod:`revcor.analyses.activations`.
Everything lands in one HDF5 artifact, ``results/units/{name}.h5``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
import torch

from revcor.analyses import activations, units
from revcor.base import store
from revcor.core import engine
from revcor.data import datasets
from revcor.models import loading
from revcor.noise import sources
from revcor.noise.rng import backend


def run(
    spec: dict,
    engine_cfg: dict,
    model_path: str | Path,
    dataset_path: str | Path,
    out: str | Path,
    *,
    generator: str | Path | None = None,
    device: torch.device = torch.device("cpu"),
    progress: bool = False,
) -> None:
    """Run every analysis ``spec`` (one entry of the config's ``units``) asks for."""
    loaded = loading.load(str(model_path), device=device)
    model, shape = loaded.module, loaded.in_shape
    source = sources.for_experiment(spec, engine_cfg["storage"], shape, generator, device)
    engine_cfg = engine.settings_for(engine_cfg, source, device)
    batch, chunk = engine_cfg["batch_size"], engine_cfg["chunk_size"]
    mean, mean_chunk = units.noise_mean(source, spec["seed"], spec["n"], chunk, device)
    compiled = engine.compile_mode(model, engine_cfg["compile"], spec["n"], device)
    found = units.run(
        model,
        spec["layers"],
        source,
        n=spec["n"],
        seed=spec["seed"],
        chunk_size=chunk,
        batch_size=batch,
        device=device,
        rectify=spec["rectify"],
        mean=mean,
        progress=progress,
        whiten_layers=spec["whiten"],
        stc_units=[(u["layer"], u["channel"]) for u in spec["stc"]],
        shuffles=spec["shuffles"],
        compiled=compiled,
    )
    n_logits = loading.check_fits(model, shape, None, str(model_path))
    classes = loaded.class_names(n_logits)
    attrs = {
        "kind": "units",
        "spec": spec,
        "model": str(model_path),
        "classes": classes,
        "noise": source.describe(),
        "n": spec["n"],
        "seed": spec["seed"],
        "rng": backend(device),
        "chunk_size": chunk,
        "noise_mean_chunk": mean_chunk,
        "compiled": compiled or "eager",
        "model_sha256": store.sha256(model_path),
    }
    with store.create(out, attrs) as f:
        for name, entry in found.items():
            g = f.create_group(f"sta/{name}")
            store.set_attrs(g, {"rf": asdict(entry["rf"]), "count": int(entry["count"])})
            for key in ("sta", "kernel", "whitened", "norm"):
                if key in entry:
                    g.create_dataset(key, data=entry[key])
            for i, stc in enumerate(entry.get("stc", [])):
                s = g.create_group(f"stc/{i}")
                store.set_attrs(s, {k: v for k, v in stc.items() if not isinstance(v, np.ndarray)})
                for k, v in stc.items():
                    if isinstance(v, np.ndarray):
                        s.create_dataset(k, data=v)
        if spec["activations"] or spec["injection"]["layers"]:  # the test split only when a layer is read
            test = datasets.load(dataset_path, "test")
            summary = activations.layer_summary(
                model,
                source,
                test.images,
                test.labels,
                layers=spec["activations"],
                inject=spec["injection"]["layers"],
                gammas=spec["injection"]["gammas"],
                n=spec["n"],
                seed=spec["seed"],
                num_classes=len(classes),
                batch_size=batch,
                chunk_size=chunk,
                device=device,
                compiled=compiled,
                progress=progress,
            )
            _write_activations(f, summary, spec["injection"]["gammas"])


def _write_activations(f: h5py.File, summary: dict, gammas: list[float]) -> None:
    g = f.create_group("activations")
    g.create_dataset("noise_counts", data=summary["noise_counts"])
    if "data_counts" in summary:
        g.create_dataset("data_counts", data=summary["data_counts"])
    for layer in summary["layers"]:
        g.create_dataset(f"noise/{layer}", data=summary["noise"][layer])
        g.create_dataset(f"data/{layer}", data=summary["data"][layer])
    store.set_attrs(g, {"distances": summary["distances"], "layers": summary["layers"]})
    if "injection" in summary:
        h = f.create_group("injection")
        store.set_attrs(h, {"layers": list(summary["injection"]), "gammas": gammas})
        for layer, rates in summary["injection"].items():
            h.create_dataset(layer, data=rates)
