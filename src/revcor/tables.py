"""Tables of results beside the paper's numbers, as Markdown and CSV."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from . import paper, store


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def template_rows(evals: dict[str, tuple[str, str | Path]],
                  baselines: dict[str, str | Path]) -> list[dict]:
    """One row per template classifier.

    ``evals`` maps an experiment name to (its model as dataset/model, its eval JSON);
    ``baselines`` maps a dataset to its baselines JSON.
    """
    rows = []
    for name, (model, path) in evals.items():
        dataset, arch = model.split("/")
        result = json.loads(Path(path).read_text())
        what = f"{arch} bias maps"
        rows.append({"dataset": dataset, "templates": what, "experiment": name, "n": result["n"],
                     "accuracy": result["final"]["bias_maps"]["accuracy"],
                     "centered": result["final"]["centered_maps"]["accuracy"],
                     "empty_classes": result["final"]["bias_maps"]["empty_classes"],
                     "paper": paper.TEMPLATE_ACCURACY.get((paper.family(dataset), what))})
    for dataset, path in baselines.items():
        result = json.loads(Path(path).read_text())
        for key, what in (("mean_images", "mean images"), ("logreg_weights", "logreg weights")):
            if key in result:
                rows.append({"dataset": dataset, "templates": what, "experiment": "", "n": None,
                             "accuracy": result[key]["accuracy"], "centered": None,
                             "empty_classes": 0,
                             "paper": paper.TEMPLATE_ACCURACY.get((paper.family(dataset), what))})
    return rows


def markdown(rows: list[dict]) -> str:
    """The template-accuracy table in Markdown."""
    lines = ["| dataset | templates | noise samples | accuracy | centred maps | empty classes | paper |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        n = f"{r['n']:,}" if r["n"] else "—"
        lines.append(f"| {r['dataset']} | {r['templates']} | {n} | {_pct(r['accuracy'])} | "
                     f"{_pct(r['centered'])} | {r['empty_classes']} | {_pct(r['paper'])} |")
    return "\n".join(lines) + "\n"


def write(rows: list[dict], md: str | Path, csv_path: str | Path) -> None:
    """Write the table as Markdown and CSV (atomically)."""
    with store.atomic_path(md) as tmp:
        Path(tmp).write_text(markdown(rows))
    write_csv(rows, csv_path)


def provenance_rows(datasets: list[str | Path]) -> list[dict]:
    """Where each dataset artifact came from: source, subset flag, counts, file hashes."""
    rows = []
    for path in datasets:
        with store.open_artifact(path, "dataset") as f:
            attr = lambda k: store.get_attr(f, k) if k in f.attrs else None  # noqa: E731
            counts = attr("counts") or {}
            rows.append({"dataset": attr("name"), "source": attr("source"), "subset": bool(attr("subset")),
                         "train": counts.get("train"), "test": counts.get("test"),
                         "description": attr("description"),
                         "files": "; ".join(f"{k} sha256:{v}" for k, v in (attr("files") or {}).items()),
                         "derived_from": json.dumps(attr("derived_from")) if attr("derived_from") else ""})
    return rows


def write_csv(rows: list[dict], path: str | Path) -> None:
    """Write rows as CSV (atomically)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["empty"])
    writer.writeheader()
    writer.writerows(rows)
    with store.atomic_path(path) as tmp:
        Path(tmp).write_text(buf.getvalue())
