"""The ``microstim`` rule: psychometric curves of models with raised or lowered layer
biases (paper Sec. 3.4, Eq. 6), with fitted psychometric functions."""

from __future__ import annotations

from pathlib import Path

import torch

from revcor.analyses import activations
from revcor.analyses.microstim import layer_ks, sweep
from revcor.analyses.psychometric import FLAT
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
    """The workflow's microstimulation step (one entry of the config's ``microstim``).

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
    signals = {t: datasets.to_tensor(test.images[test.labels == t]) for t in targets}
    if empty := [classes[t] for t, images in signals.items() if not len(images)]:
        raise ValueError(f"no test images of class {', '.join(empty)} for its psychometric curve")
    result = sweep(
        model,
        spec["layers"],
        ks,
        signs,
        signals,
        means["means"],
        means["counts"],
        classes,
        white,
        gammas,
        n=spec["n"],
        seed=spec["seed"],
        fit_kind=spec["fit"],
        bootstrap=spec["bootstrap"],
        what=source_name,
        batch_size=batch,
        device=device,
        progress=progress,
    )
    attrs = {
        "kind": "microstim",
        "spec": spec,
        "model": str(model_path),
        "classes": classes,
        "targets": targets,
        "layers": layers,
        "ks": ks,
        "signs": signs,
        "gammas": gammas,
        "activation_counts": means["counts"].tolist(),
        "skipped": result.skipped,
        "fits": result.fits,
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
        f.create_dataset("hits", data=result.hits)
        f.create_dataset("largest_bias_change", data=result.largest)
    return result.fits
