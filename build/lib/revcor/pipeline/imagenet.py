"""Paper Table 1: bias maps of ImageNet backbones as template classifiers of the validation set.

The bias maps live at the resolution of the noise (32x32 in the paper), the validation
images at the dataset's (224x224 by default), so the images are resized to the maps' size
(bilinear, antialiased) before the template classifier of :mod:`revcor.core.evaluate` compares
them. The images are read a batch at a time: 50,000 of them never sit in memory at once.
"""

from __future__ import annotations

from pathlib import Path

from revcor.base import store
from revcor.core import evaluate
from revcor.data import datasets, readers


def _run_time(responses: list[str | Path]) -> dict:
    """Wall time of the noise step (summed over its parts) and where it ran."""
    parts = []
    for path in responses:
        with store.open_artifact(path, "responses") as f:
            parts.append({k: store.get_attr(f, k) for k in ("wall_time_s", "device", "precision", "noise")})
    return {
        "run_time_s": sum(p["wall_time_s"] for p in parts),
        "parts": len(parts),
        "device": parts[0]["device"],
        "precision": parts[0]["precision"],
        "noise": parts[0]["noise"],
    }


def evaluate_maps(
    maps_path: str | Path,
    dataset_path: str | Path,
    responses: list[str | Path],
    out: str | Path,
    *,
    batch_size: int = 1024,
) -> dict:
    """Table 1 numbers of one experiment, written to ``out`` as JSON: template-classifier
    accuracy of the bias maps (and of the centred maps) on the dataset's test split, the
    number of empty classes (no noise sample assigned to them), both at every checkpoint,
    and the noise step's run time read from its ``responses`` parts."""
    with store.open_artifact(maps_path, "maps") as f:
        checkpoints = [int(n) for n in store.get_attr(f, "checkpoints")]
        n = int(f.attrs["n"])
        templates = {f"{c}": f[f"checkpoints/{c}/maps"][()] for c in checkpoints}
        templates["centered"] = f["maps_centered"][()]
        counts = {f"{c}": f[f"checkpoints/{c}/counts"][()] for c in checkpoints}
    with store.open_artifact(dataset_path, "dataset") as f:
        classes, image_shape = store.get_attr(f, "classes"), store.get_attr(f, "image_shape")
    k, map_shape = templates["centered"].shape[0], templates["centered"].shape[1:]
    if k != len(classes):
        raise ValueError(f"{maps_path} has maps of {k} classes, the dataset {dataset_path} has {len(classes)}")
    if map_shape[0] != image_shape[0]:
        raise ValueError(
            f"{maps_path} has {map_shape[0]}-channel maps, the dataset {dataset_path} {image_shape[0]}-channel images"
        )
    # no usable template (every class empty, or all centred maps zero): no accuracy
    correct: dict[str, int | None] = {key: 0 if evaluate.usable(t).any() else None for key, t in templates.items()}
    images = 0
    for batch, labels in datasets.batches(dataset_path, "test", batch_size):
        x = readers.resize(datasets.to_tensor(batch), map_shape[1:]).double().numpy()
        for key, t in templates.items():
            if correct[key] is not None:
                correct[key] += int((evaluate.template_predict(t, x) == labels).sum())
        images += len(labels)
    acc = {key: None if c is None else c / images for key, c in correct.items()}
    by_n = {c: {"accuracy": acc[c], "empty_classes": int((counts[c] == 0).sum())} for c in counts}
    result = {
        "maps": str(maps_path),
        "dataset": str(dataset_path),
        "n": n,
        "classes": k,
        "images": images,
        "map_shape": list(map_shape),
        "image_shape": list(image_shape),
        "chance": 1 / k,
        "accuracy": acc[str(n)],
        "centered_accuracy": acc["centered"],
        "empty_classes": by_n[str(n)]["empty_classes"],
        "by_n": by_n,
        **_run_time(responses),
    }
    store.write_json(out, result)
    return result
