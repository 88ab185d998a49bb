"""Tables of results beside the paper's numbers, as Markdown and CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from revcor.base import paper, store


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def template_rows(evals: dict[str, tuple[str, str, str | Path]], baselines: dict[str, str | Path]) -> list[dict]:
    """One row per template classifier.

    ``evals`` maps an experiment name to (its model as dataset/model, its noise kind, its
    eval JSON); ``baselines`` maps a dataset to its baselines JSON.
    """
    rows = []
    for name, (model, kind, path) in evals.items():
        dataset, arch = model.split("/")
        result = json.loads(Path(path).read_text())
        final = result["final"]
        what = f"{arch} bias maps" + ("" if kind == "white" else f", {kind} noise")
        reliability = [r for r in final["reliability"] if r is not None]
        rows.append(
            {
                "dataset": dataset,
                "templates": what,
                "experiment": name,
                "n": result["n"],
                "accuracy": final["bias_maps"]["accuracy"],
                "centered": final["centered_maps"]["accuracy"],
                "whitened": final["whitened_maps"]["accuracy"] if "whitened_maps" in final else None,
                "empty_classes": final["bias_maps"]["empty_classes"],
                "reliability": float(np.median(reliability)) if reliability else None,
                "significant_maps": sum(p > 0 for p in final["significant_pixels"]),
                "maps": sum(v is not None for v in final["infoval"]),
                "paper": paper.TEMPLATE_ACCURACY.get((paper.family(dataset), what)),
            }
        )
    for dataset, path in baselines.items():
        result = json.loads(Path(path).read_text())
        for key, what in (("mean_images", "mean images"), ("logreg_weights", "logreg weights")):
            if key in result:
                rows.append(
                    {
                        "dataset": dataset,
                        "templates": what,
                        "experiment": "",
                        "n": None,
                        "accuracy": result[key]["accuracy"],
                        "centered": None,
                        "whitened": None,
                        "empty_classes": 0,
                        "reliability": None,
                        "significant_maps": None,
                        "maps": None,
                        "paper": paper.TEMPLATE_ACCURACY.get((paper.family(dataset), what)),
                    }
                )
    return rows


def markdown(rows: list[dict]) -> str:
    """The template-accuracy table in Markdown."""
    lines = [
        "| dataset | templates | noise samples | accuracy | centred maps | whitened maps | empty classes "
        "| reliability | maps with significant pixels | paper |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        n = f"{r['n']:,}" if r["n"] else "—"
        reliability = "—" if r["reliability"] is None else f"{r['reliability']:.2f}"
        signal = "—" if r["maps"] is None else f"{r['significant_maps']} of {r['maps']}"
        lines.append(
            f"| {r['dataset']} | {r['templates']} | {n} | {_pct(r['accuracy'])} | "
            f"{_pct(r['centered'])} | {_pct(r['whitened'])} | {r['empty_classes']} | {reliability} | {signal} | "
            f"{_pct(r['paper'])} |"
        )
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
            rows.append(
                {
                    "dataset": attr("name"),
                    "source": attr("source"),
                    "subset": bool(attr("subset")),
                    "train": counts.get("train"),
                    "test": counts.get("test"),
                    "description": attr("description"),
                    "files": "; ".join(f"{k} sha256:{v}" for k, v in (attr("files") or {}).items()),
                    "derived_from": json.dumps(attr("derived_from")) if attr("derived_from") else "",
                }
            )
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
    """The sample-complexity comparison of noise kinds (see :func:`revcor.report.read.noise_curves`)."""
    return [
        {
            "noise": label,
            "n": n,
            "correlation_with_converged": curve["correlation"][i],
            "template_accuracy": curve["accuracy"][i],
        }
        for label, curve in curves.items()
        for i, n in enumerate(ns)
        if curve["correlation"][i] is not None
    ]


def noise_markdown(rows: list[dict]) -> str:
    """The noise comparison as a Markdown table: one row per n, one column pair per noise."""
    labels = list(dict.fromkeys(r["noise"] for r in rows))
    cell = {(r["noise"], r["n"]): r for r in rows}
    head = "| n | " + " | ".join(f"{label}: r with converged | {label}: accuracy" for label in labels) + " |"
    lines = [head, "|---" * (1 + 2 * len(labels)) + "|"]
    for n in sorted({r["n"] for r in rows}):
        vals = []
        for label in labels:
            r = cell.get((label, n))
            vals += (
                ["—", "—"]
                if r is None
                else [
                    "—"
                    if r["correlation_with_converged"] != r["correlation_with_converged"]
                    else f"{r['correlation_with_converged']:.3f}",
                    _pct(r["template_accuracy"]),
                ]
            )
        lines.append(f"| {n:,} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def attack_rows(paths: list[str | Path]) -> list[dict]:
    """Table 2 rows: per attack result and stimulus kind, the mean (over target classes with
    a template) fraction classified as the target at each gamma; then the paper's rows."""
    rows, gammas = [], None
    for path in paths:
        result = json.loads(Path(path).read_text())
        gammas = result["gammas"]
        for kind, mean in result["mean"].items():
            if kind.endswith("mean") and any(r["stimuli"] == kind and r["model"] == result["model"] for r in rows):
                continue  # mean images depend on the model's dataset only
            templates = "mean images" if kind.endswith("mean") else f"bias maps of {result['experiment']}"
            rows.append(
                {
                    "experiment": result["experiment"],
                    "model": result["model"],
                    "stimuli": kind,
                    "templates": templates,
                    "classes": result["classes_with_template"][kind.split(" + ")[1]],
                    **{f"g{g:g}": v for g, v in zip(gammas, mean, strict=False)},
                    "source": "revcor",
                }
            )
    if gammas == paper.ATTACK_GAMMAS:
        rows += [
            {
                "experiment": "",
                "model": "paper (MNIST CNN)",
                "stimuli": kind,
                "classes": 10,
                "templates": "paper's",
                **{f"g{g:g}": v for g, v in zip(gammas, row, strict=False)},
                "source": "paper",
            }
            for kind, row in paper.ATTACK.items()
        ]
    return rows


def write_attack(paths: list[str | Path], md: str | Path, csv_path: str | Path) -> None:
    """Write the attack table (Table 2) as Markdown and CSV."""
    rows = attack_rows(paths)
    gammas = [k for k in rows[0] if k.startswith("g")] if rows else []
    lines = [
        "| stimuli | model | templates | classes with a template | " + " | ".join(f"γ={k[1:]}" for k in gammas) + " |",
        "|---|---|---|---|" + "---|" * len(gammas),
    ]
    for r in sorted(rows, key=lambda r: (r["stimuli"], r["source"] == "paper")):
        vals = " | ".join("—" if r[k] is None else f"{r[k]:.3f}" for k in gammas)
        lines.append(f"| {r['stimuli']} | {r['model']} | {r['templates']} | {r['classes']} | {vals} |")
    with store.atomic_path(md) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    write_csv(rows, csv_path)


def detection_rows(paths: list[str | Path]) -> list[dict]:
    """One row per backdoor: the calibrated verdicts of poisoned and clean models (how many
    were called suspect at alpha, their p-values, AUROC of -log10 p), the paper's score (AUROC,
    medians), and how often each method's location lies on the patch in the target class."""
    rows = []
    for path in paths:
        r = json.loads(Path(path).read_text())
        by_role = {role: [m for m in r["models"] if m["role"] == role] for role in ("poisoned", "clean")}
        poisoned, clean = by_role["poisoned"], by_role["clean"]

        def p_values(ms: list[dict]) -> str:
            return ", ".join(f"{m['p_value']:.2g}" for m in ms)

        rows.append(
            {
                "backdoor": r["name"],
                "dataset": r["dataset"],
                "patch": r["spec"]["patch"],
                "source": r["spec"]["source"],
                "target": r["spec"]["target"],
                "patch_box": "rows {}-{}, cols {}-{}".format(
                    r["box"][0], r["box"][2] - 1, r["box"][1], r["box"][3] - 1
                ),
                "poisoned_models": len(poisoned),
                "clean_models": len(clean),
                "reference_models": r["references"],
                "alpha": r["alpha"],
                "suspect_poisoned": _verdicts(r, "poisoned", len(poisoned)),
                "suspect_clean": _verdicts(r, "clean", len(clean)),
                "p_poisoned": p_values(poisoned),
                "p_clean": p_values(clean),
                "auroc": r["auroc"],
                "located_on_patch": f"{sum(m['hit'] for m in poisoned)}/{len(poisoned)}",
                "locations_found": "; ".join(
                    f"class {m['target']} at rows {m['location']['box'][0]}-{m['location']['box'][2] - 1}, cols "
                    f"{m['location']['box'][1]}-{m['location']['box'][3] - 1}"
                    if m["location"]["box"]
                    else f"class {m['target']}, no box"
                    for m in poisoned
                ),
                "paper_auroc": r["paper_auroc"],
                "paper_score_median_poisoned": float(np.median([m["paper"]["score"] for m in poisoned])),
                "paper_score_median_clean": float(np.median([m["paper"]["score"] for m in clean])),
                "paper_located_on_patch": f"{sum(m['paper']['hit'] for m in poisoned)}/{len(poisoned)}",
            }
        )
    return rows


def _verdicts(r: dict, role: str, n: int) -> str:
    """How many models of ``role`` were called suspect, and how many inconclusive."""
    unsure = r["inconclusives"][role]
    return f"{r['suspects'][role]}/{n}" + (f" ({unsure} inconclusive)" if unsure else "")


def write_detection(paths: list[str | Path], md: str | Path, csv_path: str | Path) -> None:
    """Write the backdoor-detection table as Markdown and CSV: the calibrated verdicts, then
    the paper's score."""
    rows = detection_rows(paths)
    lines = [
        "Calibrated scan (docs/backdoor.md): a model is suspect when its p-value against the clean "
        "references is below alpha.",
        "",
        "| backdoor | patch | poisoned / clean / reference models | suspect: poisoned | suspect: clean (alpha) | "
        "p poisoned | p clean | AUROC | located on the patch (target class) | where |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backdoor']} ({r['dataset']}, {r['source']}→{r['target']}) | {r['patch']} at {r['patch_box']} | "
            f"{r['poisoned_models']} / {r['clean_models']} / {r['reference_models']} | {r['suspect_poisoned']} | "
            f"{r['suspect_clean']} ({r['alpha']:g}) | {r['p_poisoned']} | {r['p_clean']} | {r['auroc']:.3f} | "
            f"{r['located_on_patch']} | {r['locations_found']} |"
        )
    lines += [
        "",
        "The paper's score (Fig. 7): the largest localized excess of a white-noise z-map over the references.",
        "",
        "| backdoor | AUROC | median score poisoned | median score clean | found on the patch (target class) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backdoor']} | {r['paper_auroc']:.3f} | {r['paper_score_median_poisoned']:.1f} | "
            f"{r['paper_score_median_clean']:.1f} | {r['paper_located_on_patch']} |"
        )
    with store.atomic_path(md) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    write_csv(rows, csv_path)


def microstim_rows(path: str | Path) -> list[dict]:
    """Per direction, layer and k > 0: the threshold shift of each target's fitted
    psychometric function against the unstimulated model, averaged over targets, and how
    many targets shift left or right with non-overlapping bootstrap intervals."""
    with store.open_artifact(path, "microstim") as f:
        a = {k: store.get_attr(f, k) for k in ("fits", "signs", "layers", "ks", "classes", "targets", "model", "flat")}
        largest = f["largest_bias_change"][()]
    fits, rows = a["fits"], []
    names = [a["classes"][t] for t in a["targets"]]
    for sign in a["signs"]:
        for li, layer in enumerate(a["layers"]):
            for ki, k in enumerate(a["ks"][layer]):
                if k == 0:
                    continue
                shifts, left, right, flat = [], 0, 0, 0
                for c in names:
                    base, stim = fits.get(f"{sign:+d}/{layer}/0/{c}"), fits.get(f"{sign:+d}/{layer}/{k:g}/{c}")
                    if base is None or stim is None or _amplitude(base) < a["flat"]:
                        continue  # no curve, or the unstimulated one is flat: no threshold to shift
                    if _amplitude(stim) < a["flat"]:
                        flat += 1
                        continue
                    shifts.append(stim["threshold"] - base["threshold"])
                    (b_lo, b_hi), (s_lo, s_hi) = base["ci"]["threshold"], stim["ci"]["threshold"]
                    left += s_hi < b_lo
                    right += s_lo > b_hi
                rows.append(
                    {
                        "model": a["model"],
                        "direction": "raise" if sign > 0 else "lower",
                        "layer": layer,
                        "k": k,
                        "largest_bias_change": _median(largest[li, ki]),
                        "targets": len(shifts),
                        "mean_threshold_shift": float(sum(shifts) / len(shifts)) if shifts else None,
                        "left": left,
                        "right": right,
                        "flattened": flat,
                    }
                )
    return rows


def _median(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if len(finite) else None


def _amplitude(fit: dict) -> float:
    return fit["rise"]


def write_microstim(path: str | Path, md: str | Path, csv_path: str | Path) -> None:
    """Write the threshold-shift table of one microstimulation analysis."""
    rows = microstim_rows(path)
    with store.open_artifact(path, "microstim") as f:
        flat = store.get_attr(f, "flat")
    lines = [
        "| bias | layer | k | largest \\|Δb\\| | targets with a threshold | mean threshold shift (γ) | "
        "shifted left | shifted right | curve flattened |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        shift = "—" if r["mean_threshold_shift"] is None else f"{r['mean_threshold_shift']:+.3f}"
        db = "—" if r["largest_bias_change"] is None else f"{r['largest_bias_change']:.3g}"
        lines.append(
            f"| {r['direction']} | {r['layer']} | {r['k']:g} | {db} | {r['targets']} | {shift} | "
            f"{r['left']} | {r['right']} | {r['flattened']} |"
        )
    note = (
        "\nLargest |Δb|: the largest bias change of Eq. 6 in the layer, median over targets. "
        "Shifted: the bootstrap 95% intervals of the two thresholds do not overlap; left = the "
        "target is reported at less signal. Targets whose unstimulated curve rises by less than "
        f"{flat} (e.g. a class the model gives to noise anyway) have no threshold and are left out; "
        "flattened: stimulation made the curve rise by less than that.\n"
    )
    with store.atomic_path(md) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n" + note)
    write_csv(rows, csv_path)


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    return f"{s // 60}:{s % 60:02d}"


def _noise_label(noise: dict) -> str:
    """e.g. "gabor 32x32 -> 224x224" from a noise source's description."""
    side = lambda shape: f"{shape[1]}x{shape[2]}"  # noqa: E731
    resized = f" -> {side(noise['input_shape'])}" if "input_shape" in noise else ""
    return f"{noise['kind']} {side(noise['shape'])}{resized}"


def imagenet_rows(evals: dict[str, tuple[str, str, str | Path]]) -> list[dict]:
    """Table 1 rows, one per experiment, in the paper's order of backbones. ``evals`` maps an
    experiment name to (its backbone, its weights setting, its
    :func:`revcor.pipeline.imagenet.evaluate_maps` JSON); the paper's numbers are given for
    pretrained backbones only."""
    rows = []
    for name, (arch, weights, path) in evals.items():
        r = json.loads(Path(path).read_text())
        ref = paper.IMAGENET_TABLE.get(arch, {}) if weights != "none" else {}
        rows.append(
            {
                "backbone": arch,
                "weights": weights,
                "experiment": name,
                "noise": _noise_label(r["noise"]),
                "n": r["n"],
                "images": r["images"],
                "classes": r["classes"],
                "accuracy": r["accuracy"],
                "chance": r["chance"],
                "centered_accuracy": r["centered_accuracy"],
                "run_time_s": r["run_time_s"],
                "device": r["device"],
                "empty_classes": r["empty_classes"],
                "paper_accuracy": ref.get("accuracy"),
                "paper_run_time_s": ref.get("run_time_s"),
                "paper_empty_classes": ref.get("empty_classes"),
            }
        )
    order = list(paper.IMAGENET_TABLE)
    return sorted(
        rows, key=lambda r: (order.index(r["backbone"]) if r["backbone"] in order else len(order), r["experiment"])
    )


def imagenet_markdown(rows: list[dict]) -> str:
    """Table 1 in Markdown: accuracy, run time (m:ss) and empty classes beside the paper's."""
    acc = lambda x: "—" if x is None else f"{x:.5f}"  # noqa: E731
    lines = [
        "| backbone | weights | noise | samples | accuracy | chance | centred maps | run time | device | "
        "empty classes | paper: accuracy | paper: run time (1 GPU) | paper: empty classes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        empty = "—" if r["paper_empty_classes"] is None else r["paper_empty_classes"]
        lines.append(
            f"| {r['backbone']} | {r['weights']} | {r['noise']} | {r['n']:,} | {acc(r['accuracy'])} | "
            f"{acc(r['chance'])} | {acc(r['centered_accuracy'])} | {_minutes(r['run_time_s'])} | "
            f"{r['device']} | {r['empty_classes']} of {r['classes']} | {acc(r['paper_accuracy'])} | "
            f"{_minutes(r['paper_run_time_s'])} | {empty} |"
        )
    images = sorted({r["images"] for r in rows})
    note = (
        f"\nAccuracy of the bias maps as a template classifier of {', '.join(f'{i:,}' for i in images)} "
        "validation images (resized to the maps' size); run time: the noise step (noise, forward passes, "
        "storage) summed over its jobs; empty classes: classes no noise sample was assigned to.\n"
    )
    return "\n".join(lines) + "\n" + note


def write_imagenet(rows: list[dict], md: str | Path, csv_path: str | Path) -> None:
    """Write Table 1 as Markdown and CSV (atomically)."""
    with store.atomic_path(md) as tmp:
        Path(tmp).write_text(imagenet_markdown(rows))
    write_csv(rows, csv_path)


def seed_spread_rows(
    spread: dict[str, dict[str, dict[int, str]]], files: dict[str, str | Path], models: dict[str, tuple[str, str]]
) -> list[dict]:
    """The headline numbers per training seed, one row per (analysis, measure, seed).

    ``spread`` is :func:`revcor.pipeline.configure.seed_spread`, ``files`` maps each name in it to
    its eval JSON, attack JSON or microstimulation file (by section), ``models`` maps each
    experiment to (dataset/model, noise kind).
    """
    rows = []

    def add(section: str, analysis: str, measure: str, seed: int, value: float | None, paper_value=None) -> None:
        rows.append(
            {
                "section": section,
                "analysis": analysis,
                "measure": measure,
                "seed": seed,
                "value": value,
                "paper": paper_value,
            }
        )

    for name, copies in spread["experiments"].items():
        model, kind = models[name]
        dataset, arch = model.split("/")
        what = f"{arch} bias maps" + ("" if kind == "white" else f", {kind} noise")
        for seed, copy_name in copies.items():
            final = json.loads(Path(files[f"eval:{copy_name}"]).read_text())["final"]["bias_maps"]
            expected = paper.TEMPLATE_ACCURACY.get((paper.family(dataset), what))
            add("template accuracy", f"{name} ({dataset} {what})", "accuracy", seed, final["accuracy"], expected)
            add("template accuracy", f"{name} ({dataset} {what})", "empty classes", seed, final["empty_classes"])
    for name, copies in spread["attacks"].items():
        for seed, copy_name in copies.items():
            result = json.loads(Path(files[f"attack:{copy_name}"]).read_text())
            for kind, rates in result["mean"].items():
                for gamma, rate in zip(result["gammas"], rates, strict=True):
                    expected = (
                        paper.ATTACK[kind][paper.ATTACK_GAMMAS.index(gamma)]
                        if (kind in paper.ATTACK and gamma in paper.ATTACK_GAMMAS)
                        else None
                    )
                    add("attack", f"{name}: {kind}", f"γ={gamma:g}", seed, rate, expected)
    for name, copies in spread["microstim"].items():
        for seed, copy_name in copies.items():
            for r in microstim_rows(files[f"microstim:{copy_name}"]):
                measure = f"{r['direction']} {r['layer']} k={r['k']:g}"
                add("microstimulation", name, measure, seed, r["mean_threshold_shift"])
    return rows


def _spread(values: list[float | None]) -> tuple[float | None, float | None, int]:
    """Mean and sample standard deviation of the values that exist, and how many there are."""
    finite = [v for v in values if v is not None]
    if not finite:
        return None, None, 0
    return float(np.mean(finite)), float(np.std(finite, ddof=1)) if len(finite) > 1 else None, len(finite)


def seed_spread_markdown(rows: list[dict]) -> str:
    """Template accuracies and microstimulation shifts with a column per seed and their mean ±
    SD; attack rates as mean ± SD over seeds per γ."""
    seeds = sorted({r["seed"] for r in rows})
    groups: dict[tuple, dict] = {}
    for r in rows:
        g = groups.setdefault((r["section"], r["analysis"], r["measure"]), {"paper": r["paper"], "values": {}})
        g["values"][r["seed"]] = r["value"]
    fmt = {"accuracy": _pct, "empty classes": lambda v: "—" if v is None else f"{v:.3g}"}
    out = [
        "Headline numbers per training seed (the models retrained with each seed; the noise is the same). "
        "Mean ± SD: sample standard deviation over the seeds with a value.",
        "",
        "## Template classifiers",
        "",
        "| experiment | measure | paper | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± SD |",
        "|---|---|---|" + "---|" * (len(seeds) + 1),
    ]
    for (section, analysis, measure), g in groups.items():
        if section != "template accuracy":
            continue
        f = fmt[measure]
        mean, sd, _ = _spread([g["values"].get(s) for s in seeds])
        cells = " | ".join(f(g["values"].get(s)) for s in seeds)
        paper_cell = "—" if g["paper"] is None else f(g["paper"])
        spread_cell = "—" if mean is None else f"{f(mean)} ± {'—' if sd is None else f(sd)}"
        out.append(f"| {analysis} | {measure} | {paper_cell} | {cells} | {spread_cell} |")
    attacks = [(k, g) for k, g in groups.items() if k[0] == "attack"]
    if attacks:
        gammas = list(dict.fromkeys(k[2] for k, _ in attacks))
        out += ["", "## Attacks: fraction classified as the target (mean ± SD over seeds)", ""]
        out += ["| templates: stimuli | " + " | ".join(gammas) + " |", "|---|" + "---|" * len(gammas)]
        for analysis in dict.fromkeys(k[1] for k, _ in attacks):
            cells = []
            for gamma in gammas:
                mean, sd, _ = _spread(list(groups[("attack", analysis, gamma)]["values"].values()))
                cells.append("—" if mean is None else f"{mean:.3f} ± {0 if sd is None else sd:.3f}")
            out.append(f"| {analysis} | " + " | ".join(cells) + " |")
        for kind in dict.fromkeys(a.split(": ", 1)[1] for a in dict.fromkeys(k[1] for k, _ in attacks)):
            expected = [
                next(g["paper"] for k, g in attacks if k[1].endswith(f": {kind}") and k[2] == gm) for gm in gammas
            ]
            if any(v is not None for v in expected):
                out.append(
                    f"| paper: {kind} | " + " | ".join("—" if v is None else f"{v:.3f}" for v in expected) + " |"
                )
    stims = [(k, g) for k, g in groups.items() if k[0] == "microstimulation"]
    if stims:
        out += ["", "## Microstimulation: mean threshold shift (γ) of the fitted psychometric functions", ""]
        out += ["| analysis | bias, layer, k | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± SD |"]
        out += ["|---|---|" + "---|" * (len(seeds) + 1)]
        for (_, analysis, measure), g in stims:
            values = [g["values"].get(s) for s in seeds]
            mean, sd, _ = _spread(values)
            cells = " | ".join("—" if v is None else f"{v:+.3f}" for v in values)
            spread_cell = "—" if mean is None else f"{mean:+.3f} ± {'—' if sd is None else f'{sd:.3f}'}"
            out.append(f"| {analysis} | {measure} | {cells} | {spread_cell} |")
    return "\n".join(out) + "\n"


def write_seed_spread(rows: list[dict], md: str | Path, csv_path: str | Path) -> None:
    """Write the spread over training seeds as Markdown and CSV."""
    with store.atomic_path(md) as tmp:
        Path(tmp).write_text(seed_spread_markdown(rows))
    write_csv(rows, csv_path)
