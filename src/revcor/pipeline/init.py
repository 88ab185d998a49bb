"""``revcor init MODEL --data DATA``: a commented workflow config that runs every analysis
that applies to a user's model and data."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from torch import nn

from revcor.base import store
from revcor.base.defaults import SCAN
from revcor.data import datasets
from revcor.models import given, layers, loading


def data_entry(data: str) -> dict:
    """The ``datasets:`` entry that reads ``data`` (an image folder, an arrays file, a revcor
    dataset file, or ``torchvision:NAME``)."""
    if data.startswith("torchvision:"):
        return {"source": "torchvision", "class_name": data.removeprefix("torchvision:")}
    if "," in data:
        return {"source": "arrays", "path": [str(Path(p).resolve()) for p in data.split(",")]}
    path = Path(data).resolve()
    if path.is_dir():
        return {"source": "folder", "root": str(path)}
    return {"source": "arrays", "path": str(path)}


def model_entry(
    model: str, state_dict: str | None, normalize: dict | None, outputs: str, output_key: str | None = None
) -> dict:
    """The ``models:`` entry of a given model."""
    if state_dict is not None:
        entry = {"factory": model, "state_dict": str(Path(state_dict).resolve())}
    else:
        entry = {"file": str(Path(model).resolve())}
    if normalize:
        entry["normalize"] = normalize
    if outputs != "logits":
        entry["outputs"] = outputs
    if output_key is not None:
        entry["output_key"] = output_key
    return entry


def hookable_layers(module: nn.Module) -> tuple[list[str], list[str], list[str]]:
    """(convolutions, fully connected layers, layers with a bias) of the user's network by
    name, told by their own parameters (also in an unflattened ``torch.export`` program);
    empty when its layers cannot be hooked (TorchScript)."""
    if not layers.hookable(module):
        return [], [], []
    own = {n: dict(m.named_parameters(recurse=False)) for n, m in layers.network(module).named_modules() if n}
    convs = [n for n, p in own.items() if "weight" in p and p["weight"].dim() == 4]
    linears = [n for n, p in own.items() if "weight" in p and p["weight"].dim() == 2]
    biased = [n for n in convs + linears if own[n].get("bias") is not None]
    return convs, linears, biased


def write_config(
    model: str,
    data: str,
    out: str | Path,
    *,
    name: str | None = None,
    state_dict: str | None = None,
    normalize: dict | None = None,
    outputs: str = "logits",
    output_key: str | None = None,
    n: int,
) -> str:
    """Check ``model`` against ``data`` and write a commented config for every analysis that
    applies to them to ``out``; returns its text."""
    entry = data_entry(data)
    dataset = (
        name or re.sub(r"[^A-Za-z0-9_]+", "_", Path(data.split(",")[0]).stem.removeprefix("torchvision:")) or "data"
    )
    with tempfile.TemporaryDirectory(prefix="revcor-init-") as work:
        path = datasets.from_any(data, work)
        test = datasets.load(path, "test")
        if Path(data).suffix.lower() in (".h5", ".hdf5") and Path(data).is_file():
            entry["classes"] = test.classes
        loaded = loading.load(model, state_dict=state_dict, normalize=normalize, outputs=outputs, output_key=output_key)
        shape = tuple(int(s) for s in test.images.shape[1:])
        loading.check_fits(loaded.module, shape, len(test.classes), f"model {model}")
        given.check_outputs(loaded.module, datasets.to_tensor(test.images[:256]), f"model {model}")
    convs, linears, biased = hookable_layers(loaded.module)
    spec = model_entry(model, state_dict, normalize, outputs, output_key)
    checkpoints = [c for c in (1000, 10000) if c < n]
    m = f"{dataset}/model"
    lines = [
        f"# revcor config for {model} on {data}, written by `revcor init`.",
        "# Run every analysis with `snakemake --cores all`, then `snakemake --report report.html`.",
        "# Every key is documented in src/revcor/base/config.schema.yaml.",
        "",
        "datasets:",
        f"  {dataset}:   # {len(test.classes)} classes of {'x'.join(map(str, shape))} (C x H x W) images",
        *_yaml(entry, 4),
        "",
        "models:",
        f"  {dataset}:",
        "    model:      # yours: checked on the test images before any work",
        *_yaml(spec, 6),
        "",
        "experiments:   # classification images (bias maps, z-maps) with each kind of noise",
        f"  white: {{model: {m}, n: {n}, checkpoints: {_flow(checkpoints)}}}",
        f"  gabor: {{model: {m}, n: {min(n, 20000)}, noise: {{kind: gabor}}}}   # Gabor-PCA noise fitted on your images",
        f"  vae: {{model: {m}, n: {min(n, 20000)}, noise: {{kind: vae}}}}       # decoded VAE codes",
        "",
        "attacks: {experiments: [white]}   # the bias maps as a hard-label attack",
        "",
    ]
    if convs or linears:
        first = (convs or linears)[0]
        hidden = linears[:-1] or linears  # the last hidden fully connected layer, if any
        lines += [
            "units:   # spike-triggered averages, layer activations and injection (layers by name)",
            "  units:",
            f"    model: {m}",
            f"    layers: [{first}]",
            f"    n: {min(n, 50000)}",
            f"    activations: [{', '.join(dict.fromkeys([first, *hidden[-1:]]))}]",
            f"    injection: {{layers: [{(hidden or [first])[-1]}]}}",
            "",
        ]
    else:
        lines += ["# units / microstim: this model's layers cannot be hooked (TorchScript)", ""]
    if biased:
        lines += [
            "microstim:   # raise the biases of a layer in proportion to its activity (Eq. 6)",
            "  stim:",
            f"    model: {m}",
            "    classes: [0, 1]",
            f"    layers: {{{biased[0]}: 0.1}}   # layer: lambda of Eq. 6",
            f"    ks: {{{biased[0]}: [0, 0.05, 0.1]}}",
            "",
        ]
    arch = spec.get("factory") and f"factory:{spec['factory']}"
    lines += [
        "scans:   # is there a backdoor? a verdict at alpha 0.05 against 5 clean references trained on your data",
        "  backdoor:",
        f"    model: {m}",
        f"    n: {min(n, SCAN['n'])}",
        *(
            [f"    references: {{arch: '{arch}'}}"]
            if arch
            else [
                "    # a model file does not say its architecture: give references.arch to train",
                "    references: {arch: mnist_cnn}   # (or a list of your clean models)",
            ]
        ),
        "",
    ]
    text = "\n".join(lines)
    with store.atomic_path(out) as tmp:
        Path(tmp).write_text(text)
    return text


def _yaml(entry: dict, indent: int) -> list[str]:
    """``entry`` as YAML lines (flow style for lists and dicts) at ``indent`` spaces."""
    out = []
    for key, value in entry.items():
        out.append(" " * indent + f"{key}: {_flow(value)}")
    return out


def _flow(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)
