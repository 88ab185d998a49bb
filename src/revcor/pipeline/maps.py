"""The ``maps`` rule: classification images from merged statistics, with feedback through the model."""

from __future__ import annotations

from pathlib import Path

import torch

from revcor.base import store
from revcor.core import maps, significance
from revcor.models import classify, loading
from revcor.noise.kinds import GENERATED


def write(
    stats_path: str | Path,
    model_path: str | Path,
    out: str | Path,
    device: torch.device,
    *,
    null: str | Path | None = None,
    statistics: dict | None = None,
    noise_kind: str = "white",
) -> None:
    """Classification images at every checkpoint, the model's label for each bias map, and
    (given the experiment's ``null`` maps) their significance, InfoVal and reliability."""
    loaded = loading.load(str(model_path), device=device)
    tests = None
    if null is not None:
        tests = significance.NullTest.from_settings(significance.NullBank.load(null), statistics or {}, noise_kind)
    size = None if loaded.in_shape is None else loaded.in_shape[1:]
    maps.write(stats_path, out, feedback=lambda m: classify.feed_back(loaded.module, m, device, size), tests=tests)


def compare(
    a: str | Path, b: str | Path, null_a: str | Path, null_b: str | Path, out: str | Path, statistics: dict
) -> None:
    """The z-map of the difference of two experiments' centred maps and the pixels that differ
    (the ``compare`` rule)."""
    read, kinds = {}, []
    for side, path in (("a", a), ("b", b)):
        with store.open_artifact(path, "maps") as f:
            read[side] = {k: f[k][()] for k in ("maps_centered", "counts", "noise_sd")}
            read[side]["classes"] = store.get_attr(f, "classes")
            kinds.append(store.get_attr(f, "experiment")["noise"]["kind"])
    kind = next((k for k in kinds if k in GENERATED), "white")  # smooth if either is
    if read["a"]["classes"] != read["b"]["classes"]:
        raise ValueError(f"{a} and {b} have different classes: {read['a']['classes']} and {read['b']['classes']}")
    test = significance.NullTest.from_settings(significance.NullBank.load(null_a), statistics, kind)
    z, result = test.difference(read["a"], read["b"], significance.NullBank.load(null_b))
    attrs = {
        "kind": "comparison",
        "a": str(a),
        "b": str(b),
        "classes": read["a"]["classes"],
        "significance": result.attrs,
    }
    with store.create(out, attrs) as f:
        store.write_arrays(
            f,
            {
                "zmaps": z,
                "significant": result.significant,
                "infoval": result.infoval,
                "counts_a": read["a"]["counts"],
                "counts_b": read["b"]["counts"],
            },
        )
