"""Every figure of the workflow, declared once.

A :class:`Figure` says what it shows, which paper figure it reproduces, which artifacts it
reads (by role: the keyword arguments of its drawing function), and whether it is drawn once
per config or once per entry of a config section. Its ``name`` is everything else: the
drawing function ``revcor.report.figures.{name}``, the rule ``figure_{name}``, the files
``results/figures/{name}[/{entry}].png|pdf`` and the caption ``workflow/report/{name}.rst``.
The plan (targets, rule inputs), the rules (one per declaration, made in a loop) and the
figure script all read it; adding a figure is one entry here plus its drawing function.

The selections take the :class:`revcor.pipeline.plan.Plan` of a config as their argument.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from revcor.noise.kinds import AUTOENCODERS

MNIST_FIRST = ("mnist", "mnist-5k")  # figures prefer full MNIST, then the 5k subset

Selection = dict[str, str]  # {role: experiment}


@dataclass(frozen=True)
class Figure:
    """One figure. ``each`` names the wildcard of figures drawn once per entry (``exp``,
    ``unit``, ...), None for one figure per config. ``select(plan)`` gives the entries (each)
    or ``{role: experiment}`` (once; empty when the config cannot make it); ``inputs(plan,
    entry_or_selection)`` the drawing function's keyword arguments; ``also`` the suffixes of
    further figures the function writes beside the first (``{stem}-{suffix}``)."""

    name: str
    shows: str
    group: str
    select: Callable[[Any], Any]
    inputs: Callable[[Any, Any], dict[str, Any]]
    each: str | None = None
    paper: str | None = None
    also: tuple[str, ...] = field(default=())
    caption: str | None = None  # workflow/report/{caption}.rst when not {name}.rst


def _maps(plan: Any, found: Selection) -> dict[str, str]:
    return {role: plan.maps_file(name) for role, name in found.items()}


def _evals(plan: Any, found: Selection) -> dict[str, str]:
    return {role: plan.evaluation_file(name) for role, name in found.items()}


def _baselines(plan: Any, found: Selection) -> dict[str, str]:
    dataset = plan.dataset_of(found["cnn"])
    return {"baselines": plan.baselines_evaluation_file(dataset), "baseline_maps": plan.baselines_file(dataset)}


def _with_generators(plan: Any, found: Selection) -> dict[str, list[str]]:
    return {
        "maps": list(_maps(plan, found).values()),
        "evaluations": list(_evals(plan, found).values()),
        "generators": [plan.experiment_inputs(e)["generator"] for e in found.values()],
    }


def _with_checkpoints(plan: Any) -> list[str]:
    """Template experiments that keep statistics at more than one n."""
    return [e for e in plan.template_experiments() if plan.experiment(e)["checkpoints"]]


def _maps_and_evaluation(plan: Any, exp: str) -> dict[str, str]:
    return {"maps": plan.maps_file(exp), "evaluation": plan.evaluation_file(exp)}


def _cnn_logreg(plan: Any) -> Selection:
    pairs = ({m: plan.find_experiment([d], m) for m in ("cnn", "logreg")} for d in MNIST_FIRST)
    return next((p for p in pairs if all(p.values())), {})


def _fashion(plan: Any) -> Selection:
    cnn = plan.find_experiment(["fashion-mnist"], "cnn")
    return {"cnn": cnn, "gabor": plan.find_experiment(["fashion-mnist"], "cnn", kind="gabor")} if cnn else {}


def _unit_figure(name: str, shows: str, paper: str | None, wanted: Callable[[dict], bool]) -> Figure:
    return Figure(
        name,
        shows,
        "Single units",
        select=lambda p: [u for u, spec in p.config["units"].items() if wanted(spec)],
        inputs=lambda p, unit: {"units": p.units_file(unit)},
        each="unit",
        paper=paper,
    )


def _microstim_figure(name: str, sign: int, paper: str) -> Figure:
    return Figure(
        name,
        f"psychometric curves with the biases {'raised' if sign > 0 else 'lowered'} by each k",
        "Microstimulation",
        select=lambda p: [s for s, spec in p.config["microstim"].items() if spec["summary"] and sign in spec["signs"]],
        inputs=lambda p, stim: {"microstim": p.microstim_file(stim)},
        each="stim",
        paper=paper,
        caption="microstim_curves",
    )


FIGURES: dict[str, Figure] = {
    f.name: f
    for f in (
        Figure(
            "signal_noise",
            "classification images of binary CNNs on signal+noise stimuli",
            "Paper figures",
            select=lambda p: {
                t: p.find_experiment([f"{d}-{t}" for d in MNIST_FIRST], signal=True) for t in ("1v7", "5v6")
            },
            inputs=lambda p, found: {
                "maps": list(_maps(p, found).values()),
                "dataset_files": [p.dataset_file(p.dataset_of(e)) for e in found.values()],
            },
            paper="Fig. 1B, C",
        ),
        Figure(
            "cnn_logreg",
            "bias maps of a CNN and of logistic regression on MNIST, and their template accuracy",
            "Paper figures",
            select=_cnn_logreg,
            inputs=lambda p, found: {
                "cnn_maps": p.maps_file(found["cnn"]),
                "logreg_maps": p.maps_file(found["logreg"]),
                "cnn_eval": p.evaluation_file(found["cnn"]),
                "logreg_eval": p.evaluation_file(found["logreg"]),
                "baselines": _baselines(p, found)["baselines"],
            },
            paper="Fig. 2",
        ),
        Figure(
            "cifar10",
            "CIFAR-10: mean images, bias maps and template classifiers",
            "Paper figures",
            select=lambda p: {"cnn": p.find_experiment(["cifar10"], "cnn") or p.find_experiment(["cifar10"])},
            inputs=lambda p, found: {
                "maps": p.maps_file(found["cnn"]),
                "evaluation": p.evaluation_file(found["cnn"]),
                **_baselines(p, found),
            },
            paper="Fig. 3",
        ),
        Figure(
            "buildup",
            "progressive build-up of the bias maps with the number of noise images",
            "Paper figures",
            select=lambda p: {"cnn": p.find_experiment(MNIST_FIRST, "cnn")},
            inputs=lambda p, found: {"maps": p.maps_file(found["cnn"])},
            paper="Fig. 4",
        ),
        Figure(
            "gabor_noise",
            "classification images from Gabor-PCA noise on each dataset",
            "Paper figures",
            select=lambda p: {
                "mnist": p.find_experiment(MNIST_FIRST, "cnn", kind="gabor"),
                "fashion": p.find_experiment(["fashion-mnist"], "cnn", kind="gabor"),
                "cifar": p.find_experiment(["cifar10"], "cnn", kind="gabor"),
            },
            inputs=_with_generators,
            paper="Fig. 5",
        ),
        Figure(
            "mlp_rnn",
            "bias maps of an MLP and an RNN on MNIST",
            "Paper figures",
            select=lambda p: {m: p.find_experiment(MNIST_FIRST, m) for m in ("mlp", "rnn")},
            inputs=_maps,
            paper="Fig. 13",
        ),
        Figure(
            "autoencoder_noise",
            "classification images from autoencoder and VAE noise",
            "Paper figures",
            select=lambda p: {k: p.find_experiment(MNIST_FIRST, "cnn", kind=k) for k in AUTOENCODERS},
            inputs=_with_generators,
            paper="Fig. 15",
        ),
        Figure(
            "fashion",
            "Fashion-MNIST: what white (and Gabor) noise is classified as, and the bias maps",
            "Paper figures",
            select=_fashion,
            inputs=lambda p, found: (
                {"maps": p.maps_file(found["cnn"])}
                | ({"gabor_maps": p.maps_file(found["gabor"])} if "gabor" in found else {})
            ),
            paper="Fig. 16",
        ),
        Figure(
            "noise_comparison",
            "sample complexity of each noise kind for the MNIST CNN",
            "Paper figures",
            select=lambda p: p.noise_comparison_experiments(),
            inputs=lambda p, found: {
                "maps": list(_maps(p, found).values()),
                "evaluations": list(_evals(p, found).values()),
            },
            paper="Sec. 3.2",
        ),
        Figure(
            "zmaps",
            "z-maps of every class with the pixels significant under family-wise error control",
            "Z-maps",
            select=lambda p: p.template_experiments(),
            inputs=lambda p, exp: {"maps": p.maps_file(exp)},
            each="exp",
        ),
        Figure(
            "whitened",
            "bias maps of structured noise, whitened by the noise covariance",
            "Whitened maps",
            select=lambda p: [e for e in p.template_experiments() if p.experiment(e)["noise"]["kind"] != "white"],
            inputs=_maps_and_evaluation,
            each="exp",
        ),
        Figure(
            "sample_complexity",
            "the maps at every checkpoint, their convergence and template accuracy against n",
            "Sample complexity",
            select=_with_checkpoints,
            inputs=_maps_and_evaluation,
            each="exp",
            paper="Fig. 14 (for the MNIST CNN)",
        ),
        Figure(
            "infoval",
            "InfoVal of each class's map against n, from the checkpoints, with the 5% threshold",
            "Sample complexity",
            select=_with_checkpoints,
            inputs=lambda p, exp: {"evaluation": p.evaluation_file(exp)},
            each="exp",
        ),
        Figure(
            "comparison",
            "the difference of two experiments' maps, tested class by class",
            "Comparisons",
            select=lambda p: list(p.config["comparisons"]),
            inputs=lambda p, name: {"comparison": p.comparison_file(name)},
            each="name",
        ),
        Figure(
            "attack",
            "bias maps and mean images as hard-label targeted attacks",
            "Attacks",
            select=lambda p: p.attack_experiments(),
            inputs=lambda p, exp: {"attack": p.attack_file(exp, "h5")},
            each="exp",
            paper="Fig. 6, 17",
            caption="attack_figure",
        ),
        Figure(
            "backdoor",
            "one backdoor: confusions, clean and poisoned bias maps, the detector's excess map; mean input gradients",
            "Backdoors",
            select=lambda p: list(p.config["backdoors"]),
            inputs=lambda p, name: p.backdoor_figure_inputs(name),
            each="name",
            paper="Fig. 7, 18",
            also=("gradients",),
        ),
        Figure(
            "backdoor_detection",
            "detection scores of clean and poisoned models for every backdoor",
            "Backdoors",
            select=lambda p: {name: name for name in p.config["backdoors"]},
            inputs=lambda p, found: {"detections": [p.detection_file(name) for name in found]},
        ),
        Figure(
            "scan",
            "a backdoor scan: the model's scores against its clean references, and where the trigger is",
            "Backdoors",
            select=lambda p: list(p.config["scans"]),
            inputs=lambda p, scan: {"scan": p.scan_file(scan), "arrays": p.scan_file(scan, "h5")},
            each="scan",
        ),
        _unit_figure(
            "sta", "spike-triggered averages of every unit beside the trained kernels", "Fig. 8, 22", lambda s: True
        ),
        _unit_figure(
            "activations",
            "mean layer activations per class, noise against real data",
            "Fig. 20",
            lambda s: bool(s["activations"]),
        ),
        _unit_figure(
            "injection",
            "misclassification after injecting each class's mean noise activation",
            "Fig. 7C, 21",
            lambda s: bool(s["injection"]["layers"]),
        ),
        _unit_figure("stc", "spike-triggered covariance of the chosen units", None, lambda s: bool(s["stc"])),
        _microstim_figure("microstim_raised", 1, "Fig. 9, 23, 25 left"),
        _microstim_figure("microstim_lowered", -1, "Fig. 24, 25 right"),
    )
}
