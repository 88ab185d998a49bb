"""Command line: ``revcor images MODEL ...`` computes classification images of any model,
``revcor scan MODEL --data DATA ...`` scans it for a backdoor, ``revcor init MODEL --data DATA``
writes a workflow config that runs every analysis on them."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from revcor import __version__
from revcor.base.config import defaults
from revcor.base.errors import RevcorError

# Each command imports the library (and so torch) when it runs: usage errors and --help are instant.


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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="revcor", description="White-noise analysis of neural networks.")
    p.add_argument("--version", action="version", version=f"revcor {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    im = sub.add_parser(
        "images",
        help="classification images (bias maps) of a model from white noise",
        description="Feed white noise to MODEL, average the noise by the class the model gives "
        "it, and write counts, bias maps and their significance to an HDF5 file.",
    )
    _model_arguments(im)
    im.add_argument(
        "--noise",
        default="white",
        choices=NOISE_KINDS,
        help="uniform white noise on [0,1]; Gaussian (mean 0.5, --std) clipped to it; or noise with natural image "
        "structure (Gabor-PCA, autoencoder, VAE) fitted on the training images of --data",
    )
    im.add_argument("--data", help="for gabor, ae and vae noise: the data to fit the generator on (any form, see scan)")
    im.add_argument("--std", type=_positive_float, default=0.25, help="standard deviation of Gaussian noise")
    im.add_argument(
        "-n",
        type=_n_or_auto,
        default=100_000,
        help="number of noise images (default 100000), or auto: draw until the maps are reliable (see --max-n)",
    )
    im.add_argument(
        "--max-n", type=_positive, default=1_000_000, help="with -n auto: at most this many (default 1000000)"
    )
    im.add_argument(
        "--reliability",
        type=_fraction,
        default=0.9,
        help="with -n auto: the split-half reliability every class with --min-count samples must reach (default 0.9)",
    )
    im.add_argument(
        "--min-count", type=_positive, default=1000, help="with -n auto: classes with fewer samples are not judged"
    )
    im.add_argument("--seed", type=int, default=0)
    im.add_argument("--input-shape", type=_shape, help="C,H,W when the model does not record it")
    im.add_argument("--classes", help="comma-separated class names")
    im.add_argument(
        "--test-data",
        help="a revcor dataset file (data/NAME.h5) to measure the template-classifier accuracy of the maps on",
    )
    im.add_argument("--checkpoints", type=_sizes, default=[], help="comma-separated prefix sizes to keep too")
    im.add_argument(
        "--alpha", type=_fraction, default=0.05, help="family-wise error rate of the significant pixels (default 0.05)"
    )
    im.add_argument(
        "--null-maps",
        type=_positive,
        default=1000,
        help="null maps drawn from the noise, without the model, for the significance tests (default 1000)",
    )
    im.add_argument(
        "--null-draws", type=_positive, default=512, help="noise images summed into each null map (default 512)"
    )
    im.add_argument("--device", default="auto")
    im.add_argument(
        "--compile",
        choices=["auto", "on", "off"],
        default="auto",
        help="compile the model's forward pass with torch.compile (auto: for -n of at least 500000)",
    )
    im.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    im.add_argument("--batch-size", type=_positive, default=256)
    im.add_argument("--chunk-size", type=_positive, default=65536)
    im.add_argument("--quiet", action="store_true", help="no progress bar")
    im.add_argument("--out", required=True, help="output HDF5 file")

    scan = defaults("scans", model="model")
    sc = sub.add_parser(
        "scan",
        help="scan a model for a backdoor against clean reference models",
        description="Probe MODEL and clean reference models of the same architecture (given as files, or trained "
        "here on DATA) alike with white noise and with local noise on DATA's clean test images, and give a "
        "verdict whose false-positive rate is ALPHA (clean, suspect, or inconclusive with fewer than 3 "
        "references), the suspected target class, the trigger's location and a causal check of it "
        "(docs/backdoor.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    _model_arguments(sc)
    sc.add_argument(
        "--data",
        required=True,
        help="the clean data: a revcor dataset file, an image folder (one sub-folder per class), an arrays file "
        "(.npz, .h5, or images.npy,labels.npy) or torchvision:NAME",
    )
    sc.add_argument(
        "--references", nargs="+", default=[], help="clean reference model files (3 or more; 5 recommended)"
    )
    sc.add_argument(
        "--arch", help="train the references here: a revcor architecture, torchvision:NAME or factory:module:function"
    )
    sc.add_argument(
        "--arch-kwargs", type=_json_object, default={}, help="JSON arguments of --arch, e.g. '{\"width\": 8}'"
    )
    sc.add_argument(
        "--seeds", type=_sizes, default=scan["references"]["seeds"], help="seeds of the references trained here"
    )
    sc.add_argument("--epochs", type=_positive, default=5, help="training epochs of each reference")
    sc.add_argument("-n", type=_positive, default=scan["n"], help="white-noise images per model")
    sc.add_argument("--local-n", type=_positive, default=scan["local"]["n"], help="local-noise trials per model")
    sc.add_argument(
        "--window", type=_positive, help="side of the local-noise window (None: 30%% of the shorter image side)"
    )
    sc.add_argument("--alpha", type=_fraction, default=scan["alpha"], help="false-positive rate of the verdict")
    sc.add_argument(
        "--causal-images",
        type=_positive,
        default=scan["causal_images"],
        help="clean images per class of the causal check",
    )
    sc.add_argument("--seed", type=int, default=0, help="seed of the noise (the same for every model)")
    sc.add_argument(
        "--smooth", type=_positive, default=scan["smooth"], help="side of the window scores are summed over (odd)"
    )
    sc.add_argument("--device", default="auto")
    sc.add_argument("--quiet", action="store_true", help="no progress bars")
    sc.add_argument("--out", required=True, help="output JSON (verdict, p-value, evidence, target, location, ...)")
    sc.add_argument("--figure", help="also draw the scan to this file (.png or .pdf)")

    un = sub.add_parser(
        "units",
        help="spike-triggered averages (and STC, activations, injection) of a model's units",
        description="Feed noise to MODEL and compute the STA of every unit of the named layers (layer names as in "
        "the model's named_modules()), and optionally whitened STAs, STC, layer activations and injection.",
    )
    _model_arguments(un)
    un.add_argument("--data", required=True, help="the data (any form, see scan): real images for activations")
    un.add_argument("--layers", type=_names, required=True, help="comma-separated layers, e.g. conv1,conv2")
    un.add_argument("--noise", choices=NOISE_KINDS, default="white", help="the noise (structured kinds fitted on DATA)")
    un.add_argument("--whiten", type=_names, default=[], help="layers whose STA is also whitened (Eq. 5)")
    un.add_argument("--stc", type=_units, default=[], help="units for STC, layer:channel,... e.g. conv1:0")
    un.add_argument("--activations", type=_names, default=[], help="layers whose mean activations per class to keep")
    un.add_argument("--inject", type=_names, default=[], help="layers (or input) to inject class activations at")
    _run_arguments(un, 100_000, "HDF5 file of the STAs and the rest")

    at = sub.add_parser(
        "attack",
        help="the bias maps as a hard-label attack on the model",
        description="Compute MODEL's bias maps from noise, then add each class's map (and the data's mean image "
        "of the class) to noise and to every test image with weight gamma, and measure how often MODEL then "
        "says that class (only its labels are used).",
    )
    _model_arguments(at)
    at.add_argument("--data", required=True, help="the data (any form, see scan): the test images attacked")
    at.add_argument("--gammas", type=_numbers, default=None, help="weights of the template (default 0, 0.1, ..., 1)")
    at.add_argument("--noise-samples", type=_positive, default=None, help="noise images attacked (default 10000)")
    _run_arguments(at, 100_000, "HDF5 file of the attack rates and example stimuli")

    ms = sub.add_parser(
        "microstim",
        help="microstimulation: psychometric curves with raised or lowered layer biases",
        description="Raise or lower the biases of MODEL's named layers in proportion to their units' activity "
        "(Eq. 6) and measure psychometric curves of signal+noise stimuli, with fitted functions.",
    )
    _model_arguments(ms)
    ms.add_argument("--data", required=True, help="the data (any form, see scan): the signal images")
    ms.add_argument("--layers", type=_lambdas, required=True, help="layer=lambda,... e.g. conv1=0.1")
    ms.add_argument("--ks", type=_numbers, default=[0.0, 0.05, 0.1], help="stimulation strengths (with 0)")
    ms.add_argument("--classes", type=_sizes_or_zero, default=[0, 1], help="the two classes of the task")
    ms.add_argument("--gammas", type=_numbers, default=None, help="signal weights of the stimuli")
    ms.add_argument("--bootstrap", type=int, help="bootstrap refits of each psychometric fit (default 50)")
    _run_arguments(ms, 1000, "HDF5 file of the hits and fits")

    ini = sub.add_parser(
        "init",
        help="write a workflow config for your model and data",
        description="Check MODEL against DATA and write a commented config.yaml that runs every analysis that "
        "applies to them: `snakemake --cores all`, then `snakemake --report report.html`.",
    )
    _model_arguments(ini)
    ini.add_argument(
        "--data", required=True, help="an image folder, an arrays file, a revcor dataset file or torchvision:NAME"
    )
    ini.add_argument("--name", help="the dataset's name in the config (default: from DATA)")
    ini.add_argument("-n", type=_positive, default=100_000, help="white-noise images per experiment")
    ini.add_argument("--out", default="config.yaml", help="the config file to write (default config.yaml)")
    return p


NOISE_KINDS = ("white", "gaussian", "gabor", "ae", "vae")


def _run_arguments(p: argparse.ArgumentParser, n: int, out: str) -> None:
    p.add_argument("-n", type=_positive, default=n, help=f"noise images (default {n})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, help=out)


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


def _noise(kind: str) -> dict:
    return {"kind": "white", "distribution": "gaussian"} if kind == "gaussian" else {"kind": kind}


def _standalone(section: str, settings: dict, args: argparse.Namespace) -> None:
    from revcor.base.device import resolve
    from revcor.pipeline import standalone

    with tempfile.TemporaryDirectory(prefix="revcor-") as work:
        standalone.run(
            section,
            settings,
            args.model,
            args.data,
            args.out,
            Path(work),
            state_dict=args.state_dict,
            normalize=args.normalize,
            outputs=args.outputs,
            device=resolve(args.device),
            progress=not args.quiet,
        )
    print(f"wrote {args.out}")


def _units_command(args: argparse.Namespace) -> None:
    settings = {
        "layers": args.layers,
        "n": args.n,
        "seed": args.seed,
        "noise": _noise(args.noise),
        "whiten": args.whiten,
        "stc": args.stc,
        "activations": args.activations,
        "injection": {"layers": args.inject},
    }
    _standalone("neurons", settings, args)


def _microstim_command(args: argparse.Namespace) -> None:
    settings = {
        "layers": args.layers,
        "ks": {layer: args.ks for layer in args.layers},
        "classes": args.classes,
        "n": args.n,
        "seed": args.seed,
        **({"bootstrap": args.bootstrap} if args.bootstrap is not None else {}),
        **({"gammas": args.gammas} if args.gammas else {}),
    }
    _standalone("microstimulation", settings, args)


def _attack_command(args: argparse.Namespace) -> None:
    from revcor import api
    from revcor.base.device import resolve
    from revcor.pipeline import standalone

    device = resolve(args.device)
    with tempfile.TemporaryDirectory(prefix="revcor-") as tmp:
        work = Path(tmp)
        model_file, data_file = standalone.prepare(
            args.model, args.data, work, state_dict=args.state_dict, normalize=args.normalize, outputs=args.outputs
        )
        stats = api.classification_images(
            model_file, args.n, seed=args.seed, device=args.device, progress=not args.quiet
        )
        maps = work / "maps.h5"
        api.save_maps(stats, maps, model=model_file, device=args.device, attrs={"experiment": {"model": args.model}})
        settings = {"seed": args.seed}
        settings |= {"gammas": args.gammas} if args.gammas else {}
        settings |= {"noise_samples": args.noise_samples} if args.noise_samples else {}
        result = standalone.attack(maps, model_file, data_file, settings, args.out, work, device=device)
    print(f"wrote {args.out}")
    for kind, rates in result["mean"].items():
        print(
            f"  {kind:>14}: mean target rate {', '.join(f'{r:.2f}' for r in rates)} (gamma {', '.join(map(str, result['gammas']))})"
        )


def _model_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments that say what the model is and how to feed it."""
    p.add_argument(
        "model",
        help="revcor model file, TorchScript file, torch.export program (.pt2), "
        "or package.module:factory (with --state-dict)",
    )
    p.add_argument("--state-dict", help="weights for a package.module:factory model")
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


def _check_test_data(args: argparse.Namespace) -> None:
    """Fail before any noise is drawn if the test data does not fit the model."""
    from revcor.data import datasets
    from revcor.models import given, loading, specs

    test = datasets.load(args.test_data, "test")
    loaded = loading.load(args.model, state_dict=args.state_dict, normalize=args.normalize, outputs=args.outputs)
    shape = tuple(test.images.shape[1:])
    if args.input_shape and tuple(args.input_shape) != shape:
        raise specs.ModelError(f"--input-shape {args.input_shape} differs from the test data's images {shape}")
    loading.check_fits(loaded.module, shape, len(test.classes), f"model {args.model}")
    given.check_outputs(loaded.module, datasets.to_tensor(test.images[:256]), f"model {args.model}")


def _images(args: argparse.Namespace) -> None:
    from revcor import api
    from revcor.base.device import resolve
    from revcor.data import datasets
    from revcor.pipeline import standalone

    if args.test_data:
        _check_test_data(args)
    noise_spec = _noise(args.noise) | ({"std": args.std} if args.noise == "gaussian" else {})
    with tempfile.TemporaryDirectory(prefix="revcor-") as work:
        generator = None
        if args.noise in ("gabor", "ae", "vae"):
            if not args.data:
                raise RevcorError(f"--noise {args.noise} is fitted on images: give --data")
            data = datasets.from_any(args.data, work)
            filled = standalone.entry("experiments", {"model": "cli/model"})
            generator = standalone.generator(args.noise, filled["generators"], data, Path(work), resolve(args.device))
        stats = api.classification_images(
            args.model,
            args.n,
            max_n=args.max_n,
            target={"reliability": args.reliability, "min_count": args.min_count},
            seed=args.seed,
            input_shape=args.input_shape,
            state_dict=args.state_dict,
            noise_spec=noise_spec,
            generator=generator,
            classes=args.classes.split(",") if args.classes else None,
            checkpoints=args.checkpoints,
            normalize=args.normalize,
            outputs=args.outputs,
            device=args.device,
            precision=args.precision,
            batch_size=args.batch_size,
            chunk_size=args.chunk_size,
            compile={"on": True, "off": False}.get(args.compile, "auto"),
            progress=not args.quiet,
        )
        result = api.save_maps(  # while the generator, whose null maps are drawn, exists
            stats,
            args.out,
            model=args.model,
            state_dict=args.state_dict,
            test_data=args.test_data,
            device=args.device,
            normalize=args.normalize,
            outputs=args.outputs,
            statistics={"alpha": args.alpha, "null_maps": args.null_maps, "null_draws": args.null_draws},
            progress=not args.quiet,
        )
    counts = stats["count"][-1, 0, 0]
    reached = stats.attrs["n"]
    how = f" (n auto: the maps were reliable after {reached:,})" if args.n == "auto" and reached < args.max_n else ""
    print(f"wrote {args.out}: {reached} noise images{how}")
    for name, c in zip(stats.layout.responses, counts, strict=False):
        print(f"  class {name:>12}: {int(c):>10} ({100 * c / counts.sum():5.1f}%)")
    if result is not None:
        print(
            f"template-classifier accuracy on {args.test_data}: {100 * result['accuracy']:.2f}% "
            f"(chance {100 / len(counts):.1f}%, {result['empty_classes']} empty classes)"
        )


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"width\": 8}}': {e}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _scan(args: argparse.Namespace) -> None:
    from revcor import api
    from revcor.base import store
    from revcor.data import datasets
    from revcor.report.plots import attacks as attack_plots
    from revcor.report.plots import panels

    with tempfile.TemporaryDirectory(prefix="revcor-data-") as work:
        data = datasets.from_any(args.data, work)
        result, arrays = api.scan(
            args.model,
            data,
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
            state_dict=args.state_dict,
            normalize=args.normalize,
            outputs=args.outputs,
            device=args.device,
            progress=not args.quiet,
        )
    result["data"] = args.data
    store.write_json(args.out, result)
    if args.figure:
        panels.save(attack_plots.scan(result, arrays), Path(args.figure).with_suffix(""))
    print(f"wrote {args.out}: {summary(result)}")


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


def _init(args: argparse.Namespace) -> None:
    from revcor.pipeline import init

    if Path(args.out).exists():
        raise RevcorError(f"{args.out} exists; remove it or choose another --out")
    init.write_config(
        args.model,
        args.data,
        args.out,
        name=args.name,
        state_dict=args.state_dict,
        normalize=args.normalize,
        outputs=args.outputs,
        n=args.n,
    )
    print(f"wrote {args.out}; run every analysis with: snakemake --cores all --configfile {args.out}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``revcor`` console script."""
    args = _parser().parse_args(argv)
    try:
        commands = {"images": _images, "units": _units_command, "microstim": _microstim_command}
        commands |= {"attack": _attack_command}
        commands |= {"scan": _scan, "init": _init}
        commands[args.command](args)
    except RevcorError as e:  # anything else is a bug: its traceback is printed
        print(f"revcor: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
