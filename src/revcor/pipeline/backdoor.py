"""The ``backdoor_dataset``, ``detection`` and ``gradients`` rules: poisoned datasets, the
calibrated scan of clean and poisoned models (and the paper's detection score), and input
gradients (paper Fig. 7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from revcor.analyses import attacks
from revcor.analyses.backdoor import apply, box, hit, poison
from revcor.analyses.detection import Z_FLOOR, detect, excess, population, smoothed
from revcor.base import store
from revcor.data import datasets
from revcor.models import loading
from revcor.pipeline import scan


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


ROLES = ("poisoned", "clean")


def evaluate_detection(
    inputs: dict[str, list[str]],
    models: dict[str, list[str]],
    spec: dict,
    settings: dict,
    out: str | Path,
    *,
    device: torch.device = torch.device("cpu"),
) -> dict:
    """Scan every poisoned and clean model of backdoor ``spec`` against the clean references
    (``inputs``: ``{role}_maps``, ``{role}_local``, ``{role}_models`` for the roles poisoned,
    clean and reference, and the clean ``dataset``; ``models``: their names) with the
    detection ``settings``, and write the result as JSON.

    Per model: the calibrated verdict, its p-value and score (-log10 p), target, location and
    causal check (:func:`revcor.analyses.detection.examine`), whether the location is on the
    patch, and the paper's score (the largest local excess of the white-noise z-maps,
    :func:`revcor.analyses.detection.detect`). Over models: the AUROC of both scores, and how
    many of each role were called suspect at ``alpha`` (``suspects``), and how many were
    ``inconclusive``. The patch is used only to say whether
    a location is on it.
    """
    ref = {key: inputs[f"reference_{key}"] for key in ("maps", "local", "models")}
    z_refs = np.stack([scan.zmaps_and_counts(p)[0] for p in ref["maps"]])
    shape = z_refs.shape[-3:]
    box_ = list(box(spec["patch"], shape))
    result = {
        "name": spec["name"],
        "dataset": spec["dataset"],
        "spec": spec,
        "settings": settings,
        "box": box_,
        "smooth": settings["smooth"],
        "alpha": settings["alpha"],
        "references": len(z_refs),
        "models": [],
        "excess": {},
    }
    for role in ROLES:
        for i, name in enumerate(models[role]):
            paths = {key: [inputs[f"{role}_{key}"][i], *ref[key]] for key in ("maps", "local", "models")}
            scanned, _ = scan.examine(
                paths["maps"], paths["local"], paths["models"], inputs["dataset"][0], settings, device=device
            )
            z = scan.zmaps_and_counts(paths["maps"][0])[0]
            paper = detect(z, z_refs, settings["smooth"])
            location = scanned["location"]
            result["models"].append(
                {
                    "model": name,
                    "role": role,
                    "verdict": scanned["verdict"],
                    "p_value": scanned["p_value"],
                    "score": scanned["score"],
                    "target": scanned["target"],
                    "location": location,
                    "hit": bool(scanned["target"] == spec["target"] and overlaps(location["box"], box_)),
                    "causal": scanned["causal"],
                    "evidence": scanned["evidence"],
                    "match": scanned["match"],
                    "paper": paper | {"hit": hit(paper, spec["patch"], shape, spec["target"])},
                }
            )
            if i == 0:  # the map behind the first model's paper score, for Fig. 7 (NaN: no z-map)
                e = excess(smoothed(np.concatenate([z[None], z_refs]), settings["smooth"]), Z_FLOOR)[0]
                result["excess"][role] = (
                    e[paper["class"]] if paper["class"] >= 0 else np.full_like(e[0], np.nan)
                ).tolist()
    result |= population(result["models"], ROLES)
    store.write_json(out, result)
    return result


def overlaps(found: list[int] | None, patch: list[int]) -> bool:
    """Whether boxes (top, left, bottom, right; exclusive) share a pixel (False without a box)."""
    if found is None:
        return False
    return found[0] < patch[2] and patch[0] < found[2] and found[1] < patch[3] and patch[1] < found[3]


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
