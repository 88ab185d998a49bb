"""The ``backdoor_dataset``, ``detection`` and ``gradients`` rules: poisoned datasets, detection
scores of models from their z-maps, and input gradients (paper Fig. 7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from revcor.analyses import attacks
from revcor.analyses.backdoor import apply, auroc, box, detect, excess, hit, poison
from revcor.base import store
from revcor.data import datasets
from revcor.models import loading


def derive(
    src: str | Path,
    out: str | Path,
    *,
    name: str,
    patch: str,
    source: int,
    target: int,
    fraction: float = 0.5,
    seed: int = 0,
) -> None:
    """Write to ``out`` a backdoored copy of dataset artifact ``src``.

    Splits: ``train`` poisoned by :func:`poison`, ``test`` the clean test split, and
    ``test_patched`` the test split with every image of class ``source`` patched (labels
    unchanged, i.e. the true labels). Attributes are those of ``src`` with ``name``
    ``"{src name}-bd-{name}"``, ``backdoor`` (patch, source, target, fraction, seed, box,
    poisoned count), ``derived_from``, ``counts`` and ``description`` updated.
    """
    src = Path(src)
    with store.open_artifact(src, "dataset") as f:
        attrs = store.get_attrs(f, exclude=("revcor_version", "python", "complete"))
        train, test = (
            datasets.Split(f[f"{s}/images"][()], f[f"{s}/labels"][()], list(attrs["classes"]))
            for s in ("train", "test")
        )
    poisoned, chosen = poison(train, patch, source, target, fraction, seed)
    in_source = test.labels == source
    if not in_source.any():
        raise ValueError(f"the test split of {src} has no images of class {source}")
    patched_images = test.images.copy()
    patched_images[in_source] = apply(test.images[in_source], patch)
    splits = {
        "train": poisoned,
        "test": test,
        "test_patched": datasets.Split(patched_images, test.labels.copy(), test.classes),
    }
    top, left, bottom, right = box(patch, train.images.shape)
    classes = attrs["classes"]
    counts = {s: len(v.labels) for s, v in splits.items()}
    attrs.update(
        name=f"{attrs['name']}-bd-{name}",
        backdoor={
            "patch": patch,
            "source": source,
            "target": target,
            "fraction": fraction,
            "seed": seed,
            "box": [top, left, bottom, right],
            "poisoned": len(chosen),
        },
        derived_from={"name": attrs["name"], "sha256": store.sha256(src)},
        counts=counts,
        description=f"Backdoor: {len(chosen):,} of {int((train.labels == source).sum()):,} training "
        f"{classes[source]!r} images carry the {patch!r} patch (pixels set to 255) at rows "
        f"{top}-{bottom - 1}, cols {left}-{right - 1} and are relabelled {classes[target]!r} "
        f"(seed {seed}). Split 'test' is the clean test set; 'test_patched' is the test set with "
        f"the patch on all {int(in_source.sum()):,} {classes[source]!r} images, true labels kept. "
        f"Taken from {attrs['name']}. {attrs['description']}",
    )
    datasets.write(out, attrs, splits)


def _zmaps(path: str | Path) -> np.ndarray:
    with store.open_artifact(path, "maps") as f:
        return f["zmaps"][()]


def evaluate_detection(
    maps: dict[str, list[str]], models: dict[str, list[str]], spec: dict, out: str | Path, *, smooth: int = 3
) -> dict:
    """Score every poisoned and clean model (``maps[role]``, named ``models[role]``) against
    the clean references, and the AUROC of poisoned vs clean; write the result as JSON.

    The score needs no knowledge of the patch: it is the largest localized excess of any
    class's z-map over the reference models' (see :func:`detect`); the patch is used only
    to say whether the location found is on it.
    """
    refs = np.stack([_zmaps(p) for p in maps["reference"]])
    shape = refs.shape[-2:]
    result = {
        "name": spec["name"],
        "dataset": spec["dataset"],
        "spec": spec,
        "box": list(box(spec["patch"], shape)),
        "smooth": smooth,
        "references": len(refs),
        "models": [],
        "excess": {},
    }
    for role in ("poisoned", "clean"):
        for i, (path, model) in enumerate(zip(maps[role], models[role], strict=False)):
            z = _zmaps(path)
            found = detect(z, refs, smooth)
            found["hit"] = hit(found, spec["patch"], shape, spec["target"])
            result["models"].append({"model": model, "role": role, **found})
            if i == 0:  # the map behind the first model's score, for the figure (NaN: no z-map)
                result["excess"][role] = excess(z, refs, smooth)[found["class"]].tolist()
    scores = {role: [m["score"] for m in result["models"] if m["role"] == role] for role in ("poisoned", "clean")}
    result["auroc"] = auroc(scores["poisoned"], scores["clean"])
    result["median"] = {role: float(np.median(s)) for role, s in scores.items()}
    store.write_json(out, result)
    return result


def gradients(
    clean_model: str | Path,
    poisoned_model: str | Path,
    clean_dataset: str | Path,
    spec: dict,
    out: str | Path,
    *,
    device: torch.device = torch.device("cpu"),
) -> None:
    """Mean input gradient per class (paper Fig. 7D) of the clean model on the clean training
    data, the poisoned model on the same data, and the poisoned model on that data with every
    ``spec["source"]`` image patched and relabelled ``spec["target"]``."""
    train = datasets.load(clean_dataset, "train")
    src = train.labels == spec["source"]
    patched = train.images.copy()
    patched[src] = apply(train.images[src], spec["patch"])
    relabelled = np.where(src, spec["target"], train.labels)
    rows = {
        "clean model, clean data": (clean_model, train.images, train.labels),
        "poisoned model, clean data": (poisoned_model, train.images, train.labels),
        "poisoned model, patched data": (poisoned_model, patched, relabelled),
    }
    with store.create(out, {"kind": "gradients", "rows": list(rows), "classes": train.classes, "backdoor": spec}) as f:
        for i, (path, images, labels) in enumerate(rows.values()):
            model = loading.load(str(path), device=device).module
            grad = attacks.mean_input_gradient(model, images, labels, len(train.classes), device=device)
            f.create_dataset(f"row{i}", data=grad)
