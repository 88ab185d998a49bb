"""The config as the workflow uses it: validated with the schema's defaults, then expanded with
what its sections imply (the models and experiments of backdoor detection and scans, the
copies of ``seeds``), and checked for what the schema cannot say. Every name of an implied
model is made here, with its seed beside it; nothing parses a seed back out of a name."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from revcor.base.config import ConfigError, validate
from revcor.models.specs import BACKBONES, kind_of


def model_settings(config: dict[str, Any], dataset: str, model: str) -> dict[str, Any]:
    """A model's full training settings: the ``training`` defaults overlaid by its own."""
    try:
        spec = config["models"][dataset][model]
    except KeyError:
        known = [f"{d}/{m}" for d, ms in config.get("models", {}).items() for m in ms]
        raise ConfigError(f"no model {dataset}/{model} in config; known: {', '.join(known)}") from None
    return {**config["training"], **spec}


def backdoor_dataset(config: dict[str, Any], name: str) -> str:
    """Name of the poisoned dataset of backdoor ``name``: ``{dataset}-bd-{name}``."""
    return f"{config['backdoors'][name]['dataset']}-bd-{name}"


def seeded(config: dict[str, Any], model: str, seed: int) -> str:
    """``dataset/model`` trained with ``seed``: the model itself when that is its own seed,
    else its copy ``dataset/{model}_s{seed}``."""
    dataset, _, name = model.partition("/")
    return model if model_settings(config, dataset, name)["seed"] == seed else f"{model}_s{seed}"


def detection_models(config: dict[str, Any], name: str) -> dict[str, list[str]]:
    """The models ("dataset/model") that backdoor detection compares for backdoor ``name``:
    poisoned and clean models trained with each seed (the clean model of its own seed is the
    model itself), and clean reference models."""
    return {role: list(models) for role, models in _detection_seeds(config, name).items()}


def _detection_seeds(config: dict[str, Any], name: str) -> dict[str, dict[str, int]]:
    """{role: {model: the seed it is trained with}} of :func:`detection_models`."""
    det, dataset = config["detection"], config["backdoors"][name]["dataset"]
    base = det["model"]
    return {
        "poisoned": {f"{backdoor_dataset(config, name)}/{base}_s{s}": s for s in det["seeds"]},
        "clean": {seeded(config, f"{dataset}/{base}", s): s for s in det["seeds"]},
        "reference": {f"{dataset}/{base}_r{s}": s for s in det["reference_seeds"]},
    }


def detection_experiment(model: str) -> str:
    """Experiment name of a detection model ``dataset/model``."""
    return "detect-" + model.replace("/", "-")


def scan_models(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The scanned model (``dataset/model``) of scan ``name`` and its references."""
    return {"model": config["scans"][name]["model"], "references": list(_scan_references(config, name))}


def _scan_references(config: dict[str, Any], name: str) -> dict[str, int | None]:
    """{reference model: the seed it is trained with here (None for a model the user names)}."""
    spec = config["scans"][name]
    refs = spec["references"]
    if isinstance(refs, list):
        return dict.fromkeys(refs)
    dataset = spec["model"].partition("/")[0]
    return {f"{dataset}/{name.replace('-', '_')}_r{s}": s for s in refs["seeds"]}


def _reference_spec(config: dict[str, Any], name: str) -> dict[str, Any]:
    """Training settings of scan ``name``'s references: its ``references`` settings, else the
    scanned model's own architecture."""
    spec = config["scans"][name]
    dataset, _, model = spec["model"].partition("/")
    scanned = model_settings(config, dataset, model)
    refs = spec["references"]
    arch, kwargs = refs.get("arch"), refs.get("kwargs")
    if arch is None:
        if scanned.get("arch"):
            arch, kwargs = scanned["arch"], kwargs if kwargs is not None else scanned.get("kwargs", {})
        elif scanned.get("factory"):
            arch, kwargs = f"factory:{scanned['factory']}", kwargs if kwargs is not None else scanned.get("kwargs", {})
        elif scanned.get("torchvision"):
            arch, kwargs = (
                f"torchvision:{scanned['torchvision']}",
                kwargs if kwargs is not None else scanned.get("kwargs", {}),
            )
        else:
            raise ConfigError(
                f"scans.{name}: the architecture of {spec['model']} (a model file) is unknown; give "
                "references.arch to train references with, or references: [dataset/model, ...]"
            )
    out = {"arch": arch, "kwargs": kwargs or {}}
    if "epochs" in refs:
        out["epochs"] = refs["epochs"]
    return out


def expand(config: dict[str, Any]) -> dict[str, Any]:
    """Check what the schema cannot, and add the models and noise experiments that
    ``backdoors``/``detection`` and ``scans`` imply: every model of :func:`detection_models`
    (a copy of ``detection.model`` with its seed) and every trained reference of a scan, and
    one white-noise experiment per compared model (left out of the summary figures and
    tables). Entries already in the config are kept."""
    for name, spec in config.get("experiments", {}).items():
        if spec.get("n") == "auto" and spec.get("signal"):
            raise ConfigError(
                f"experiments.{name}.n: auto stops on the reliability of class maps; a signal+noise "
                "experiment needs a number of trials"
            )
    for name, unit in config.get("units", {}).items():
        if unit.get("noise", {}).get("size") is not None:
            raise ConfigError(
                f"units.{name}.noise.size: single-unit analyses draw the noise at the model's input size; remove size"
            )
    for name, spec in config.get("microstim", {}).items():
        ks = spec.get("ks")
        if isinstance(ks, dict) and (missing := [layer for layer in spec["layers"] if layer not in ks]):
            raise ConfigError(
                f"microstim.{name}.ks has no entry for layer(s) {', '.join(missing)}; layers "
                f"({', '.join(spec['layers'])}) defaults to the paper's: set layers to your model's "
                "({layer: lambda})"
            )
    det = config["detection"]
    for name, bd in config["backdoors"].items():
        dataset = bd["dataset"]
        if dataset not in config["datasets"]:
            raise ConfigError(
                f"backdoors.{name}.dataset: {dataset!r} is not under 'datasets' "
                f"(configured: {', '.join(config['datasets']) or 'none'})"
            )
        if bd["source"] == bd["target"]:
            raise ConfigError(f"backdoors.{name}: source and target are both {bd['source']}")
        spec = config["models"].get(dataset, {}).get(det["model"])
        if spec is None:
            raise ConfigError(
                f"detection.model: {det['model']!r} is not a model of {dataset!r} "
                f"(models.{dataset}: {', '.join(config['models'].get(dataset, {})) or 'none'})"
            )
        for model, seed in (item for ms in _detection_seeds(config, name).values() for item in ms.items()):
            ds, m = model.split("/")
            if m != det["model"]:  # a copy trained with its seed
                config["models"].setdefault(ds, {}).setdefault(m, {**copy.deepcopy(spec), "seed": seed})
            config["experiments"].setdefault(
                detection_experiment(model), {"model": model, "n": det["n"], "checkpoints": [], "summary": False}
            )
    for name, spec in config.get("scans", {}).items():
        dataset, _, model = spec["model"].partition("/")
        model_settings(config, dataset, model)  # the scanned model must exist
        models = scan_models(config, name)
        if not isinstance(spec["references"], list):
            refs = _reference_spec(config, name)
            for ref, seed in _scan_references(config, name).items():
                ds, m = ref.split("/")
                config["models"].setdefault(ds, {}).setdefault(m, {**refs, "seed": seed})
        for m in [models["model"], *models["references"]]:
            ds, mm = m.split("/")
            model_settings(config, ds, mm)
            config["experiments"].setdefault(
                detection_experiment(m), {"model": m, "n": spec["n"], "checkpoints": [], "summary": False}
            )
    return config


def split_model(model: str) -> tuple[str, str]:
    """``"dataset/model"`` -> (dataset, model)."""
    dataset, _, name = model.partition("/")
    return dataset, name


def trained_here(config: dict[str, Any], model: str) -> bool:
    """Whether revcor trains ``dataset/model`` (an ``arch`` that is not a pretrained backbone)."""
    settings = model_settings(config, *split_model(model))
    return kind_of(settings) is None and settings["arch"] not in BACKBONES


def seed_spread(config: dict[str, Any]) -> dict[str, dict[str, dict[int, str]]]:
    """The spread over ``seeds``: {section: {name: {seed: name of its copy}}} for the summary
    plain experiments, the attacked experiments and the microstimulations whose models are
    trained here; the copy of a model's own seed is the entry itself."""
    out: dict[str, dict[str, dict[int, str]]] = {"experiments": {}, "attacks": {}, "microstim": {}}
    if not config["seeds"]:
        return out
    for section in ("experiments", "microstim"):
        for name, spec in config[section].items():
            if spec["summary"] and not spec.get("signal") and trained_here(config, spec["model"]):
                out[section][name] = {
                    s: name if seeded(config, spec["model"], s) == spec["model"] else f"{name}_s{s}"
                    for s in config["seeds"]
                }
    out["attacks"] = {
        name: out["experiments"][name] for name in config["attacks"]["experiments"] if name in out["experiments"]
    }
    return out


def add_seed_copies(config: dict[str, Any]) -> dict[str, Any]:
    """Add the copies of :func:`seed_spread` to a validated config: each model trained with
    each seed, and the experiments and microstimulations on it, out of the summaries."""
    if len(config["seeds"]) == 1:
        raise ConfigError(f"seeds: {config['seeds']} is one seed; a spread needs none or at least two")
    spread = seed_spread(config)
    for section in ("experiments", "microstim"):
        for name, copies in spread[section].items():
            spec = config[section][name]
            base_dataset, base_model = split_model(spec["model"])
            for seed, copy_name in copies.items():
                model = seeded(config, spec["model"], seed)
                dataset, trained = split_model(model)
                entry = {**copy.deepcopy(config["models"][base_dataset][base_model]), "seed": seed}
                config["models"][dataset].setdefault(trained, entry)
                config[section].setdefault(copy_name, {**copy.deepcopy(spec), "model": model, "summary": False})
    return config


def prepare(config: dict[str, Any], schema: str | Path) -> dict[str, Any]:
    """The config as the workflow uses it, in place: validated with its defaults, then with the
    models and experiments that backdoor detection, scans and ``seeds`` imply, validated again."""
    return validate(add_seed_copies(expand(validate(config, schema))), schema)


def check_given_files(config: dict[str, Any]) -> None:
    """Refuse a config whose given models' files (``file``, ``state_dict``) do not exist, before
    Snakemake looks for another rule to make them."""
    for dataset, models in config["models"].items():
        for name, spec in models.items():
            for key in ("file", "state_dict"):
                if kind_of(spec) and spec.get(key) and not Path(spec[key]).is_file():
                    raise ConfigError(f"models.{dataset}.{name}.{key}: {spec[key]} does not exist")
