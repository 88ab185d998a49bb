"""The ``local_noise`` and ``scan`` rules: local-noise trials of one model, and the backdoor
scan of one model against clean references from what both rules and the white-noise
experiments wrote."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from revcor.analyses import detection
from revcor.analyses.localnoise import LocalNoise
from revcor.analyses.localnoise import run as run_local
from revcor.base import store
from revcor.data import datasets
from revcor.models import loading


def local_noise(model: str | Path, dataset: str | Path, spec: dict, out: str | Path, *, device: torch.device) -> None:
    """Local-noise trials (``spec``: n, window, seed) of ``model`` on ``dataset``'s test images."""
    loaded = loading.load(str(model), device=device)
    test = datasets.load(dataset, "test")
    local = run_local(
        loaded.module,
        test.images,
        test.labels,
        len(test.classes),
        spec["n"],
        size=None if spec["window"] == "auto" else spec["window"],
        seed=spec["seed"],
        device=device,
    )
    local.attrs |= {"model": str(model), "dataset": str(dataset), "classes": test.classes}
    local.save(out)


def zmaps_and_counts(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """z-maps (K, C, H, W), class counts (K,) and provenance of a plain maps artifact."""
    with store.open_artifact(path, "maps") as f:
        attrs = {k: store.get_attr(f, k) for k in ("classes", "n", "model") if k in f.attrs}
        return f["zmaps"][()], f["counts"][()], attrs


def probes(maps: Sequence[str | Path], local: Sequence[str | Path]) -> list[detection.Probe]:
    """The probes of models from their white-noise maps and local-noise artifacts."""
    out = []
    for m, ln in zip(maps, local, strict=True):
        z, counts, _ = zmaps_and_counts(m)
        out.append(detection.Probe(counts, z, LocalNoise.load(ln)))
    return out


def examine(
    maps: Sequence[str | Path],
    local: Sequence[str | Path],
    models: Sequence[str | Path],
    dataset: str | Path,
    spec: dict,
    *,
    device: torch.device,
) -> tuple[dict, dict[str, np.ndarray]]:
    """:func:`revcor.analyses.detection.examine` of the first model against the others (maps,
    local noise and model files in the same order), on ``dataset``'s clean test images, with
    the settings of ``spec`` (alpha, smooth, causal_images)."""
    test = datasets.load(dataset, "test")
    modules = [loading.load(str(p), device=device).module for p in models]
    return detection.examine(
        modules[0],
        modules[1:],
        probes(maps, local),
        test.images,
        test.labels,
        test.classes,
        alpha=spec["alpha"],
        smooth=spec["smooth"],
        per_class=spec["causal_images"],
        device=device,
    )


def run(inputs: dict, spec: dict, out: str | Path, arrays_out: str | Path, *, device: torch.device) -> dict:
    """Scan the first model of ``inputs`` (maps, local, models: the model then its references;
    dataset) as ``spec`` says; write the result as JSON and its figure's arrays as HDF5."""
    result, arrays = examine(inputs["maps"], inputs["local"], inputs["models"], inputs["dataset"], spec, device=device)
    _, _, attrs = zmaps_and_counts(inputs["maps"][0])
    result |= {
        "name": spec["name"],
        "model": spec["model"],
        "n": int(attrs["n"]),
        "local": spec["local"],
        "reference_models": spec["references"],
    }
    store.write_json(out, result)
    with store.create(arrays_out, {"kind": "scan_arrays", "scan": spec["name"]}) as f:
        store.write_arrays(f, arrays)
    return result
