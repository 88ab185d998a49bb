"""Tables of results beside the paper's numbers, as Markdown and CSV."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from . import paper, store


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def template_rows(evals: dict[str, tuple[str, str, str | Path]],
                  baselines: dict[str, str | Path]) -> list[dict]:
    """One row per template classifier.

    ``evals`` maps an experiment name to (its model as dataset/model, its noise kind, its
    eval JSON); ``baselines`` maps a dataset to its baselines JSON.
    """
    rows = []
    for name, (model, kind, path) in evals.items():
        dataset, arch = model.split("/")
        result = json.loads(Path(path).read_text())
        what = f"{arch} bias maps" + ("" if kind == "white" else f", {kind} noise")
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


def noise_rows(ns: list[int], curves: dict[str, dict]) -> list[dict]:
    """The sample-complexity comparison of noise kinds (see :func:`revcor.figures.noise_curves`)."""
    return [{"noise": label, "n": n, "correlation_with_converged": curve["correlation"][i],
             "template_accuracy": curve["accuracy"][i]}
            for label, curve in curves.items() for i, n in enumerate(ns)
            if curve["correlation"][i] is not None]


def noise_markdown(rows: list[dict]) -> str:
    """The noise comparison as a Markdown table: one row per n, one column pair per noise."""
    labels = list(dict.fromkeys(r["noise"] for r in rows))
    cell = {(r["noise"], r["n"]): r for r in rows}
    head = "| n | " + " | ".join(f"{l}: r with converged | {l}: accuracy" for l in labels) + " |"
    lines = [head, "|---" * (1 + 2 * len(labels)) + "|"]
    for n in sorted({r["n"] for r in rows}):
        vals = []
        for label in labels:
            r = cell.get((label, n))
            vals += ["—", "—"] if r is None else [
                "—" if r["correlation_with_converged"] != r["correlation_with_converged"]
                else f"{r['correlation_with_converged']:.3f}", _pct(r["template_accuracy"])]
        lines.append(f"| {n:,} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"
