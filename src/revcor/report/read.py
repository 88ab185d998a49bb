"""Reading workflow artifacts for figures and tables: experiment settings, evaluations,
maps at every checkpoint, and the sample-complexity curves of the noise kinds."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from revcor.base import store
from revcor.core import maps as maps_mod
from revcor.noise.kinds import LABELS

DATASET_LABELS = {
    "mnist": "MNIST",
    "mnist-5k": "MNIST (5k subset)",
    "fashion-mnist": "Fashion-MNIST",
    "cifar10": "CIFAR-10",
}


def experiment_spec(path: str | Path) -> dict:
    with store.open_artifact(path, "maps") as f:
        return store.get_attr(f, "experiment")


def load_json(path: str | Path) -> dict:
    with open(path) as f:
        return json.load(f)


def title(f: h5py.File, label: str, samples: str | None = None) -> str:
    exp = store.get_attr(f, "experiment")
    samples = samples or f"{LABELS[exp['noise']['kind']]}-noise samples"
    return f"{label}: {exp['model']}, {int(f.attrs['n']):,} {samples}"


def checkpoints(path: str | Path) -> tuple[list[int], np.ndarray, np.ndarray, list[str], str]:
    """Checkpoints, centred maps (len(ns), K, C, H, W), counts (len(ns), K), classes, title."""
    with store.open_artifact(path, "maps") as f:
        ns = [int(n) for n in store.get_attr(f, "checkpoints")]
        maps = np.stack([f[f"checkpoints/{n}/maps_centered"][()] for n in ns])
        counts = np.stack([f[f"checkpoints/{n}/counts"][()] for n in ns])
        return ns, maps, counts, store.get_attr(f, "classes"), title(f, "CNN")


def reliability(path: str | Path) -> np.ndarray:
    """Split-half reliability of every class map at every checkpoint: (len(ns), K)."""
    with store.open_artifact(path, "maps") as f:
        return np.stack([f[f"checkpoints/{n}/reliability"][()] for n in store.get_attr(f, "checkpoints")])


def noise_curves(maps: list[str], evaluations: list[str]) -> tuple[list[int], dict[str, dict]]:
    """Per noise kind: correlation of the bias maps at each n with the converged (final) maps,
    and template accuracy at each n, on the union of the experiments' checkpoints."""
    per = {}
    for path, evaluation in zip(maps, evaluations, strict=False):
        ns, m, _, _, _ = checkpoints(path)
        by_n = load_json(evaluation)["by_n"]
        corr = maps_mod.convergence(m)
        per[LABELS[experiment_spec(path)["noise"]["kind"]]] = {
            n: (float(c), by_n[str(n)]["bias_maps"]["accuracy"]) for n, c in zip(ns, corr, strict=False)
        }
    all_ns = sorted({n for curve in per.values() for n in curve})
    curves = {
        label: {
            "correlation": [curve.get(n, (None, None))[0] for n in all_ns],
            "accuracy": [curve.get(n, (None, None))[1] for n in all_ns],
        }
        for label, curve in per.items()
    }
    return all_ns, curves
