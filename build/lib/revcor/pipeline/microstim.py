"""The ``microstimulation`` rule: psychometric curves of models with raised or lowered layer
biases (paper Sec. 3.4, Eq. 6), with fitted psychometric functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from revcor.analyses import activations
from revcor.analyses.microstim import bias_change, layer_ks, stimulated, target_hits
from revcor.analyses.psychometric import FLAT, fit
from revcor.base import store
from revcor.core import engine
from revcor.data import datasets
from revcor.models import loading
from revcor.noise import sources


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
) -> dict:
    """The workflow's microstimulation step (one entry of the config's ``microstimulation``).

    For every target class: the mean rectified activations of each stimulated layer over the
    noise the model assigns to that class (``spec["activations"]``: ``noise``, as the paper says, or
    ``data``, the real training images of the class); for every sign, layer and k, the
    stimulated copy's hits on white-noise signal+noise stimuli at every gamma, and a fitted
    psychometric function. Writes hits (signs, layers, ks, classes, gammas) and the largest
    bias change |delta b| of each (layer, k, class) to HDF5 and the fits to the same file's
    attributes; returns the fits.
    """
    loaded = loading.load(str(model_path), device=device)
    model, shape = loaded.module, loaded.in_shape
    n_logits = loading.check_fits(model, shape, None, str(model_path))
    classes = loaded.class_names(n_logits)
    k_classes = len(classes)
    layers, signs, gammas = list(spec["layers"]), list(spec["signs"]), list(spec["gammas"])
    ks = layer_ks(spec)
    n_k = len(ks[layers[0]])
    targets = spec["classes"] if spec["classes"] is not None else list(range(k_classes))
    white = sources.WhiteNoise(shape, storage="float32")
    batch = engine.settings_for(engine_cfg, white, device)["batch_size"]
    if spec["activations"] == "noise":
        source = sources.for_experiment(spec["activation_noise"], engine_cfg["storage"], shape, generator, device)
        batches = activations.noise_batches(source, spec["activation_n"], spec["seed"], batch, device)
        compiled = engine.compile_mode(model, engine_cfg["compile"], spec["activation_n"], device)
        means = activations.class_means(
            model, layers, batches, k_classes, by="prediction", rectify=True, device=device, compiled=compiled
        )
        source_name = (
            f"{spec['activation_noise'].get('noise', {}).get('kind', 'white')}-noise image of {spec['activation_n']:,}"
        )
    else:
        train = datasets.load(dataset_path, "train")
        means = activations.class_means(
            model,
            layers,
            activations.data_batches(train.images, train.labels, batch, device),
            k_classes,
            by="label",
            rectify=True,
            device=device,
        )
        source_name = "training image"
    test = datasets.load(dataset_path, "test")
    hits = np.full((len(signs), len(layers), n_k, len(targets), len(gammas)), -1, dtype=np.int64)
    largest = np.full((len(layers), n_k, len(targets)), np.nan)
    fits, skipped = {}, {}
    total = len(signs) * len(layers) * n_k * len(targets)
    with tqdm(total=total, desc="microstimulation", unit="curve", disable=not progress) as bar:
        for t, target in enumerate(targets):
            signals = datasets.to_tensor(test.images[test.labels == target])
            if not len(signals):
                raise ValueError(f"no test images of class {target} for its psychometric curve")
            baseline = None  # k = 0 is the same unstimulated model for every layer and sign
            for li, layer in enumerate(layers):
                try:
                    if not means["counts"][target]:
                        raise ValueError(
                            f"not stimulated: no {source_name} was called {classes[target]}, "
                            "so Eq. 6 has no activations"
                        )
                    change = bias_change(means["means"][layer][target], spec["layers"][layer], 1.0)
                except ValueError as e:
                    skipped[f"{layer}/{classes[target]}"] = str(e)
                    bar.update(len(signs) * n_k)
                    continue
                largest[li, :, t] = np.abs(change).max() * np.asarray(ks[layer])
                for si, sign in enumerate(signs):
                    for ki, k in enumerate(ks[layer]):
                        if k or baseline is None:
                            stim = stimulated(model, layer, sign * k * change) if k else model
                            h = target_hits(
                                stim,
                                signals,
                                white,
                                gammas,
                                target,
                                n=spec["n"],
                                seed=spec["seed"],
                                batch_size=batch,
                                device=device,
                            )
                            result = (
                                h,
                                fit(
                                    gammas,
                                    h,
                                    spec["n"],
                                    kind=spec["fit"],
                                    bootstrap=spec["bootstrap"],
                                    seed=spec["seed"],
                                ),
                            )
                            baseline = baseline if k else result
                        hits[si, li, ki, t], fits[f"{sign:+d}/{layer}/{k:g}/{classes[target]}"] = (
                            result if k else baseline
                        )
                        bar.update()
    attrs = {
        "kind": "microstimulation",
        "spec": spec,
        "model": str(model_path),
        "classes": classes,
        "targets": targets,
        "layers": layers,
        "ks": ks,
        "signs": signs,
        "gammas": gammas,
        "activation_counts": means["counts"].tolist(),
        "skipped": skipped,
        "fits": fits,
        "flat": FLAT,
        "model_sha256": store.sha256(model_path),
        "noise_key": {
            "source": white.describe(),
            "seed": spec["seed"],
            "chunk_size": spec["n"],
            "chunks": "gamma index g draws chunk g",
        },
    }
    with store.create(out, attrs) as f:
        f.create_dataset("hits", data=hits)
        f.create_dataset("largest_bias_change", data=largest)
    return fits
