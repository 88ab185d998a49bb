"""Classification images of any model, without a workflow.

>>> import revcor
>>> stats = revcor.classification_images("model.pt", n=100_000, seed=0)   # doctest: +SKIP
>>> revcor.save_maps(stats, "maps.h5", model="model.pt", test_data="data/mnist.h5")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from revcor.base.config import ConfigError
from revcor.base.device import dtype as precision_dtype
from revcor.base.device import resolve
from revcor.core import engine, evaluate, maps, reduce
from revcor.core.reduce import Layout, Reducer, Stats, reduce_chunk
from revcor.data import datasets
from revcor.models import architectures, given, loading
from revcor.noise import sources
from revcor.noise.rng import backend


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
    n: int,
    *,
    seed: int = 0,
    input_shape: tuple[int, int, int] | None = None,
    state_dict: str | Path | None = None,
    noise_spec: dict | None = None,
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
    progress: bool = True,
) -> Stats:
    """Feed ``n`` noise images to ``model`` and reduce its answers to sufficient statistics.

    ``model`` is an ``nn.Module`` or anything :func:`revcor.models.loading.load` accepts (a revcor
    model file, TorchScript, a ``torch.export`` program, or ``package.module:factory`` with
    ``state_dict``). The input shape is taken from the model when it records one, else from
    ``input_shape``. ``normalize`` ({mean, std} per channel) is applied to the inputs of a
    model trained on normalised images; ``outputs="probabilities"`` declares a model that ends
    in a softmax (its log-probabilities are used). Nothing is stored; memory does not grow
    with ``n``.
    """
    for what, value in (("n", n), ("batch_size", batch_size), ("chunk_size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    dev = resolve(device)
    loaded = _as_model(model, state_dict, dev, normalize, outputs)
    shape = tuple(input_shape) if input_shape else loaded.in_shape
    if shape is None:
        raise architectures.ModelError(
            f"the input shape of {loaded.source} is unknown: give input_shape=(C, H, W) (on the command line --input-shape C,H,W)"
        )
    n_logits = loading.check_fits(loaded.module, shape, loaded.num_classes, loaded.source)
    names = list(classes) if classes else loaded.class_names(n_logits)
    if len(names) != max(n_logits, 2):
        raise architectures.ModelError(f"{len(names)} class names given for a model with {n_logits} outputs")
    loaded.module.to(precision_dtype(precision))
    src = sources.make({**(noise_spec or {}), "storage": storage}, shape)
    cps = reduce.checkpoints(n, checkpoints)
    reducer = Reducer(Layout(names), shape, n_logits, cps, 0, n, dev, threshold)
    chunks = engine.run(
        loaded.module,
        src,
        n=n,
        seed=seed,
        chunk_size=chunk_size,
        chunks=range(engine.n_chunks(n, chunk_size)),
        batch_size=batch_size,
        device=dev,
        dtype=precision_dtype(precision),
        progress=progress,
    )
    for chunk in chunks:
        if chunk.start == 0:
            given.check_logits(chunk.logits, loaded.source)
        reduce_chunk(reducer, src, chunk.start, chunk.stored, chunk.logits)
    return reducer.result(
        {
            "model": loaded.source,
            "seed": seed,
            "n": n,
            "rng": backend(dev),
            "noise": src.describe(),
            "precision": precision,
        }
    )


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
) -> dict | None:
    """Write classification images (and, given ``test_data``, template accuracy) to HDF5.

    ``model`` (with ``normalize`` and ``outputs`` as in :func:`classification_images`) labels
    the maps fed back as images. ``test_data`` is a revcor dataset file (``data/{dataset}.h5``); the template-classifier
    result is returned and stored as the ``template_accuracy`` attribute.
    """
    dev = resolve(device)
    module = _as_model(model, state_dict, dev, normalize, outputs).module if model is not None else None
    result, attrs = None, {}
    if test_data is not None:
        test = datasets.load(test_data, "test")
        result = evaluate.template_accuracy(
            maps.class_maps(stats)["maps"], test.images.astype("float64") / 255, test.labels
        )
        attrs = {"template_accuracy": result, "test_data": str(test_data)}
    maps.write(stats, out, model=module, device=dev, attrs=attrs)
    return result
