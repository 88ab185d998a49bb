"""The workflow's single-unit step: one model, one noise source, every analysis of Sec. 3.3.

STA of every unit of the named layers (and whitened STA, STC of chosen units) from
:mod:`revcor.analyses.neurons`; mean activations per class for noise and for the real test set, the
distance between classes per layer, and activation injection from :mod:`revcor.analyses.activations`.
Everything lands in one HDF5 artifact, ``results/neurons/{name}.h5``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from revcor.analyses import activations, neurons
from revcor.base import store
from revcor.core import engine
from revcor.data import datasets
from revcor.models import loading
from revcor.noise import sources
from revcor.noise.rng import backend


def noise_mean(
    source: sources.NoiseSource, seed: int, n: int, chunk_size: int, device: torch.device
) -> tuple[torch.Tensor, int | None]:
    """The noise's mean image and the chunk it was estimated from: 0.5 for uniform or clipped
    Gaussian white noise (exact, no chunk), else the mean of the chunk after the last one of
    an experiment of ``n`` samples, which the experiment itself never draws."""
    if isinstance(source, sources.WhiteNoise):
        return torch.full(source.shape, 0.5, device=device), None
    index = engine.n_chunks(n, chunk_size)
    stored = engine.draw(source, seed, index, (index + 1) * chunk_size, chunk_size, device)[0]
    return source.to_input(stored, torch.float64).mean(0).float(), index


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
    """Run every analysis ``spec`` (one entry of the config's ``neurons``) asks for."""
    loaded = loading.load(str(model_path), device=device)
    model, shape = loaded.module, loaded.in_shape
    source = sources.for_experiment(spec, engine_cfg["storage"], shape, generator, device)
    engine_cfg = engine.settings_for(engine_cfg, source, device)
    batch, chunk = engine_cfg["batch_size"], engine_cfg["chunk_size"]
    mean, mean_chunk = noise_mean(source, spec["seed"], spec["n"], chunk, device)
    compiled = engine.compile_mode(model, engine_cfg["compile"], spec["n"], device)
    units = neurons.run(
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
        for name, entry in units.items():
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
        _activations(f, spec, model, source, dataset_path, len(classes), batch, chunk, device, compiled, progress)


def _activations(
    f,
    spec: dict,
    model: torch.nn.Module,
    source: sources.NoiseSource,
    dataset_path: str | Path,
    k: int,
    batch: int,
    chunk: int,
    device: torch.device,
    compiled: str | None,
    progress: bool,
) -> None:
    """Class means of layer activations (noise by the model's label, real data by the true
    label), distances between classes, and injection rates, into ``f``."""
    inject = spec["injection"]["layers"]
    layers = list(dict.fromkeys([*spec["activations"], *inject]))
    if not layers:
        return
    noise_means = activations.class_means(
        model,
        layers,
        activations.noise_batches(source, spec["n"], spec["seed"], batch, device, chunk_size=chunk),
        k,
        by="prediction",
        device=device,
        compiled=compiled,
    )
    test = datasets.load(dataset_path, "test")
    g = f.create_group("activations")
    g.create_dataset("noise_counts", data=noise_means["counts"])
    distances: dict[str, dict[str, float]] = {"noise": {}, "real data": {}}
    if spec["activations"]:
        data_means = activations.class_means(
            model,
            spec["activations"],
            activations.data_batches(test.images, test.labels, batch, device),
            k,
            by="label",
            device=device,
        )
        g.create_dataset("data_counts", data=data_means["counts"])
        for layer in spec["activations"]:
            g.create_dataset(f"noise/{layer}", data=noise_means["means"][layer])
            g.create_dataset(f"data/{layer}", data=data_means["means"][layer])
            distances["noise"][layer] = activations.class_distances(noise_means["means"][layer])
            distances["real data"][layer] = activations.class_distances(data_means["means"][layer])
    store.set_attrs(g, {"distances": distances, "layers": spec["activations"]})
    if inject:
        images = datasets.to_tensor(test.images)
        h = f.create_group("injection")
        store.set_attrs(h, {"layers": inject, "gammas": spec["injection"]["gammas"]})
        for layer in inject:
            rates = activations.injection_rates(
                model,
                layer,
                noise_means["means"][layer],
                images,
                test.labels,
                spec["injection"]["gammas"],
                batch_size=batch,
                device=device,
                progress=progress,
            )
            h.create_dataset(layer, data=rates)
