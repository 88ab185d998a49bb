"""Command line: a thin parser over :mod:`revcor.api`, one ``add_X`` / ``run_X`` pair per
command: ``revcor images MODEL ...`` (classification images), ``units``, ``attack``,
``microstim``, ``scan`` (a backdoor verdict) and ``init`` (a workflow config). Every default
is the API's, which is the workflow schema's."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
from typing import NoReturn

from revcor import __version__
from revcor.base import defaults as D
from revcor.base.errors import RevcorError


def _shape(text: str) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected C,H,W such as 1,28,28; got {text!r}") from None
    return c, h, w


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _n_or_auto(text: str) -> int | str:
    return text if text == "auto" else _positive(text)


def _size_or_auto(text: str) -> int | str:
    return text if text == "auto" else _positive(text)


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value <= 2**63 - 1:
        raise argparse.ArgumentTypeError(f"must lie in 0 .. 2**63-1, got {value}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _sizes(text: str) -> list[int]:
    return [_positive(v) for v in text.split(",") if v.strip()]


def _normalize(text: str) -> dict[str, list[float]]:
    try:
        mean, std = ([float(v) for v in part.split(",")] for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MEAN/STD such as 0.5,0.5,0.5/0.2,0.2,0.2; got {text!r}") from None
    if len(mean) != len(std) or not all(s > 0 for s in std):
        raise argparse.ArgumentTypeError(f"expected as many means as positive stds; got {text!r}")
    return {"mean": mean, "std": std}


def _pick(section: dict, **names: str) -> dict:
    """``{option: section[key]}`` for ``option=key`` (dotted keys reach into sub-sections)."""
    out = {}
    for option, key in names.items():
        value = section
        for part in key.split("."):
            value = value[part]
        out[option] = value
    return out


# The defaults of every command: those of its revcor.api function, from the schema
# (revcor.base.defaults, which does not import torch); tests/test_cli.py checks they agree.
_RUN = {"device": D.DEVICE, "outputs": "logits"}
DEFAULTS = {
    "images": {
        **_RUN,
        **_pick(D.EXPERIMENT, n="n", max_n="max_n", seed="seed", noise="noise.kind", std="noise.std"),
        **_pick(D.EXPERIMENT["target"], reliability="reliability", min_count="min_count"),
        **_pick(D.STATISTICS, alpha="alpha", null_maps="null_maps", null_draws="null_draws"),
        **_pick(D.ENGINE, compile="compile", batch_size="batch_size", chunk_size="chunk_size"),
        "precision": D.PRECISION,
    },
    "scan": {
        **_RUN,
        **_pick(D.SCAN, n="n", local_n="local.n", alpha="alpha", causal_images="causal_images", smooth="smooth"),
        "seeds": D.SCAN["references"]["seeds"],
        "epochs": D.TRAINING["epochs"],
        "seed": D.EXPERIMENT["seed"],
    },
    "units": {
        **_RUN,
        **_pick(D.UNITS, n="n", seed="seed", noise="noise.kind", whiten="whiten", stc="stc"),
        **_pick(D.UNITS, activations="activations", inject="injection.layers"),
    },
    "attack": {
        **_RUN,
        **_pick(D.ATTACK, gammas="gammas", noise_samples="noise_samples", seed="seed"),
        "n": D.EXPERIMENT["n"],
    },
    "microstim": {
        **_RUN,
        **_pick(D.MICROSTIM, ks="ks", classes="classes", gammas="gammas", bootstrap="bootstrap", n="n", seed="seed"),
    },
    "init": {"outputs": "logits", "n": D.EXPERIMENT["n"], "out": "config.yaml"},
}


def _common(
    p: argparse.ArgumentParser, out: str, *, seed: int = 0, device: str = "auto", data: str | None = None
) -> None:
    """The model (:func:`_model_arguments`), the data, the seed, the device, the output."""
    _model_arguments(p)
    if data is not None:
        p.add_argument("--data", required=True, help=data)
    p.add_argument("--seed", type=_seed, default=seed, help="seed of the noise")
    p.add_argument("--device", default=device, help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, help=out)


def _model_arguments(p: argparse.ArgumentParser) -> None:
    """What the model is and how to feed it."""
    p.add_argument(
        "model",
        help="revcor model file, TorchScript file, torch.export program (.pt2), ONNX model (.onnx), "
        "or package.module:factory (with --state-dict; found in the working directory too)",
    )
    p.add_argument("--state-dict", help="weights for a package.module:factory model (torch.save or .safetensors)")
    p.add_argument(
        "--normalize",
        type=_normalize,
        help="MEAN/STD per channel the model was trained with, e.g. 0.485,0.456,0.406/0.229,0.224,0.225; "
        "revcor feeds it noise in [0, 1] and normalises it",
    )
    p.add_argument(
        "--outputs",
        choices=["logits", "probabilities"],
        default="logits",
        help="probabilities: the model ends in a softmax (its log-probabilities are used as logits)",
    )
    p.add_argument(
        "--output-key",
        help="where the logits are when the model returns more than a tensor: an attribute, key or index "
        "(default: a ModelOutput's or dict's logits, a tuple's first element)",
    )


DATA = "the data: a revcor dataset file, an image folder (one sub-folder per class), an arrays file (.npz, .h5, or images.npy,labels.npy) or torchvision:NAME"


def _model_settings(args: argparse.Namespace) -> dict:
    return {
        "state_dict": args.state_dict,
        "normalize": args.normalize,
        "outputs": args.outputs,
        "output_key": args.output_key,
        "device": args.device,
        "progress": not args.quiet,
    }


def add_images(sub: argparse._SubParsersAction) -> None:
    d = DEFAULTS["images"]
    p = sub.add_parser(
        "images",
        help="classification images (bias maps) of a model from white noise",
        description="Feed white noise to MODEL, average the noise by the class the model gives it, and write "
        "counts, bias maps, z-maps, their significant pixels, InfoVal and reliability to an HDF5 file.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _common(p, "output HDF5 file", seed=d["seed"], device=d["device"])
    p.add_argument(
        "--noise",
        default=d["noise"],
        choices=D.NOISE_KINDS,
        help="uniform white noise on [0,1]; Gaussian (mean 0.5, --std) clipped to it; or noise with natural image "
        "structure (Gabor-PCA, autoencoder, VAE) fitted on the training images of --data",
    )
    p.add_argument("--data", help="for gabor, ae and vae noise: the data to fit the generator on (" + DATA + ")")
    p.add_argument("--std", type=_positive_float, default=d["std"], help="standard deviation of Gaussian noise")
    p.add_argument(
        "-n", type=_n_or_auto, default=d["n"], help="noise images, or auto: until the maps are reliable (--max-n)"
    )
    p.add_argument("--max-n", type=_positive, default=d["max_n"], help="with -n auto: at most this many")
    p.add_argument(
        "--reliability",
        type=_fraction,
        default=d["reliability"],
        help="with -n auto: the split-half reliability every class with --min-count samples must reach",
    )
    p.add_argument(
        "--min-count", type=_positive, default=d["min_count"], help="with -n auto: classes with fewer are not judged"
    )
    p.add_argument("--input-shape", type=_shape, help="C,H,W when the model does not record it")
    p.add_argument("--classes", type=_names, help="comma-separated class names")
    p.add_argument("--test-data", help="data to measure the template-classifier accuracy of the maps on (" + DATA + ")")
    p.add_argument(
        "--checkpoints", type=_sizes, help="comma-separated prefix sizes to keep too (default: 100,1000,... below n)"
    )
    p.add_argument(
        "--alpha", type=_fraction, default=d["alpha"], help="family-wise error rate of the significant pixels"
    )
    p.add_argument(
        "--null-maps", type=_positive, default=d["null_maps"], help="null maps drawn from the noise, without the model"
    )
    p.add_argument(
        "--null-draws", type=_positive, default=d["null_draws"], help="noise images summed into each null map"
    )
    p.add_argument(
        "--compile",
        choices=["auto", "on", "off"],
        default={True: "on", False: "off"}.get(d["compile"], "auto"),
        help="compile the model's forward pass with torch.compile (auto: for -n of at least 500000)",
    )
    p.add_argument(
        "--precision", default=d["precision"], choices=["auto", "fp32", "bf16"], help="auto: bf16 on GPUs with it"
    )
    p.add_argument("--batch-size", type=_size_or_auto, default=d["batch_size"], help="images per forward pass")
    p.add_argument("--chunk-size", type=_size_or_auto, default=d["chunk_size"], help="images per noise chunk")


def run_images(args: argparse.Namespace) -> None:
    from revcor import api

    result = api.images(
        args.model,
        args.out,
        n=args.n,
        max_n=args.max_n,
        reliability=args.reliability,
        min_count=args.min_count,
        noise=args.noise,
        std=args.std,
        data=args.data,
        test_data=args.test_data,
        seed=args.seed,
        input_shape=args.input_shape,
        classes=args.classes,
        checkpoints=args.checkpoints,
        alpha=args.alpha,
        null_maps=args.null_maps,
        null_draws=args.null_draws,
        precision=args.precision,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
        compile={"on": True, "off": False}.get(args.compile, "auto"),
        **_model_settings(args),
    )
    print(images_summary(result))


def images_summary(result: dict) -> str:
    """The summary :func:`revcor.api.summary` of a maps file, as printed."""
    lines = [f"wrote {result['out']}: {result['n']:,} noise images"]
    if "reached" in result:
        t = result["target"]
        goal = f"split-half reliability {t['reliability']:g} for every class with {t['min_count']:,} or more images"
        lines[0] += (
            f" (n auto: {goal} reached)"
            if result["reached"]
            else f" (n auto: stopped at --max-n {result['max_n']:,}; {goal} NOT reached)"
        )
    sig = f"significant pixels (of {result['pixels']:,}, alpha {result['alpha']:g})" if result["pixels"] else ""
    lines.append(f"  {'class':>12}  {'images':>10}  {'share':>6}  {'reliability':>11}  {sig}")
    for c in result["classes"]:
        rel = "-" if c["reliability"] is None else f"{c['reliability']:.3f}"
        lines.append(
            f"  {c['name']:>12}  {c['count']:>10,}  {100 * c['share']:5.1f}%  {rel:>11}  "
            + ("" if c["significant"] is None else f"{c['significant']:,}")
        )
    acc = result["accuracy"]
    if acc is not None:
        lines.append(
            f"template-classifier accuracy: {100 * acc['accuracy']:.2f}% (chance {100 / len(result['classes']):.1f}%, "
            f"{acc['empty_classes']} empty classes)"
        )
    if "warning" in result:
        lines.append(f"warning: {result['warning']}")
    return "\n".join(lines)


def add_scan(sub: argparse._SubParsersAction) -> None:
    d = DEFAULTS["scan"]
    p = sub.add_parser(
        "scan",
        help="scan a model for a backdoor against clean reference models",
        description="Probe MODEL and clean reference models of the same architecture (given as files, or trained "
        "here on DATA) alike with white noise and with local noise on DATA's clean test images, and give a "
        "verdict whose false-positive rate is ALPHA (clean, suspect, or inconclusive with fewer than 3 "
        "references), the suspected target class, the trigger's location and a causal check of it "
        "(docs/backdoor.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _common(
        p,
        "output JSON (verdict, p-value, evidence, target, location, ...)",
        seed=d["seed"],
        device=d["device"],
        data="the clean data: " + DATA,
    )
    p.add_argument("--references", nargs="+", default=[], help="clean reference model files (3 or more; 5 recommended)")
    p.add_argument(
        "--arch",
        help="train the references here: a revcor architecture, torchvision:NAME, timm:NAME or factory:module:function",
    )
    p.add_argument("--arch-kwargs", type=_json_object, help="JSON arguments of --arch, e.g. '{\"width\": 8}'")
    p.add_argument("--seeds", type=_sizes, default=list(d["seeds"]), help="seeds of the references trained here")
    p.add_argument("--epochs", type=_positive, default=d["epochs"], help="training epochs of each reference")
    p.add_argument("-n", type=_positive, default=d["n"], help="white-noise images per model")
    p.add_argument("--local-n", type=_positive, default=d["local_n"], help="local-noise trials per model")
    p.add_argument(
        "--window", type=_positive, help="side of the local-noise window (default: 30%% of the shorter image side)"
    )
    p.add_argument("--alpha", type=_fraction, default=d["alpha"], help="false-positive rate of the verdict")
    p.add_argument(
        "--causal-images", type=_positive, default=d["causal_images"], help="clean images per class of the causal check"
    )
    p.add_argument(
        "--smooth", type=_positive, default=d["smooth"], help="side of the window scores are summed over (odd)"
    )
    p.add_argument("--figure", help="also draw the scan to this file (.png or .pdf)")


def run_scan(args: argparse.Namespace) -> None:
    from revcor import api

    result, _ = api.scan(
        args.model,
        args.data,
        references=args.references,
        arch=args.arch,
        arch_kwargs=args.arch_kwargs,
        seeds=args.seeds,
        epochs=args.epochs,
        n=args.n,
        local_n=args.local_n,
        window=args.window,
        seed=args.seed,
        smooth=args.smooth,
        alpha=args.alpha,
        causal_images=args.causal_images,
        out=args.out,
        figure=args.figure,
        **_model_settings(args),
    )
    print(f"wrote {args.out}: {summary(result)}")


def add_units(sub: argparse._SubParsersAction) -> None:
    d = DEFAULTS["units"]
    p = sub.add_parser(
        "units",
        help="spike-triggered averages (and STC, activations, injection) of a model's units",
        description="Feed noise to MODEL and compute the STA of every unit of the named layers (layer names as in "
        "the model's named_modules()), and optionally whitened STAs, STC, layer activations and injection.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _common(
        p,
        "HDF5 file of the STAs and the rest",
        seed=d["seed"],
        device=d["device"],
        data="real images for activations and structured noise: " + DATA,
    )
    p.add_argument("--layers", type=_names, required=True, help="comma-separated layers, e.g. conv1,conv2")
    p.add_argument(
        "--noise", choices=D.NOISE_KINDS, default=d["noise"], help="the noise (structured kinds fitted on DATA)"
    )
    p.add_argument("-n", type=_positive, default=d["n"], help="noise images")
    p.add_argument("--whiten", type=_names, default=list(d["whiten"]), help="layers whose STA is also whitened (Eq. 5)")
    p.add_argument("--stc", type=_units, default=list(d["stc"]), help="units for STC, layer:channel,... e.g. conv1:0")
    p.add_argument(
        "--activations",
        type=_names,
        default=list(d["activations"]),
        help="layers whose mean activations per class to keep",
    )
    p.add_argument(
        "--inject", type=_names, default=list(d["inject"]), help="layers (or input) to inject class activations at"
    )


def run_units(args: argparse.Namespace) -> None:
    from revcor import api

    api.units(
        args.model,
        args.data,
        args.out,
        layers=args.layers,
        noise=args.noise,
        n=args.n,
        seed=args.seed,
        whiten=args.whiten,
        stc=args.stc,
        activations=args.activations,
        inject=args.inject,
        **_model_settings(args),
    )
    print(f"wrote {args.out}")


def add_attack(sub: argparse._SubParsersAction) -> None:
    d = DEFAULTS["attack"]
    p = sub.add_parser(
        "attack",
        help="the bias maps as a hard-label attack on the model",
        description="Compute MODEL's bias maps from noise, then add each class's map (and the data's mean image "
        "of the class) to noise and to every test image with weight gamma, and measure how often MODEL then "
        "says that class (only its labels are used).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _common(
        p,
        "HDF5 file of the attack rates and example stimuli",
        seed=d["seed"],
        device=d["device"],
        data="the test images attacked: " + DATA,
    )
    p.add_argument("-n", type=_positive, default=d["n"], help="noise images for the bias maps")
    p.add_argument("--gammas", type=_numbers, default=list(d["gammas"]), help="weights of the template")
    p.add_argument("--noise-samples", type=_positive, default=d["noise_samples"], help="noise images attacked")


def run_attack(args: argparse.Namespace) -> None:
    from revcor import api

    result = api.attack(
        args.model,
        args.data,
        args.out,
        n=args.n,
        gammas=args.gammas,
        noise_samples=args.noise_samples,
        seed=args.seed,
        **_model_settings(args),
    )
    print(f"wrote {args.out}")
    for kind, rates in result["mean"].items():
        print(
            f"  {kind:>14}: mean target rate {', '.join(f'{r:.2f}' for r in rates)} (gamma {', '.join(map(str, result['gammas']))})"
        )


def add_microstim(sub: argparse._SubParsersAction) -> None:
    d = DEFAULTS["microstim"]
    p = sub.add_parser(
        "microstim",
        help="microstimulation: psychometric curves with raised or lowered layer biases",
        description="Raise or lower the biases of MODEL's named layers in proportion to their units' activity "
        "(Eq. 6) and measure psychometric curves of signal+noise stimuli, with fitted functions.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _common(p, "HDF5 file of the hits and fits", seed=d["seed"], device=d["device"], data="the signal images: " + DATA)
    p.add_argument("--layers", type=_lambdas, required=True, help="layer=lambda,... e.g. conv1=0.1")
    p.add_argument("--ks", type=_numbers, default=list(d["ks"]), help="stimulation strengths (with 0)")
    p.add_argument("--classes", type=_sizes_or_zero, default=d["classes"], help="target classes (default: all)")
    p.add_argument("--gammas", type=_numbers, default=list(d["gammas"]), help="signal weights of the stimuli")
    p.add_argument("--bootstrap", type=int, default=d["bootstrap"], help="bootstrap refits of each psychometric fit")
    p.add_argument("-n", type=_positive, default=d["n"], help="stimuli per gamma")


def run_microstim(args: argparse.Namespace) -> None:
    from revcor import api

    api.microstim(
        args.model,
        args.data,
        args.out,
        layers=args.layers,
        ks=args.ks,
        classes=args.classes,
        gammas=args.gammas,
        bootstrap=args.bootstrap,
        n=args.n,
        seed=args.seed,
        **_model_settings(args),
    )
    print(f"wrote {args.out}")


def add_init(sub: argparse._SubParsersAction) -> None:
    d = DEFAULTS["init"]
    p = sub.add_parser(
        "init",
        help="write a workflow config for your model and data",
        description="Check MODEL against DATA and write a commented config.yaml that runs every analysis that "
        "applies to them: `snakemake --cores all`, then `snakemake --report report.html`.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _model_arguments(p)
    p.add_argument("--data", required=True, help=DATA)
    p.add_argument("--name", help="the dataset's name in the config (default: from DATA)")
    p.add_argument("-n", type=_positive, default=d["n"], help="white-noise images per experiment")
    p.add_argument("--out", default=d["out"], help="the config file to write")


def run_init(args: argparse.Namespace) -> None:
    from revcor import api

    api.init(
        args.model,
        args.data,
        args.out,
        name=args.name,
        n=args.n,
        state_dict=args.state_dict,
        normalize=args.normalize,
        outputs=args.outputs,
        output_key=args.output_key,
    )
    print(f"wrote {args.out}; run every analysis with: snakemake --cores all --configfile {args.out}")


COMMANDS = {
    "images": (add_images, run_images),
    "scan": (add_scan, run_scan),
    "units": (add_units, run_units),
    "attack": (add_attack, run_attack),
    "microstim": (add_microstim, run_microstim),
    "init": (add_init, run_init),
}


def parser() -> argparse.ArgumentParser:
    """The ``revcor`` argument parser."""
    p = argparse.ArgumentParser(prog="revcor", description="White-noise analysis of neural networks.")
    p.add_argument("--version", action="version", version=f"revcor {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(sub)
    return p


def _names(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated names")
    return names


def _units(text: str) -> list[dict]:
    try:
        return [{"layer": u.split(":")[0], "channel": int(u.split(":")[1])} for u in _names(text)]
    except (IndexError, ValueError):
        raise argparse.ArgumentTypeError(f"expected layer:channel,... such as conv1:0; got {text!r}") from None


def _lambdas(text: str) -> dict[str, float]:
    try:
        return {k.strip(): float(v) for k, v in (item.split("=") for item in _names(text))}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layer=lambda,... such as conv1=0.1; got {text!r}") from None


def _numbers(text: str) -> list[float]:
    try:
        return [float(v) for v in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _sizes_or_zero(text: str) -> list[int]:
    try:
        values = [int(v) for v in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated class indices, got {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"class indices are 0 or more, got {text!r}")
    return values


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"width\": 8}}': {e}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _percent(shares: list[float]) -> str:
    """The mean of ``shares`` as a percentage ('none' for no shares)."""
    return f"{100 * sum(shares) / len(shares):.0f}% on average" if shares else "none"


def summary(result: dict) -> str:
    """A scan's result in a few lines: the verdict and why, the target, the location and its causal check."""
    loc, causal = result["location"], result["causal"]
    lines = [
        f"{result['verdict'].upper()} (p = {result['p_value']:.2g} against {result['references']} references, "
        f"alpha {result['alpha']:g}): {result['reason']}"
    ]
    lines.append("evidence: " + "; ".join(f"{k} p = {e['p_value']:.2g}" for k, e in result["evidence"].items()))
    target = f"suspected target {result['target_class']!r}"
    if loc["box"] is None:
        lines.append(f"{target}; no location (no local-noise map of that class)")
    else:
        top, left, bottom, right = loc["box"]
        pattern, noise = causal["pattern"], causal["noise"]
        lines.append(
            f"{target} at rows {top}-{bottom - 1}, cols {left}-{right - 1} (p = {loc['p_value']:.2g}); pasted there, "
            f"its pattern makes the model answer {result['target_class']!r} for {100 * pattern['box']:.0f}% of "
            f"{causal['images']} clean images (elsewhere {_percent(pattern['elsewhere'])}, references "
            f"{_percent(pattern['references'])}), binary noise for {100 * noise['box']:.0f}% (elsewhere "
            f"{_percent(noise['elsewhere'])}, references {_percent(noise['references'])})"
        )
    return "\n  ".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: the process's); the exit code."""
    D.share_cpu()  # before anything loads torch
    args = parser().parse_args(argv)
    try:
        COMMANDS[args.command][1](args)
    except RevcorError as e:  # anything else is a bug: its traceback is printed
        print(f"revcor: error: {e}", file=sys.stderr)
        return 2
    return 0


def run() -> NoReturn:
    """The ``revcor`` console script and ``python -m revcor``: :func:`main`, then exit without
    tearing the interpreter down, after the exit handlers ran and the output is flushed (after a
    compiled run, freeing torch.compile's objects one by one takes a second or more)."""
    code = main()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
