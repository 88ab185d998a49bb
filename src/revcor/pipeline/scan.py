"""The ``scan`` rule: a backdoor scan of one model against clean references, from the maps
artifacts of their white-noise experiments."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from revcor.analyses import backdoor
from revcor.base import store


def zmaps_and_counts(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """z-maps (K, C, H, W), class counts (K,) and provenance of a plain maps artifact."""
    with store.open_artifact(path, "maps") as f:
        attrs = {k: store.get_attr(f, k) for k in ("classes", "n", "model") if k in f.attrs}
        return f["zmaps"][()], f["counts"][()], attrs


def run(model_maps: str, reference_maps: list[str], spec: dict, out: str | Path) -> dict:
    """Score the model of ``model_maps`` against ``reference_maps`` and write the result as JSON:
    :func:`revcor.analyses.backdoor.scan` with the class names and what was compared."""
    z, counts, attrs = zmaps_and_counts(model_maps)
    refs = [zmaps_and_counts(p) for p in reference_maps]
    result = backdoor.scan(z, np.stack([r[0] for r in refs]), counts, np.stack([r[1] for r in refs]), spec["smooth"])
    classes = list(attrs["classes"])
    result |= {
        "name": spec["name"],
        "target_class": classes[result["target"]],
        "classes": classes,
        "model": spec["model"],
        "n": int(attrs["n"]),
        "reference_models": spec["references"],
    }
    store.write_json(out, result)
    return result
