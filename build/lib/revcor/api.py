"""Classification images of any model, without a workflow.

>>> import revcor
>>> stats = revcor.classification_images("model.pt", n=100_000, seed=0)   # doctest: +SKIP
>>> revcor.save_maps(stats, "maps.h5", model="model.pt", test_data="data/mnist.h5")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from revcor.analyses import detection, localnoise
from revcor.base.config import ConfigError, defaults, validate
from revcor.base.device import dtype as precision_dtype
from revcor.base.device import resolve
from revcor.core import engine, evaluate, maps, nulls, significance
from revcor.core.reduce import Reducer, reduce_chunk
from revcor.core.stats import AUTO, Layout, Stats, kept, rounds
from revcor.data import datasets
from revcor.models import architectures, classify, given, loading, specs
from revcor.models.train import train as train_model
from revcor.noise import sources
from revcor.noise.rng import backend
from revcor.pipeline.standalone import SCHEMA


def _as_model(
    model: nn.Module | str | Path,
    state_dict: str | Path | None,
    device: torch.device,
    normalize: dict | None = None,
    outputs: str = "logits",
) -> loading.LoadedModel:
    if isinstance(model, nn.Module):
        module = loading.wrap(model, normalize, outputs).to(device).eval()
        return loading.LoadedModel(module, None, None, type(model).__name__, {})
    return loading.load(str(model), state_dict=state_dict, device=device, normalize=normalize, outputs=outputs)


def classification_images(
    model: nn.Module | str | Path,
    n: int | str,
    *,
    max_n: int = 1_000_000,
    target: dict | None = None,
    seed: int = 0,
    input_shape: tuple[int, int, int] | None = None,
    state_dict: str | Path | None = None,
    noise_spec: dict | None = None,
    generator: str | Path | None = None,
    storage: str = "uint8",
    classes: list[str] | None = None,
    checkpoints: list[int] | tuple[int, ...] = (),
    device: str = "auto",
    precision: str = "fp32",
    batch_size: int = 256,
    chunk_size: int = 65536,
    threshold: float = 0.9,
    normalize: dict | None = None,
    outputs: str = "logits",
    compile: bool | str = "auto",
    progress: bool = True,
) -> Stats:
    """Feed ``n`` noise images to ``model`` and reduce its answers to sufficient statistics.

    ``model`` is an ``nn.Module`` or anything :func:`revcor.models.loading.load` accepts (a revcor
    model file, TorchScript, a ``torch.export`` program, or ``package.module:factory`` with
    ``state_dict``). The input shape is taken from the model when it records one, else from
    ``input_shape``. Structured noise (``noise_spec`` of kind gabor, ae or vae) reads its fitted
    ``generator`` artifact. ``normalize`` ({mean, std} per channel) is applied to the inputs of a
    model trained on normalised images; ``outputs="probabilities"`` declares a model that ends
    in a softmax (its log-probabilities are used). Nothing is stored; memory does not grow
    with ``n``.

    ``n="auto"`` draws noise in rounds (one chunk, then doubling, at most ``max_n``) until
    every class with at least ``target["min_count"]`` (1,000) samples has a split-half
    reliability of at least ``target["reliability"]`` (0.9); the statistics then end at the n
    reached (their ``n``), with a checkpoint at every round.

    ``compile`` (True, False or ``"auto"``: for at least 500,000 images) runs the model's
    forward pass through ``torch.compile``; the answers are the same (see
    :func:`revcor.core.engine.compile_mode`).
    """
    auto = n == AUTO
    sizes = (("max_n", max_n),) if auto else (("n", n),)
    for what, value in (*sizes, ("batch_size", batch_size), ("chunk_size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{what} must be a positive integer{' or auto' if what == 'n' else ''}, got {value!r}")
    if compile not in (True, False, "auto") or not isinstance(compile, (bool, str)):
        raise ConfigError(f"compile must be True, False or 'auto', got {compile!r}")
    goal = validate({"experiments": {"api": {"model": "api/model", "target": target or {}}}}, SCHEMA)
    goal = goal["experiments"]["api"]["target"]
    dev = resolve(device)
    loaded = _as_model(model, state_dict, dev, normalize, outputs)
    shape = tuple(input_shape) if input_shape else loaded.in_shape
    if shape is None:
        raise specs.ModelError(
            f"the input shape of {loaded.source} is unknown: give input_shape=(C, H, W) (on the command line --input-shape C,H,W)"
        )
    n_logits = loading.check_fits(loaded.module, shape, loaded.num_classes, loaded.source)
    names = list(classes) if classes else loaded.class_names(n_logits)
    if len(names) != max(n_logits, 2):
        raise specs.ModelError(f"{len(names)} class names given for a model with {n_logits} outputs")
    loaded.module.to(precision_dtype(precision))
    src = sources.make({**(noise_spec or {}), "storage": storage}, shape, generator)
    total = max_n if auto else n
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
    reached = total
    for chunk in chunks:
        if chunk.start == 0:
            given.check_logits(chunk.logits, loaded.source)
        reduce_chunk(reducer, src, chunk.start, chunk.stored, chunk.logits)
        end = chunk.start + len(chunk.logits)
        if end in ends and end < total and maps.meets_target(maps.class_maps(reducer.result(), end), goal):
            reached = end
            break
    return reducer.result(
        {
            "model": loaded.source,
            "seed": seed,
            "n": reached,
            **({"max_n": max_n, "target": goal} if auto else {}),
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
    device: str = "auto",
    normalize: dict | None = None,
    outputs: str = "logits",
    attrs: dict | None = None,
    statistics: dict | None = None,
    progress: bool = False,
) -> dict | None:
    """Write classification images (and, given ``test_data``, template accuracy) to HDF5,
    with their significant pixels, InfoVal and reliability.

    ``model`` (with ``normalize`` and ``outputs`` as in :func:`classification_images`) labels
    the maps fed back as images; ``attrs`` are stored with the maps. ``test_data`` is a revcor
    dataset file (``data/{dataset}.h5``); the template-classifier result is returned and
    stored as the ``template_accuracy`` attribute. ``statistics`` overrides the workflow's
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
    module = _as_model(model, state_dict, dev, normalize, outputs).module if model is not None else None
    result, attrs = None, dict(attrs or {})
    if test_data is not None:
        test = datasets.load(test_data, "test")
        result = evaluate.template_accuracy(
            maps.class_maps(stats)["maps"], test.images.astype("float64") / 255, test.labels
        )
        attrs |= {"template_accuracy": result, "test_data": str(test_data)}
    feedback = None if module is None else lambda m: classify.feed_back(module, m, dev)
    maps.write(stats, out, feedback=feedback, attrs=attrs, tests=tests)
    return result


SCAN = defaults("scans", model="model")  # the schema's scan settings, the defaults of :func:`scan`


def probe(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    *,
    n: int = SCAN["n"],
    local_n: int = SCAN["local"]["n"],
    window: int | None = None,
    seed: int = 0,
    device: str = "auto",
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
    seeds: list[int] | tuple[int, ...] = tuple(SCAN["references"]["seeds"]),
    epochs: int = 5,
    n: int = SCAN["n"],
    local_n: int = SCAN["local"]["n"],
    window: int | None = None,
    seed: int = 0,
    smooth: int = SCAN["smooth"],
    alpha: float = SCAN["alpha"],
    causal_images: int = SCAN["causal_images"],
    state_dict: str | Path | None = None,
    normalize: dict | None = None,
    outputs: str = "logits",
    device: str = "auto",
    progress: bool = True,
) -> tuple[dict, dict[str, np.ndarray]]:
    """Scan ``model`` for a backdoor against clean reference models of the same architecture:
    the files ``references``, or models of ``arch`` (a revcor architecture, ``torchvision:NAME``
    or ``factory:module:function`` with ``arch_kwargs``) trained here for ``epochs`` on the
    dataset file ``data`` with ``seeds``. For a ``package.module:factory`` model (with
    ``state_dict``), ``references`` are weight files of the same factory; references get the
    model's ``normalize`` and ``outputs``.

    Every model is probed alike (:func:`probe` on ``data``'s test images, the same noise for
    all) and the model is judged by :func:`revcor.analyses.detection.examine`: the verdict
    (clean, suspect at ``alpha``, or inconclusive with fewer than 3 references), its p-value,
    the evidence of each score, the target, the trigger's location and its causal check
    (``causal_images`` per class). Returns that result with what was compared, and the
    arrays of its figure.
    """
    train, test = datasets.load(data, "train"), datasets.load(data, "test")
    shape, classes = tuple(int(s) for s in test.images.shape[1:]), test.classes
    dev = resolve(device)
    loaded = _as_model(model, state_dict, dev, normalize, outputs)
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
        ref = loading.load(spec[0], state_dict=spec[1], device=dev, normalize=normalize, outputs=outputs).module
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
    return result, arrays
