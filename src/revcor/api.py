"""Every analysis of any model, without a workflow: the front door of the library, which the
command line only parses arguments for.

>>> from revcor import api
>>> summary = api.images("model.pt", "maps.h5", n=100_000, test_data="data.npz")   # doctest: +SKIP
>>> result, arrays = api.scan("model.pt", "data.npz", arch="mnist_cnn")   # doctest: +SKIP

:func:`images` (classification images), :func:`units` (spike-triggered analyses of layers),
:func:`attack` (the bias maps as a hard-label attack), :func:`microstim` (microstimulation),
:func:`scan` (a backdoor verdict) and :func:`init` (a workflow config); the building blocks
:func:`classification_images`, :func:`save_maps` and :func:`probe`. Every default is the
workflow schema's (``src/revcor/base/config.schema.yaml``).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from revcor.analyses import detection, localnoise
from revcor.base import store
from revcor.base.config import SCHEMA, ConfigError, validate
from revcor.base.defaults import (
    ATTACK,
    DEVICE,
    ENGINE,
    EXPERIMENT,
    MICROSTIM,
    NOISE_KINDS,
    PRECISION,
    SCAN,
    STATISTICS,
    TRAINING,
    UNITS,
)
from revcor.base.device import check_chunk_memory, engine_settings, resolve
from revcor.base.device import dtype as precision_dtype
from revcor.base.device import precision as resolve_precision
from revcor.core import engine, evaluate, maps, nulls, significance
from revcor.core.reduce import Reducer, reduce_chunk
from revcor.core.stats import AUTO, Layout, Stats, kept, rounds
from revcor.data import datasets
from revcor.models import architectures, classify, given, loading, specs
from revcor.models.train import train as train_model
from revcor.noise import sources
from revcor.noise.kinds import GENERATED
from revcor.noise.rng import backend
from revcor.pipeline import init as init_step
from revcor.pipeline import standalone

log = logging.getLogger(__name__)
MAX_SEED = 2**63 - 1


def _as_model(
    model: nn.Module | str | Path,
    state_dict: str | Path | None,
    device: torch.device,
    normalize: dict | None = None,
    outputs: str = "logits",
    output_key: str | None = None,
) -> loading.LoadedModel:
    if isinstance(model, nn.Module):
        module = loading.wrap(model, normalize, outputs, output_key).to(device).eval()
        return loading.LoadedModel(module, None, None, type(model).__name__, {})
    return loading.load(
        str(model), state_dict=state_dict, device=device, normalize=normalize, outputs=outputs, output_key=output_key
    )


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer from 0 to 2**63-1, got {seed!r}")


def _check_normalize(normalize: dict | None, shape: tuple[int, ...]) -> None:
    if normalize and not len(normalize["mean"]) == len(normalize["std"]) == shape[0]:
        raise ConfigError(
            f"normalize gives {len(normalize['mean'])} means and {len(normalize['std'])} stds, but the images have "
            f"{shape[0]} channel{'s' * (shape[0] != 1)}: give one mean and one std per channel"
        )


def _read(data: str | Path, *splits: str) -> list[datasets.Split]:
    """``splits`` of data given in any form (:func:`revcor.data.datasets.from_any`), in memory."""
    with tempfile.TemporaryDirectory(prefix="revcor-data-") as work:
        path = datasets.from_any(data, work)
        return [datasets.load(path, split) for split in splits]


def _check_out(out: str | Path, suffixes: tuple[str, ...] = ()) -> Path:
    """``out`` as a path where a result can be written: checked before any work."""
    out = Path(out)
    if out.is_dir():
        raise ConfigError(
            f"output {out} is a folder; give a file name (e.g. {out / ('result' + (suffixes or ('',))[0])})"
        )
    if suffixes and out.suffix.lower() not in suffixes:
        raise ConfigError(f"output {out} should end in {' or '.join(suffixes)}")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(f"the folder of output {out} does not exist; create {parent} first")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"cannot write output {out}: the folder {parent} is not writable")
    return out


def classification_images(
    model: nn.Module | str | Path,
    n: int | str = EXPERIMENT["n"],
    *,
    max_n: int = EXPERIMENT["max_n"],
    target: dict | None = None,
    seed: int = EXPERIMENT["seed"],
    input_shape: tuple[int, int, int] | None = None,
    state_dict: str | Path | None = None,
    noise_spec: dict | None = None,
    generator: str | Path | None = None,
    storage: str = ENGINE["storage"],
    classes: list[str] | None = None,
    checkpoints: Sequence[int] | None = None,
    device: str = DEVICE,
    precision: str = PRECISION,
    batch_size: int | str = ENGINE["batch_size"],
    chunk_size: int | str = ENGINE["chunk_size"],
    threshold: float = ENGINE["threshold"],
    normalize: dict | None = None,
    outputs: str = "logits",
    output_key: str | None = None,
    compile: bool | str = ENGINE["compile"],
    progress: bool = True,
) -> Stats:
    """Feed ``n`` noise images to ``model`` and reduce its answers to sufficient statistics.

    ``model`` is an ``nn.Module`` or anything :func:`revcor.models.loading.load` accepts (a revcor
    model file, TorchScript, a ``torch.export`` program, an ONNX model, or
    ``package.module:factory`` with ``state_dict``). The input shape is taken from the model when
    it records one, else from ``input_shape``. Structured noise (``noise_spec`` of kind gabor, ae
    or vae) reads its fitted ``generator`` artifact. ``normalize`` ({mean, std} per channel) is
    applied to the inputs of a model trained on normalised images; ``outputs="probabilities"``
    declares a model that ends in a softmax (its log-probabilities are used); ``output_key``
    says where the logits are when the model returns more than a tensor. Nothing is stored;
    memory does not grow with ``n``.

    ``n="auto"`` draws noise in rounds (one chunk, then doubling, at most ``max_n``) until
    every class with at least ``target["min_count"]`` samples has a split-half reliability of
    at least ``target["reliability"]``; the statistics then end at the n reached (their ``n``;
    ``attrs["reached"]`` says whether the target was met), with a checkpoint at every round.
    ``checkpoints`` (default: the schema's, those below ``n``) are prefix sizes also kept; one
    given beyond ``n`` is an error.

    ``batch_size`` and ``chunk_size`` ``"auto"`` suit the device; ``precision="auto"`` is bf16
    on a GPU that supports it; ``compile`` (True, False or ``"auto"``: for at least 500,000
    images) runs the model's forward pass through ``torch.compile`` with the same answers (see
    :func:`revcor.core.engine.compile_mode`).
    """
    auto = n == AUTO
    sizes = (("max_n", max_n),) if auto else (("n", n),)
    for what, value in (*sizes, ("batch_size", batch_size), ("chunk_size", chunk_size)):
        if value == "auto" and what in ("batch_size", "chunk_size"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{what} must be a positive integer{' or auto' if what == 'n' else ''}, got {value!r}")
    if compile not in (True, False, "auto") or not isinstance(compile, (bool, str)):
        raise ConfigError(f"compile must be True, False or 'auto', got {compile!r}")
    _check_seed(seed)
    total = max_n if auto else n
    if checkpoints is None:
        checkpoints = [c for c in EXPERIMENT["checkpoints"] if c < total]
    elif beyond := [c for c in checkpoints if c > total]:
        raise ConfigError(
            f"checkpoints {', '.join(map(str, beyond))} lie beyond the {total:,} images drawn"
            f"{' (max_n)' if auto else ''}; give checkpoints below it, or draw more"
        )
    goal = validate({"experiments": {"api": {"model": "api/model", "target": target or {}}}}, SCHEMA)
    goal = goal["experiments"]["api"]["target"]
    dev = resolve(device)
    precision = resolve_precision(precision, dev)
    loaded = _as_model(model, state_dict, dev, normalize, outputs, output_key)
    shape = tuple(input_shape) if input_shape else loaded.in_shape
    if shape is None:
        raise specs.ModelError(
            f"the input shape of {loaded.source} is unknown: give input_shape=(C, H, W) (on the command line --input-shape C,H,W)"
        )
    _check_normalize(normalize, shape)
    n_logits = loading.check_fits(loaded.module, shape, loaded.num_classes, loaded.source)
    names = list(classes) if classes else loaded.class_names(n_logits)
    if len(names) != max(n_logits, 2):
        raise specs.ModelError(f"{len(names)} class names given for a model with {n_logits} outputs")
    loaded.module.to(precision_dtype(precision))
    src = sources.make({**(noise_spec or {}), "storage": storage}, shape, generator)
    sample_bytes = int(np.prod(shape)) * sources.STORAGE_DTYPES[storage].itemsize
    sizes = engine_settings({"batch_size": batch_size, "chunk_size": chunk_size}, dev, sample_bytes)
    batch_size, chunk_size = sizes["batch_size"], sizes["chunk_size"]
    check_chunk_memory(chunk_size, sample_bytes, dev)
    cps = kept({"n": n, "max_n": max_n, "checkpoints": list(checkpoints)}, chunk_size)
    ends = set(rounds(max_n, chunk_size)) if auto else set()
    reducer = Reducer(Layout(names), shape, n_logits, cps, 0, total, dev, threshold)
    compiled = engine.compile_mode(loaded.module, compile, total, dev)
    chunks = engine.run(
        loaded.module,
        src,
        n=total,
        seed=seed,
        chunk_size=chunk_size,
        chunks=range(engine.n_chunks(total, chunk_size)),
        batch_size=batch_size,
        device=dev,
        dtype=precision_dtype(precision),
        compiled=compiled,
        progress=progress,
    )
    reached, met = total, False
    for chunk in chunks:
        if chunk.start == 0:
            given.check_logits(chunk.logits, loaded.source)
        reduce_chunk(reducer, src, chunk.start, chunk.stored, chunk.logits)
        end = chunk.start + len(chunk.logits)
        if end in ends and maps.meets_target(maps.class_maps(reducer.result(), end), goal):
            reached, met = end, True
            break
    return reducer.result(
        {
            "model": loaded.source,
            "seed": seed,
            "n": reached,
            **({"max_n": max_n, "target": goal, "reached": met} if auto else {}),
            "rng": backend(dev),
            "noise": src.describe(),
            "noise_spec": {**(noise_spec or {}), "storage": storage},
            "generator": None if generator is None else str(generator),
            "input_shape": list(shape),
            "precision": precision,
            "compiled": compiled or "eager",
        }
    ).truncated(reached)


def save_maps(
    stats: Stats,
    out: str | Path,
    *,
    model: nn.Module | str | Path | None = None,
    state_dict: str | Path | None = None,
    test_data: str | Path | None = None,
    device: str = DEVICE,
    normalize: dict | None = None,
    outputs: str = "logits",
    output_key: str | None = None,
    attrs: dict | None = None,
    statistics: dict | None = None,
    progress: bool = False,
) -> dict | None:
    """Write classification images (and, given ``test_data``, template accuracy) to HDF5,
    with their significant pixels, InfoVal and reliability.

    ``model`` (with ``normalize``, ``outputs`` and ``output_key`` as in
    :func:`classification_images`) labels the maps fed back as images; ``attrs`` are stored
    with the maps. ``test_data`` is data in any form (:func:`revcor.data.datasets.from_any`);
    the template-classifier result is returned and stored as the ``template_accuracy``
    attribute. ``statistics`` overrides the workflow's
    ``statistics`` settings (alpha, method, cluster_threshold, replicates, null_maps,
    null_draws, seed); the null maps are drawn from the noise source that ``stats`` records
    (its generator file must still exist).
    """
    dev = resolve(device)
    settings = validate({"statistics": statistics or {}}, SCHEMA)["statistics"]
    spec = stats.attrs["noise_spec"]
    source = sources.make(spec, tuple(stats.attrs["input_shape"]), stats.attrs["generator"], dev)
    bank = nulls.null_bank(source, settings, device=dev, progress=progress)
    tests = significance.NullTest.from_settings(bank, settings, spec.get("kind", "white"))
    module = _as_model(model, state_dict, dev, normalize, outputs, output_key).module if model is not None else None
    result, attrs = None, dict(attrs or {})
    if test_data is not None:
        (test,) = _read(test_data, "test")
        result = evaluate.template_accuracy(
            maps.class_maps(stats)["maps"], test.images.astype("float64") / 255, test.labels
        )
        attrs |= {"template_accuracy": result, "test_data": str(test_data)}
    feedback = None if module is None else lambda m: classify.feed_back(module, m, dev)
    maps.write(stats, out, feedback=feedback, attrs=attrs, tests=tests)
    return result


def probe(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    *,
    n: int = SCAN["n"],
    local_n: int = SCAN["local"]["n"],
    window: int | None = None,
    seed: int = EXPERIMENT["seed"],
    device: str = DEVICE,
    progress: bool = True,
) -> detection.Probe:
    """What a backdoor scan measures of one model: its white-noise class counts and z-maps
    (``n`` images), and ``local_n`` local-noise trials on the clean uint8 ``images`` (N, C, H,
    W) of classes ``labels`` in a ``window``-pixel window (default: 30% of the image side)."""
    stats = classification_images(
        model, n, seed=seed, input_shape=tuple(images.shape[1:]), classes=classes, device=device, progress=progress
    )
    m = maps.class_maps(stats)
    local = localnoise.run(
        model, images, labels, len(classes), local_n, size=window, seed=seed, device=resolve(device), progress=progress
    )
    return detection.Probe(m["counts"], m["zmaps"], local)


def scan(
    model: nn.Module | str | Path,
    data: str | Path,
    *,
    references: list[str | Path] = (),
    arch: str | None = None,
    arch_kwargs: dict | None = None,
    seeds: Sequence[int] = tuple(SCAN["references"]["seeds"]),
    epochs: int = TRAINING["epochs"],
    n: int = SCAN["n"],
    local_n: int = SCAN["local"]["n"],
    window: int | None = None,
    seed: int = EXPERIMENT["seed"],
    smooth: int = SCAN["smooth"],
    alpha: float = SCAN["alpha"],
    causal_images: int = SCAN["causal_images"],
    state_dict: str | Path | None = None,
    normalize: dict | None = None,
    outputs: str = "logits",
    output_key: str | None = None,
    device: str = DEVICE,
    out: str | Path | None = None,
    figure: str | Path | None = None,
    progress: bool = True,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Scan ``model`` for a backdoor against clean reference models of the same architecture:
    the files ``references``, or models of ``arch`` (a revcor architecture, ``torchvision:NAME``
    or ``factory:module:function`` with ``arch_kwargs``) trained here for ``epochs`` on the
    dataset file ``data`` with ``seeds``. For a ``package.module:factory`` model (with
    ``state_dict``), ``references`` are weight files of the same factory; references get the
    model's ``normalize``, ``outputs`` and ``output_key``. ``data`` is data in any form
    (:func:`revcor.data.datasets.from_any`).

    Every model is probed alike (:func:`probe` on ``data``'s test images, the same noise for
    all) and the model is judged by :func:`revcor.analyses.detection.examine`: the verdict
    (clean, suspect at ``alpha``, or inconclusive with fewer than 3 references), its p-value,
    the evidence of each score, the target, the trigger's location and its causal check
    (``causal_images`` per class). Returns that result with what was compared, and the
    arrays of its figure; writes the result to the JSON file ``out`` and the figure to
    ``figure`` (.png or .pdf) when given.
    """
    _check_seed(seed)
    if out is not None:
        _check_out(out, (".json",))
    if figure is not None:
        _check_out(figure, (".png", ".pdf"))
    train, test = _read(data, "train", "test")
    shape, classes = tuple(int(s) for s in test.images.shape[1:]), test.classes
    dev = resolve(device)
    loaded = _as_model(model, state_dict, dev, normalize, outputs, output_key)
    _check_normalize(normalize, shape)
    loading.check_fits(loaded.module, shape, len(classes), f"model {loaded.source}")
    given.check_outputs(loaded.module, datasets.to_tensor(test.images[:256]), f"model {loaded.source}")
    if references and arch:
        raise ConfigError("give reference model files or an architecture to train references with, not both")
    if not references and not arch:
        raise ConfigError("a scan needs clean reference models: reference files, or an architecture to train them with")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha}")
    refs: list[nn.Module] = []
    factory = state_dict is not None  # then references are weights for the same factory
    for path in references:
        spec = (str(model), path) if factory else (str(path), None)
        ref = loading.load(
            spec[0], state_dict=spec[1], device=dev, normalize=normalize, outputs=outputs, output_key=output_key
        ).module
        loading.check_fits(ref, shape, len(classes), f"reference model {path}")
        refs.append(ref)
    for s in seeds if arch else ():
        torch.manual_seed(s)
        net = architectures.build(arch, shape, len(classes), **(arch_kwargs or {}))
        train_model(
            net,
            train.images,
            train.labels,
            epochs=epochs,
            lr=1e-3,
            batch_size=128,
            seed=s,
            device=dev,
            progress=progress,
        )
        refs.append(net)
    if len(refs) < 2:
        raise ConfigError(
            f"a scan needs at least 2 reference models ({detection.MIN_REFERENCES} or more for a verdict), got {len(refs)}"
        )
    probes = [
        probe(
            m,
            test.images,
            test.labels,
            classes,
            n=n,
            local_n=local_n,
            window=window,
            seed=seed,
            device=device,
            progress=progress,
        )
        for m in [loaded.module, *refs]
    ]
    result, arrays = detection.examine(
        loaded.module,
        refs,
        probes,
        test.images,
        test.labels,
        classes,
        alpha=alpha,
        smooth=smooth,
        per_class=causal_images,
        seed=seed,
        device=dev,
    )
    result |= {
        "model": loaded.source,
        "data": str(data),
        "n": n,
        "local": probes[0].local.attrs,
        "seed": seed,
        "reference_models": [str(r) for r in references] or [f"{arch} trained here, seed {s}" for s in seeds],
    }
    if out is not None:
        store.write_json(out, result)
    if figure is not None:
        from revcor.report.plots import attacks as attack_plots
        from revcor.report.plots import panels

        panels.save(attack_plots.scan(result, arrays), Path(figure).with_suffix(""))
    return result, arrays


def _noise_spec(noise: str, std: float = EXPERIMENT["noise"]["std"]) -> dict:
    if noise not in NOISE_KINDS:
        raise ConfigError(f"noise {noise!r} is not a kind of noise here; allowed: {', '.join(NOISE_KINDS)}")
    if noise == "gaussian":
        return {"kind": "white", "distribution": "gaussian", "std": std}
    return {"kind": noise}


def images(
    model: nn.Module | str | Path,
    out: str | Path,
    *,
    n: int | str = EXPERIMENT["n"],
    max_n: int = EXPERIMENT["max_n"],
    reliability: float = EXPERIMENT["target"]["reliability"],
    min_count: int = EXPERIMENT["target"]["min_count"],
    noise: str = EXPERIMENT["noise"]["kind"],
    std: float = EXPERIMENT["noise"]["std"],
    data: str | Path | None = None,
    test_data: str | Path | None = None,
    seed: int = EXPERIMENT["seed"],
    input_shape: tuple[int, int, int] | None = None,
    classes: list[str] | None = None,
    checkpoints: Sequence[int] | None = None,
    alpha: float = STATISTICS["alpha"],
    null_maps: int = STATISTICS["null_maps"],
    null_draws: int = STATISTICS["null_draws"],
    state_dict: str | Path | None = None,
    normalize: dict | None = None,
    outputs: str = "logits",
    output_key: str | None = None,
    device: str = DEVICE,
    precision: str = PRECISION,
    batch_size: int | str = ENGINE["batch_size"],
    chunk_size: int | str = ENGINE["chunk_size"],
    compile: bool | str = ENGINE["compile"],
    progress: bool = True,
) -> dict:
    """Classification images of ``model`` written to the HDF5 file ``out``: counts, bias maps,
    z-maps, their significant pixels (family-wise error ``alpha``), InfoVal and reliability.

    ``noise`` is white (uniform), gaussian (``std``) or structured noise fitted on ``data``
    (gabor, ae, vae); ``test_data`` (any form) measures the template-classifier accuracy of the
    maps; ``n="auto"`` draws until the maps are reliable (``reliability`` for classes with
    ``min_count`` samples, at most ``max_n``). The other arguments are those of
    :func:`classification_images`. Returns :func:`summary` of what was written.
    """
    out = _check_out(out, (".h5", ".hdf5"))
    _check_seed(seed)
    spec = _noise_spec(noise, std)
    if spec["kind"] in GENERATED and data is None:
        raise ConfigError(f"noise {noise} is fitted on images: give the data to fit it on (--data)")
    dev = resolve(device)
    if test_data is not None:
        _check_test_data(model, test_data, input_shape, state_dict, normalize, outputs, output_key, dev)
    with tempfile.TemporaryDirectory(prefix="revcor-") as tmp:
        work, generator = Path(tmp), None
        if spec["kind"] in GENERATED:
            data_file = datasets.from_any(data, work)
            settings = standalone.entry("experiments", {"model": "cli/model"})["generators"]
            generator = standalone.generator(spec["kind"], settings, data_file, work, dev)
        stats = classification_images(
            model,
            n,
            max_n=max_n,
            target={"reliability": reliability, "min_count": min_count},
            seed=seed,
            input_shape=input_shape,
            state_dict=state_dict,
            noise_spec=spec,
            generator=generator,
            classes=classes,
            checkpoints=checkpoints,
            normalize=normalize,
            outputs=outputs,
            output_key=output_key,
            device=device,
            precision=precision,
            batch_size=batch_size,
            chunk_size=chunk_size,
            compile=compile,
            progress=progress,
        )
        accuracy = save_maps(  # while the generator, whose null maps are drawn, exists
            stats,
            out,
            model=model,
            state_dict=state_dict,
            test_data=test_data,
            device=device,
            normalize=normalize,
            outputs=outputs,
            output_key=output_key,
            statistics={"alpha": alpha, "null_maps": null_maps, "null_draws": null_draws},
            progress=progress,
        )
    return summary(out, accuracy)


def _check_test_data(
    model: nn.Module | str | Path,
    test_data: str | Path,
    input_shape: tuple[int, int, int] | None,
    state_dict: str | Path | None,
    normalize: dict | None,
    outputs: str,
    output_key: str | None,
    dev: torch.device,
) -> None:
    """Fail before any noise is drawn if the test data does not fit the model."""
    (test,) = _read(test_data, "test")
    shape = tuple(int(s) for s in test.images.shape[1:])
    if input_shape and tuple(input_shape) != shape:
        raise specs.ModelError(f"input shape {tuple(input_shape)} differs from the test data's images {shape}")
    _check_normalize(normalize, shape)
    loaded = _as_model(model, state_dict, dev, normalize, outputs, output_key)
    loading.check_fits(loaded.module, shape, len(test.classes), f"model {loaded.source}")
    given.check_outputs(loaded.module, datasets.to_tensor(test.images[:256]), f"model {loaded.source}")


def summary(maps_file: str | Path, accuracy: dict | None = None) -> dict:
    """What a maps file says in brief: per class its count, share, reliability and
    significant pixels; for ``n: auto``, whether the reliability target was reached; the
    template accuracy (``accuracy``) when measured."""
    with h5py.File(maps_file, "r") as f:
        attrs = store.get_attrs(f)
        counts, rel = f["counts"][()], f["reliability"][()]
        sig = f["significant"][()].reshape(len(counts), -1).sum(1) if "significant" in f else None
        pixels = int(np.prod(f["significant"].shape[1:])) if "significant" in f else None
    total = int(counts.sum())
    out = {
        "out": str(maps_file),
        "n": int(attrs["n"]),
        "classes": [
            {
                "name": name,
                "count": int(c),
                "share": float(c / total),
                "reliability": None if not np.isfinite(r) else float(r),
                "significant": None if sig is None else int(s),
            }
            for name, c, r, s in zip(attrs["classes"], counts, rel, sig if sig is not None else counts, strict=True)
        ],
        "pixels": pixels,
        "alpha": attrs.get("significance", {}).get("alpha") if isinstance(attrs.get("significance"), dict) else None,
        "accuracy": accuracy,
    }
    if "target" in attrs:
        out |= {"max_n": int(attrs["max_n"]), "target": attrs["target"], "reached": bool(attrs.get("reached"))}
    empty = [c["name"] for c in out["classes"] if c["count"] == 0]
    if len(empty) == len(counts) - 1:
        only = next(c["name"] for c in out["classes"] if c["count"])
        out["warning"] = (
            f"the model gave every noise image to class {only!r}: no class can be contrasted with another, "
            "so there are no bias maps (all NaN); a model that answers one class whatever it sees may be "
            "broken or backdoored (revcor scan)"
        )
        log.warning(out["warning"])
    return out


def units(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    layers: Sequence[str],
    noise: str = UNITS["noise"]["kind"],
    n: int = UNITS["n"],
    seed: int = UNITS["seed"],
    whiten: Sequence[str] = tuple(UNITS["whiten"]),
    stc: Sequence[dict] = tuple(UNITS["stc"]),
    activations: Sequence[str] = tuple(UNITS["activations"]),
    inject: Sequence[str] = tuple(UNITS["injection"]["layers"]),
    state_dict: str | Path | None = None,
    normalize: dict | None = None,
    outputs: str = "logits",
    output_key: str | None = None,
    device: str = DEVICE,
    progress: bool = True,
) -> None:
    """Spike-triggered averages of every unit of ``layers`` (named as in the model's
    ``named_modules()``) from ``n`` noise images, written to the HDF5 file ``out``; also the
    whitened STAs of ``whiten``, the STC of the units ``stc`` ([{layer, channel}]), the mean
    activations per class of ``activations`` on ``data``'s images, and class activations
    injected at ``inject``. The workflow's ``units`` step, on any model and data."""
    settings = {
        "layers": list(layers),
        "n": n,
        "seed": seed,
        "noise": _noise_spec(noise),
        "whiten": list(whiten),
        "stc": list(stc),
        "activations": list(activations),
        "injection": {"layers": list(inject)},
    }
    _standalone("units", settings, model, data, out, state_dict, normalize, outputs, output_key, device, progress)


def microstim(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    layers: dict[str, float],
    ks: Sequence[float] = tuple(MICROSTIM["ks"]),
    classes: Sequence[int] | None = MICROSTIM["classes"],
    gammas: Sequence[float] = tuple(MICROSTIM["gammas"]),
    bootstrap: int = MICROSTIM["bootstrap"],
    n: int = MICROSTIM["n"],
    seed: int = MICROSTIM["seed"],
    state_dict: str | Path | None = None,
    normalize: dict | None = None,
    outputs: str = "logits",
    output_key: str | None = None,
    device: str = DEVICE,
    progress: bool = True,
) -> None:
    """Microstimulation (Eq. 6): the biases of ``layers`` (layer -> lambda) raised or lowered by
    ``ks`` times their units' activity, and the psychometric curves of ``n`` signal+noise
    stimuli per ``gammas`` for the target ``classes`` (None: all), with fitted functions
    (``bootstrap`` refits), written to the HDF5 file ``out``. The workflow's
    ``microstim`` step, on any model and data."""
    settings = {
        "layers": dict(layers),
        "ks": {layer: list(ks) for layer in layers},
        "classes": None if classes is None else list(classes),
        "gammas": list(gammas),
        "bootstrap": bootstrap,
        "n": n,
        "seed": seed,
    }
    _standalone("microstim", settings, model, data, out, state_dict, normalize, outputs, output_key, device, progress)


def _standalone(
    section: str,
    settings: dict,
    model: str | Path,
    data: str | Path,
    out: str | Path,
    state_dict: str | Path | None,
    normalize: dict | None,
    outputs: str,
    output_key: str | None,
    device: str,
    progress: bool,
) -> None:
    out = _check_out(out, (".h5", ".hdf5"))
    _check_seed(settings["seed"])
    dev = resolve(device)
    with tempfile.TemporaryDirectory(prefix="revcor-") as work:
        standalone.run(
            section,
            settings,
            str(model),
            str(data),
            out,
            Path(work),
            state_dict=None if state_dict is None else str(state_dict),
            normalize=normalize,
            outputs=outputs,
            output_key=output_key,
            device=dev,
            progress=progress,
        )


def attack(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    n: int = EXPERIMENT["n"],
    gammas: Sequence[float] = tuple(ATTACK["gammas"]),
    noise_samples: int = ATTACK["noise_samples"],
    seed: int = ATTACK["seed"],
    state_dict: str | Path | None = None,
    normalize: dict | None = None,
    outputs: str = "logits",
    output_key: str | None = None,
    device: str = DEVICE,
    progress: bool = True,
) -> dict:
    """The bias maps of ``model`` (from ``n`` white-noise images) as a hard-label attack: each
    class's map (and ``data``'s mean image of the class) added with weight gamma (``gammas``)
    to ``noise_samples`` noise images and to every test image, and the share the model then
    calls that class (only its labels are used). Writes the rates and example stimuli to the
    HDF5 file ``out``; returns the rates."""
    out = _check_out(out, (".h5", ".hdf5"))
    _check_seed(seed)
    dev = resolve(device)
    with tempfile.TemporaryDirectory(prefix="revcor-") as tmp:
        work = Path(tmp)
        model_file, data_file = standalone.prepare(
            str(model),
            str(data),
            work,
            state_dict=None if state_dict is None else str(state_dict),
            normalize=normalize,
            outputs=outputs,
            output_key=output_key,
        )
        stats = classification_images(model_file, n, seed=seed, device=device, progress=progress)
        maps_file = work / "maps.h5"
        save_maps(stats, maps_file, model=model_file, device=device, attrs={"experiment": {"model": str(model)}})
        settings = {"seed": seed, "gammas": list(gammas), "noise_samples": noise_samples}
        return standalone.attack(maps_file, model_file, data_file, settings, out, work, device=dev)


def init(
    model: str | Path,
    data: str | Path,
    out: str | Path = "config.yaml",
    *,
    name: str | None = None,
    n: int = EXPERIMENT["n"],
    state_dict: str | Path | None = None,
    normalize: dict | None = None,
    outputs: str = "logits",
    output_key: str | None = None,
) -> str:
    """Check ``model`` against ``data`` and write to ``out`` a commented workflow config that
    runs every analysis that applies to them (``n`` images per experiment; the dataset called
    ``name``, default from ``data``); returns its text. An existing ``out`` is not replaced."""
    if Path(out).exists():
        raise ConfigError(f"{out} exists; remove it or choose another output")
    _check_out(out, (".yaml", ".yml"))
    return init_step.write_config(
        str(model),
        str(data),
        out,
        name=name,
        state_dict=None if state_dict is None else str(state_dict),
        normalize=normalize,
        outputs=outputs,
        output_key=output_key,
        n=n,
    )
