"""Figures from workflow artifacts: read maps, evaluations and baselines, plot, save.

Each function takes the artifact paths of one figure and the output ``stem`` and writes
``{stem}.png`` and ``{stem}.pdf`` (see :mod:`revcor.report.plots`, one module per analysis).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import h5py
import numpy as np

from revcor.analyses import psychometric
from revcor.base import paper, store
from revcor.data import datasets
from revcor.noise import gabor
from revcor.noise.kinds import LABELS
from revcor.report import read
from revcor.report.plots import attacks as attack_plots
from revcor.report.plots import maps as map_plots
from revcor.report.plots import microstim as microstim_plots
from revcor.report.plots import noise as noise_plots
from revcor.report.plots import panels
from revcor.report.plots import units as unit_plots


def generated_samples(generator: str | Path, kind: str, count: int = 8, seed: int = 0) -> np.ndarray:
    """``count`` noise images (count, C, H, W) in [0, 1] from a fitted generator (the one
    figure reader that runs the engine, so the only one that loads torch)."""
    import torch

    from revcor.core import engine
    from revcor.noise import sources

    with store.open_artifact(generator, "generator") as f:
        shape = tuple(store.get_attr(f, "shape"))
    source = sources.make({"kind": kind, "storage": "float32"}, shape, generator)
    return engine.draw(source, seed, 0, count, count, torch.device("cpu"))[0].numpy()


def map_set(path: str | Path, label: str, samples: str | None = None) -> dict[str, Any]:
    """The final (all-sample) bias maps of a plain experiment as a :mod:`revcor.report.plots` map set."""
    with store.open_artifact(path, "maps") as f:
        if store.get_attr(f, "signal"):
            raise ValueError(f"{path} is a signal+noise experiment; expected plain noise")
        return {
            "maps": f["maps_centered"][()],
            "counts": f["counts"][()],
            "feedback": f["feedback"][()] if "feedback" in f else None,
            "classes": store.get_attr(f, "classes"),
            "n": int(f.attrs["n"]),
            "title": read.title(f, label, samples),
        }


def _confusion(result: dict) -> tuple[np.ndarray | None, float | None]:
    """Confusion matrix and accuracy of an evaluation; None, None when it had no template."""
    if result["confusion"] is None:
        return None, None
    return np.asarray(result["confusion"]), float(result["accuracy"])


def signal_noise(maps: list[str], dataset_files: list[str], stem: str) -> None:
    """Binary signal+noise experiments (one block per task) with an example test digit of
    each class taken from the task's dataset."""
    tasks = []
    for path, dataset in zip(maps, dataset_files, strict=False):
        test = datasets.load(dataset, "test")
        first = [int(np.flatnonzero(test.labels == c)[0]) for c in (0, 1)]
        with store.open_artifact(path, "maps") as f:
            if not store.get_attr(f, "signal"):
                raise ValueError(f"{path} is not a signal+noise experiment")
            classes = store.get_attr(f, "classes")
            tasks.append(
                {
                    "classes": classes,
                    "gammas": store.get_attr(f, "gammas"),
                    "signals": test.images[first].astype(np.float64) / 255,
                    **{k: f[k][()] for k in ("stimulus_means", "stimulus_diff", "eq1", "ccorr", "corr", "counts")},
                    **{k: f[k][()] for k in ("significant_eq1", "significant_ccorr") if k in f},
                    "title": read.title(f, f"{classes[0]} vs {classes[1]}", "signal+noise trials"),
                }
            )
    panels.save(map_plots.signal_noise(tasks), stem)


def cnn_logreg(cnn_maps: str, logreg_maps: str, cnn_eval: str, logreg_eval: str, baselines: str, stem: str) -> None:
    """CNN and logistic-regression bias maps and four template classifiers."""
    base = read.load_json(baselines)
    confusions = {
        "CNN bias maps": _confusion(read.load_json(cnn_eval)["final"]["bias_maps"]),
        "log. reg. bias maps": _confusion(read.load_json(logreg_eval)["final"]["bias_maps"]),
        "mean images": _confusion(base["mean_images"]),
    }
    if "logreg_weights" in base:
        confusions["log. reg. weights"] = _confusion(base["logreg_weights"])
    fig = map_plots.cnn_logreg(map_set(cnn_maps, "CNN"), map_set(logreg_maps, "logistic regression"), confusions)
    panels.save(fig, stem)


def cifar10(maps: str, evaluation: str, baselines: str, baseline_maps: str, stem: str) -> None:
    """CIFAR-10: mean training images, bias maps, and their template classifiers."""
    with store.open_artifact(baseline_maps, "baselines") as f:
        means = f["mean_images"][()]
    confusions = {
        "mean images": _confusion(read.load_json(baselines)["mean_images"]),
        "bias maps": _confusion(read.load_json(evaluation)["final"]["bias_maps"]),
    }
    panels.save(map_plots.cifar10(means, map_set(maps, "CNN"), confusions), stem)


def buildup(maps: str, stem: str) -> None:
    """Build-up of the bias maps of classes 0, 1 and 2 over the checkpoints."""
    ns, m, counts, classes, title = read.checkpoints(maps)
    fig = map_plots.buildup(
        ns,
        m,
        counts,
        classes,
        rows=range(min(3, len(classes))),
        title=f"Progressive build-up of the bias maps ({title})",
    )
    panels.save(fig, stem)


def mlp_rnn(stem: str, mlp: str | None = None, rnn: str | None = None) -> None:
    """Bias maps of the MLP (top) and the RNN (bottom), whichever were run."""
    blocks = {label: map_set(path, label) for label, path in (("MLP", mlp), ("RNN", rnn)) if path}
    panels.save(map_plots.mlp_rnn(blocks), stem)


def sample_complexity(maps: str, evaluation: str, stem: str) -> None:
    """All classes at all checkpoints, convergence of the maps and template accuracy vs n."""
    ns, m, counts, classes, title = read.checkpoints(maps)
    by_n = read.load_json(evaluation)["by_n"]
    accuracy = {
        "bias maps": [by_n[str(n)]["bias_maps"]["accuracy"] for n in ns],
        "centred maps": [by_n[str(n)]["centered_maps"]["accuracy"] for n in ns],
    }
    fig = map_plots.sample_complexity(
        ns,
        m,
        counts,
        classes,
        accuracy,
        read.reliability(maps),
        title=f"Bias maps vs number of noise samples ({title}); title: class (samples)",
    )
    panels.save(fig, stem)


def infoval(evaluation: str, stem: str) -> None:
    """InfoVal of each class's bias map at every checkpoint (from the template evaluation)."""
    result = read.load_json(evaluation)
    ns = sorted(int(n) for n in result["by_n"])
    values = np.array([[np.nan if v is None else v for v in result["by_n"][str(n)]["infoval"]] for n in ns])
    title = f"InfoVal of each class's map vs number of noise samples: {Path(result['maps']).stem}"
    panels.save(map_plots.infoval(ns, values, result["classes"], title=title), stem)


def fashion(maps: str, stem: str, gabor_maps: str | None = None) -> None:
    """Fashion-MNIST: frequency of noise per class and the bias maps."""
    gabor = map_set(gabor_maps, "Gabor")["counts"] if gabor_maps else None
    panels.save(map_plots.fashion(map_set(maps, "CNN"), gabor), stem)


def zmaps(maps: str, stem: str) -> None:
    """Z-score maps (class vs rest) of one plain experiment."""
    with store.open_artifact(maps, "maps") as f:
        fig = map_plots.zmaps(
            f["zmaps"][()],
            f["counts"][()],
            store.get_attr(f, "classes"),
            f["significant"][()],
            f["infoval"][()],
            f["reliability"][()],
            store.get_attr(f, "significance"),
            title=read.title(f, Path(maps).stem),
            what="z-score of the mean noise of each class vs the rest",
        )
    panels.save(fig, stem)


def comparison(comparison: str, stem: str) -> None:
    """Z-map of the difference of two experiments' maps, with the pixels that differ."""
    with store.open_artifact(comparison, "comparison") as f:
        a, b = (Path(store.get_attr(f, side)).stem for side in ("a", "b"))
        counts = np.minimum(f["counts_a"][()], f["counts_b"][()])
        fig = map_plots.zmaps(
            f["zmaps"][()],
            counts,
            store.get_attr(f, "classes"),
            f["significant"][()],
            f["infoval"][()],
            np.full(len(counts), np.nan),
            store.get_attr(f, "significance"),
            title=f"{a} minus {b} (n: the smaller of the two class counts)",
            what="z-score of the difference of the two experiments' centred maps",
        )
    panels.save(fig, stem)


def whitened(maps: str, evaluation: str, stem: str) -> None:
    """Bias maps beside whitened maps of a structured-noise experiment, with both accuracies."""
    final = read.load_json(evaluation)["final"]
    accuracy = {"bias maps": final["centered_maps"]["accuracy"]}
    with store.open_artifact(maps, "maps") as f:
        if "whitened_maps" not in f:
            raise ValueError(f"{maps} has no whitened maps (its noise has more than 4,096 values per image)")
        accuracy["whitened maps"] = final["whitened_maps"]["accuracy"]
        fig = map_plots.whitened(
            f["maps_centered"][()],
            f["whitened_maps"][()],
            f["counts"][()],
            store.get_attr(f, "classes"),
            accuracy,
            title=read.title(f, Path(maps).stem),
        )
    panels.save(fig, stem)


def gabor_noise(maps: list[str], evaluations: list[str], generators: list[str], stem: str) -> None:
    """Gabor-PCA noise per dataset: bias maps, samples, a reconstruction, the confusion matrix."""
    blocks = []
    for path, evaluation, generator in zip(maps, evaluations, generators, strict=False):
        dataset = read.experiment_spec(path)["model"].split("/")[0]
        fitted = gabor.load(generator)
        cm, acc = _confusion(read.load_json(evaluation)["final"]["bias_maps"])
        blocks.append(
            {
                "label": read.DATASET_LABELS.get(dataset, dataset),
                "maps": map_set(path, "CNN", "Gabor-PCA samples"),
                "samples": generated_samples(generator, "gabor"),
                "example": fitted.examples[0],
                "reconstruction": fitted.reconstructions[0],
                "confusion": cm,
                "accuracy": acc,
                "explained": fitted.explained.tolist(),
                "components": fitted.components,
                "wavelets": fitted.settings["wavelets"],
            }
        )
    panels.save(noise_plots.gabor_noise(blocks), stem)


def autoencoder_noise(maps: list[str], evaluations: list[str], generators: list[str], stem: str) -> None:
    """Autoencoder and VAE noise: samples, and bias maps after few samples."""
    blocks = []
    for path, generator in zip(maps, generators, strict=False):
        kind = read.experiment_spec(path)["noise"]["kind"]
        ns, m, counts, classes, _ = read.checkpoints(path)
        keep = [i for i, n in enumerate(ns) if n <= 10_000] or list(range(len(ns)))
        blocks.append(
            {
                "label": LABELS[kind],
                "samples": generated_samples(generator, kind),
                "ns": [ns[i] for i in keep],
                "maps": m[keep],
                "counts": counts[keep],
                "classes": classes,
            }
        )
    panels.save(noise_plots.autoencoder_noise(blocks), stem)


def noise_comparison(maps: list[str], evaluations: list[str], stem: str) -> None:
    """Sample complexity of white, Gabor-PCA, autoencoder and VAE noise for one model."""
    ns, curves = read.noise_curves(maps, evaluations)
    spec = read.experiment_spec(maps[0])
    k = len(read.load_json(evaluations[0])["classes"])
    fig = noise_plots.noise_comparison(
        curves, ns, chance=1 / k, title=f"Sample complexity by noise type: {spec['model']}"
    )
    panels.save(fig, stem)


def backdoor(
    clean_maps: str, poisoned_maps: str, metrics: str, clean_metrics: str, gradients: str, detection: str, stem: str
) -> None:
    """One backdoor: confusion matrices, clean vs poisoned bias maps, the detector's excess
    map (paper Fig. 7A/B, 18); the mean input gradients go to ``{stem}-gradients`` (Fig. 7D)."""
    result, poisoned, clean = read.load_json(detection), read.load_json(metrics), read.load_json(clean_metrics)
    spec = result["spec"]
    classes = poisoned["classes"]
    src, tgt = classes[spec["source"]], classes[spec["target"]]

    def cm(m: dict) -> tuple[np.ndarray, float]:
        return np.asarray(m["confusion"]), float(m["accuracy"])

    confusions = {
        "clean model, clean test set": cm(clean["test"]),
        "poisoned model, clean test set": cm(poisoned["test"]),
        f"poisoned model, every '{src}' patched": cm(poisoned["test_patched"]),
    }
    found = {m["role"]: m["paper"] for m in result["models"][::-1]}  # the first model of each role
    fig = attack_plots.backdoor(
        confusions,
        map_set(clean_maps, "clean"),
        map_set(poisoned_maps, "poisoned"),
        result["box"],
        {r: np.asarray(e) for r, e in result["excess"].items()},
        found,
        title=f"Backdoor {result['name']}: {'an' if spec['patch'] in 'fhlmnsx' else 'a'} "
        f"{spec['patch'].upper()}-shaped patch on "
        f"{spec['fraction']:.0%} of the training '{src}' images, relabelled '{tgt}'",
    )
    panels.save(fig, stem)
    with store.open_artifact(gradients, "gradients") as f:
        rows = {name: f[f"row{i}"][()] for i, name in enumerate(store.get_attr(f, "rows"))}
    panels.save(
        attack_plots.gradients(
            rows, classes, title=f"Mean input gradient of the loss, backdoor {result['name']} (paper Fig. 7D)"
        ),
        f"{stem}-gradients",
    )


def backdoor_detection(detections: list[str], stem: str) -> None:
    """Detection scores of clean and poisoned models for every backdoor."""
    panels.save(attack_plots.backdoor_detection([read.load_json(p) for p in detections]), stem)


def attack(attack: str, stem: str) -> None:
    """Bias maps and mean images as targeted attacks: examples and rates vs gamma."""
    with store.open_artifact(attack, "attack") as f:
        gammas = store.get_attr(f, "gammas")
        g = store.get_attr(f, "example_gammas")
        blocks = {
            label: {
                "templates": f[f"{key}/templates"][()],
                "digits": f[f"{key}/digit"][()],
                "digit_labels": f[f"{key}/digit_labels"][()],
                "noise": f[f"{key}/noise"][()],
                "noise_labels": f[f"{key}/noise_labels"][()],
                "gamma_digit": g["digit"],
                "gamma_noise": g["noise"],
            }
            for label, key in (("bias maps", "bias"), ("mean images", "mean"))
        }
        rates = {kind: f[f"rates/{kind}"][()] for kind in f["rates"]}
        classes, model = store.get_attr(f, "classes"), store.get_attr(f, "model")
        n = store.get_attr(f, "noise_samples")
    fig = attack_plots.attack(
        blocks,
        gammas,
        rates,
        classes,
        paper=paper.ATTACK if gammas == paper.ATTACK_GAMMAS else None,
        title=f"Bias maps of {Path(attack).stem} as a hard-label attack on {model} "
        f"({n:,} noise images, every test digit)",
    )
    panels.save(fig, stem)


def _units_title(f: h5py.File) -> str:
    spec = store.get_attr(f, "spec")
    kind = LABELS[store.get_attr(f, "noise")["kind"]]
    return f"{spec['model']}, {int(f.attrs['n']):,} {kind}-noise images"


def activations(units: str, stem: str) -> None:
    """Mean layer activations per class for noise and real data, and class distances."""
    with store.open_artifact(units, "units") as f:
        g = f["activations"]
        layers = store.get_attr(g, "layers")
        noise_means = {layer: g[f"noise/{layer}"][()] for layer in layers}
        data_means = {layer: g[f"data/{layer}"][()] for layer in layers}
        fig = unit_plots.activations(
            noise_means,
            data_means,
            store.get_attr(g, "distances"),
            store.get_attr(f, "classes"),
            title=f"Mean layer activations: {_units_title(f)}",
        )
    panels.save(fig, stem)


def injection(units: str, stem: str) -> None:
    """Misclassification towards each class after injecting its mean noise activation."""
    with store.open_artifact(units, "units") as f:
        h = f["injection"]
        rates = {layer: h[layer][()] for layer in store.get_attr(h, "layers")}
        fig = unit_plots.injection(
            rates,
            store.get_attr(h, "gammas"),
            store.get_attr(f, "classes"),
            title=f"Activation injection: {_units_title(f)}",
        )
    panels.save(fig, stem)


def _sta_layers(f: h5py.File) -> dict[str, dict[str, Any]]:
    out = {}
    for name, g in f["sta"].items():
        out[name] = {
            "sta": g["sta"][()],
            "rf": SimpleNamespace(**store.get_attr(g, "rf")),
            "count": int(g.attrs["count"]),
            **{k: g[k][()] for k in ("kernel", "whitened") if k in g},
        }
    return out


def sta(units: str, stem: str) -> None:
    """STA filters of every unit of the analysed layers beside the trained kernels (Fig. 8,
    22); whitened STAs (Eq. 5), where computed, as extra rows."""
    with store.open_artifact(units, "units") as f:
        layers = _sta_layers(f)
        title = f"Spike-triggered averages: {_units_title(f)}"
    rows = {}
    for name, entry in layers.items():
        rows[name] = entry
        if "whitened" in entry:
            rows[f"{name} (whitened, Eq. 5)"] = {**entry, "sta": entry["whitened"]}
    panels.save(unit_plots.sta(rows, title=title), stem)


def stc(units: str, stem: str) -> None:
    """Spike-triggered covariance of every chosen unit, one figure page per unit stacked."""
    with store.open_artifact(units, "units") as f:
        results = []
        for name, g in f["sta"].items():
            rf = store.get_attr(g, "rf")
            for key in sorted(g.get("stc", {}), key=int):
                s = g[f"stc/{key}"]
                result = {k: store.get_attr(s, k) for k in s.attrs if k not in ("revcor_version", "python")}
                result |= {k: s[k][()] for k in s}
                shape = (int(g["sta"].shape[1]), rf["height"], rf["width"])
                results.append((name, result, shape))
        title = _units_title(f)
    panels.save(
        unit_plots.stc(
            [(f"{name}, channel {r.get('channel')}", r, shape) for name, r, shape in results],
            title=f"Spike-triggered covariance: {title}",
        ),
        stem,
    )


def _psychometric(microstim_path: str, sign: int, stem: str) -> None:
    with store.open_artifact(microstim_path, "microstim") as f:
        a = {
            k: store.get_attr(f, k)
            for k in ("signs", "layers", "ks", "classes", "targets", "gammas", "fits", "model", "spec", "skipped")
        }
        hits = f["hits"][()][a["signs"].index(sign)]
        largest = f["largest_bias_change"][()]
    n = a["spec"]["n"]
    x = np.linspace(min(a["gammas"]), max(a["gammas"]), 100)
    fitted = {
        key[3:]: psychometric.curve(x, v, a["spec"]["fit"])
        for key, v in a["fits"].items()
        if key.startswith(f"{sign:+d}/")
    }
    fig = microstim_plots.psychometric(
        np.where(hits < 0, -1.0, hits / n),
        a["gammas"],
        a["layers"],
        a["ks"],
        [a["classes"][t] for t in a["targets"]],
        x,
        fitted,
        largest=largest,
        skipped=a["skipped"],
        title=f"Microstimulation of {a['spec']['model']}: biases "
        f"{'raised' if sign > 0 else 'lowered'}\n(Eq. 6; {n:,} white-noise "
        "stimuli per point; |Δb|: largest bias change, median over targets)",
    )
    panels.save(fig, stem)


def microstim_raised(microstim: str, stem: str) -> None:
    """Psychometric curves with raised biases (paper Fig. 9, 23, 25 left)."""
    _psychometric(microstim, 1, stem)


def microstim_lowered(microstim: str, stem: str) -> None:
    """Psychometric curves with lowered biases (paper Fig. 24, 25 right)."""
    _psychometric(microstim, -1, stem)


def scan(scan: str, arrays: str, stem: str) -> None:
    """A backdoor scan (see :func:`revcor.report.plots.attacks.scan`) from its result and arrays."""
    with store.open_artifact(arrays, "scan_arrays") as f:
        data = {key: f[key][()] for key in f}
    panels.save(attack_plots.scan(read.load_json(scan), data), stem)
