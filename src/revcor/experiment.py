"""One noise experiment, step by step, as the workflow runs it.

``noise_part`` (model responses to one part's chunks) -> ``stats_part`` (sufficient
statistics of that part) -> ``merge_stats`` -> ``write_maps`` (classification images at
every checkpoint) -> ``template_eval`` (accuracy of the maps as a classifier).
A spec is one entry of the config's ``experiments``; ``engine`` is the config's engine.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from . import autoencoder, data, engine, evaluate, gabor, maps, models, noise, responses, store
from .device import dtype as precision_dtype
from .device import engine_settings
from .device import precision as resolve_precision
from .reduce import Layout, Stats, merge


def sha256(path: str | Path) -> str:
    """SHA-256 of a file, for provenance."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checkpoints(spec: dict) -> list[int]:
    """The prefix sizes kept for an experiment: its checkpoints below n, and n."""
    n = spec["n"]
    return sorted({c for c in spec.get("checkpoints", []) if c < n} | {n})


def load_model(path: str | Path, device: torch.device, precision: str = "fp32") -> models.LoadedModel:
    """A model ready for noise: eval mode, on the device, in the requested precision."""
    loaded = models.load(str(path), device=device)
    loaded.module.to(precision_dtype(precision))
    return loaded


def classes_of(loaded: models.LoadedModel, n_logits: int) -> list[str]:
    """Class names recorded with a revcor model, else numbers."""
    names = loaded.meta.get("classes") if loaded.meta else None
    if names:
        return list(names)
    return [str(i) for i in range(max(n_logits, 2))]


def source_for(spec: dict, engine_cfg: dict, shape: tuple[int, int, int],
               generator: str | Path | None = None,
               device: torch.device = torch.device("cpu")) -> noise.NoiseSource:
    """The experiment's noise source with the configured storage dtype."""
    settings = {k: v for k, v in spec.get("noise", {}).items() if k != "dataset"}
    return noise.make({**settings, "storage": engine_cfg["storage"]}, shape, generator, device)


def fit_generator(kind: str, dataset_path: str | Path, settings: dict, out: str | Path, *,
                  device: torch.device = torch.device("cpu"), progress: bool = False) -> None:
    """Fit a structured-noise generator (gabor, ae or vae) on a dataset's training split."""
    train = data.load(dataset_path, "train")
    attrs = {"dataset": str(dataset_path), "dataset_sha256": sha256(dataset_path)}
    if kind == "gabor":
        s = settings["gabor"]
        sizes = tuple(s["sizes"]) if s["sizes"] else None
        fitted = gabor.fit(train.images, sizes=sizes, alpha=s["alpha"], components=s["components"],
                           progress=progress)
        gabor.save(fitted, out, attrs)
    elif kind in ("ae", "vae"):
        s = settings["autoencoder"]
        gen = autoencoder.fit(train.images, variational=kind == "vae", latent=s["latent"],
                              hidden=tuple(s["hidden"]), epochs=s["epochs"], lr=s["lr"],
                              batch_size=s["batch_size"], seed=s["seed"], device=device,
                              progress=progress)
        autoencoder.save(gen, out, attrs)
    else:
        raise ValueError(f"unknown generator {kind!r}; allowed: {', '.join(noise.GENERATED)}")


def signal_for(spec: dict, dataset_path: str | Path | None, device: torch.device) -> engine.Signal | None:
    """Signal images (the test split of the model's dataset) for signal+noise experiments."""
    if not spec.get("signal"):
        return None
    if dataset_path is None:
        raise ValueError("a signal+noise experiment needs the model's dataset")
    test = data.load(dataset_path, "test")
    return engine.Signal(data.to_tensor(test.images).to(device),
                         torch.as_tensor(test.labels, device=device), list(spec["signal"]["gammas"]))


def layout_for(spec: dict, classes: list[str]) -> Layout:
    """How trials are grouped for this experiment."""
    if spec.get("signal"):
        return Layout(classes, classes, list(spec["signal"]["gammas"]))
    return Layout(classes)


def engine_for(engine_cfg: dict, source: noise.NoiseSource, device: torch.device) -> dict:
    """The engine settings with ``auto`` batch and chunk sizes chosen for ``device`` and the
    size of ``source``'s stored samples."""
    return engine_settings(engine_cfg, device, int(np.prod(source.shape)) * np.dtype(source.storage).itemsize)


def noise_part(spec: dict, engine_cfg: dict, model_path: str | Path, out: str | Path, part: int, *,
               dataset_path: str | Path | None = None, generator: str | Path | None = None,
               device: torch.device,
               precision: str = "fp32", progress: bool = True, name: str = "noise") -> None:
    """Run the model on part ``part`` of the experiment; store stimuli and responses."""
    loaded = load_model(model_path, device)
    shape = loaded.in_shape
    if shape is None:
        raise models.ModelError(f"{model_path}: input shape unknown; give it in the experiment")
    n_logits = models.check_fits(loaded.module, shape, None, str(model_path))
    src = source_for(spec, engine_cfg, shape, generator, device)
    engine_cfg, precision = engine_for(engine_cfg, src, device), resolve_precision(precision, device)
    signal = signal_for(spec, dataset_path, device)
    if signal is not None:
        models.check_fits(loaded.module, tuple(signal.images.shape[1:]), None, str(model_path))
    loaded.module.to(precision_dtype(precision))
    n, size = spec["n"], engine_cfg["chunk_size"]
    idx = engine.part_chunks(n, size, spec["jobs"], part)
    chunks = engine.run(loaded.module, src, n=n, seed=spec["seed"], chunk_size=size, chunks=idx,
                        batch_size=engine_cfg["batch_size"], device=device,
                        dtype=precision_dtype(precision), signal=signal, progress=progress,
                        desc=f"{name} part {part}")
    attrs = {"experiment": spec, "seed": spec["seed"], "rng": noise.backend(device),
             "device": str(device), "precision": precision, "model": str(model_path),
             "model_sha256": sha256(model_path), "classes": classes_of(loaded, n_logits),
             **({"generator_sha256": sha256(generator)} if generator else {})}
    responses.write(out, chunks, n=n, chunk_size=size, chunk_indices=idx, source=src,
                    n_logits=n_logits, attrs=attrs, store_stimuli=engine_cfg["store_stimuli"],
                    compression=engine_cfg["compression"])


def stats_part(spec: dict, engine_cfg: dict, responses_path: str | Path, out: str | Path, *,
               dataset_path: str | Path | None = None, generator: str | Path | None = None,
               device: torch.device,
               progress: bool = False) -> None:
    """Reduce one part's responses to sufficient statistics."""
    with store.open_artifact(responses_path, "responses") as f:
        shape = tuple(store.get_attr(f, "noise")["shape"])
        classes = store.get_attr(f, "classes")
    src = source_for(spec, engine_cfg, shape, generator, device)
    signal = signal_for(spec, dataset_path, device)
    stats = responses.reduce(responses_path, src, layout_for(spec, classes), checkpoints(spec), device,
                             signal=signal, threshold=engine_cfg["threshold"], progress=progress,
                             desc=f"reduce {Path(responses_path).parent.name}")
    stats.save(out, {"classes": classes})


def merge_stats(paths: list[str | Path], out: str | Path) -> None:
    """Add the parts' statistics; they must tile the experiment's samples."""
    merged = merge([Stats.load(p) for p in paths])
    n = merged.attrs.get("n")
    if n is not None and (merged.start, merged.stop) != (0, n):
        raise ValueError(f"parts cover samples {merged.start}..{merged.stop}, expected 0..{n}")
    merged.save(out, {"parts": len(paths)})


def _write_group(group, arrays: dict) -> None:
    for k, v in arrays.items():
        group.create_dataset(k, data=v)


def write_maps(stats: Stats | str | Path, out: str | Path, *, model: torch.nn.Module | None = None,
               device: torch.device = torch.device("cpu"), attrs: dict | None = None,
               input_shape: tuple[int, int, int] | None = None) -> None:
    """Classification images at every checkpoint; top level holds those of all samples.

    With ``model``, also the label it gives each bias map fed back as an image (resized to
    its ``input_shape`` when the noise had another size).
    """
    if not isinstance(stats, Stats):
        stats = Stats.load(stats)
    binary = stats.layout.signals is not None
    compute = maps.binary_maps if binary else maps.class_maps
    final = compute(stats)
    meta = {**stats.attrs, **(attrs or {}), "kind": "maps", "classes": stats.layout.responses,
            "checkpoints": stats.checkpoints, "n": stats.checkpoints[-1],
            "signal": binary, "gammas": stats.layout.gammas}
    with store.create(out, meta) as f:
        _write_group(f, final)
        for n in stats.checkpoints:
            _write_group(f.create_group(f"checkpoints/{n}"), compute(stats, n))
        if model is not None and not binary:
            fb = evaluate.feed_back(model, final["maps"], device, None if input_shape is None else input_shape[1:])
            f.create_dataset("feedback", data=np.array([-1 if p is None else p for p in fb]))


def template_eval(maps_path: str | Path, dataset_path: str | Path, out: str | Path) -> dict:
    """Template-classifier accuracy of the bias maps (and centred maps) at every checkpoint."""
    test = data.load(dataset_path, "test")
    images = test.images.astype(np.float64) / 255
    result = {"maps": str(maps_path), "dataset": str(dataset_path), "by_n": {}}
    with store.open_artifact(maps_path, "maps") as f:
        result["classes"] = store.get_attr(f, "classes")
        for n in store.get_attr(f, "checkpoints"):
            g = f[f"checkpoints/{n}"]
            result["by_n"][str(n)] = {
                "bias_maps": evaluate.template_accuracy(g["maps"][()], images, test.labels),
                "centered_maps": evaluate.template_accuracy(g["maps_centered"][()], images, test.labels),
            }
        result["n"] = int(f.attrs["n"])
    result["final"] = result["by_n"][str(result["n"])]
    store.write_json(out, result)
    return result


def baselines(dataset_path: str | Path, out_json: str | Path, out_h5: str | Path,
              logreg_path: str | Path | None = None) -> dict:
    """Template classifiers that need the labelled data: mean training images and, when a
    logistic-regression model is given, its weight vectors (paper Fig. 2C)."""
    train, test = data.load(dataset_path, "train"), data.load(dataset_path, "test")
    k = len(train.classes)
    images = test.images.astype(np.float64) / 255
    means = evaluate.mean_images(train.images, train.labels, k)
    result = {"classes": train.classes, "dataset": str(dataset_path),
              "mean_images": evaluate.template_accuracy(means, images, test.labels)}
    arrays = {"mean_images": means}
    if logreg_path is not None:
        layer = models.get_layer(models.load(str(logreg_path)).module, "fc")
        weights = layer.weight.detach().double().numpy().reshape(k, *train.images.shape[1:])
        result["logreg_weights"] = evaluate.template_accuracy(weights, images, test.labels)
        arrays["logreg_weights"] = weights
    with store.create(out_h5, {"kind": "baselines", "classes": train.classes}) as f:
        _write_group(f, arrays)
    store.write_json(out_json, result)
    return result
