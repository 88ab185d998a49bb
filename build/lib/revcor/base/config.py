"""Validate a workflow config against its JSON Schema, fill defaults, explain errors."""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import yaml

from revcor.base.errors import RevcorError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

# shipped in the package; the workflow reads the same copy
SCHEMA: Traversable = resources.files(__package__) / "config.schema.yaml"


class ConfigError(RevcorError, ValueError):
    """The config does not fit the schema; the message names the key and what is allowed."""


def _with_defaults(cls: type) -> type:
    """A validator class that fills in ``default`` values of properties as it validates."""
    check_properties = cls.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):  # noqa: ANN001
        if isinstance(instance, dict):
            for key, sub in props.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, props, instance, schema)

    return jsonschema.validators.extend(cls, {"properties": properties})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def load_schema(path: str | Path | Traversable) -> dict:
    """Read a schema written in YAML or JSON."""
    return yaml.safe_load((Path(path) if isinstance(path, str) else path).read_text())


@functools.cache
def schema() -> dict:
    """The config schema the package ships (do not modify it)."""
    return load_schema(SCHEMA)


def defaults(section: str, **given: Any) -> Any:
    """The settings of config ``section`` as the schema fills them in around ``given`` (its
    required keys); for a section of named entries (``scans``, ``neurons``, ...), of one entry;
    for a top-level setting (``device``), its value."""
    spec = schema()["properties"][section]
    if spec.get("type") != "object":
        return copy.deepcopy(validate({}, schema())[section])
    named = isinstance(spec.get("additionalProperties"), dict)
    filled = validate({section: {"entry": dict(given)} if named else dict(given)}, schema())[section]
    return copy.deepcopy(filled["entry"] if named else filled)


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _allowed(schema: dict) -> str:
    if "enum" in schema:
        return ", ".join(map(str, schema["enum"]))
    if "pattern" in schema:
        return f"names matching {schema['pattern']}"
    return "see the schema, revcor/base/config.schema.yaml"


def _explain(error: jsonschema.ValidationError) -> str:
    where = _where(error)
    kind = error.validator
    if kind == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(known))
        return f"{where}: unknown key {', '.join(map(repr, extra))}; allowed keys: {', '.join(known)}"
    if kind == "propertyNames":
        bad = error.instance
        return f"{where}: {bad!r} is not an allowed name; allowed: {_allowed(error.schema['propertyNames'] if 'propertyNames' in error.schema else error.schema)}"
    if kind == "enum":
        return f"{where}: {error.instance!r} is not allowed; allowed values: {_allowed(error.schema)}"
    if kind == "required":
        hint = error.schema.get("x-hint")
        return f"{where}: {error.message}" + (f" ({hint})" if hint else "")
    if kind == "type":
        return f"{where}: {error.instance!r} should be of type {error.validator_value}"
    if kind == "pattern":
        return f"{where}: {error.instance!r} does not match {error.validator_value}"
    if kind == "anyOf":
        options = "; or ".join(_allowed(option) for option in error.validator_value)
        return f"{where}: {error.instance!r} is not allowed; allowed: {options}"
    if kind == "oneOf" and "x-hint" in error.schema:
        return f"{where}: {error.schema['x-hint']}"
    if kind == "oneOf":
        options = "; or ".join(_describe(option) for option in error.validator_value)
        return f"{where}: {error.instance!r} is not allowed; expected {options}"
    return f"{where}: {error.message}"


def _describe(schema: dict) -> str:
    """A schema alternative in words: 'auto', an integer >= 1, a list of number, ..."""
    if "const" in schema:
        return repr(schema["const"])
    kind = {"array": "a list", "object": "a mapping"}.get(schema.get("type"), f"{schema.get('type', 'a value')}")
    if "minimum" in schema:
        kind += f" >= {schema['minimum']}"
    return kind


def validate(config: dict[str, Any], schema: dict | str | Path | Traversable) -> dict[str, Any]:
    """Validate ``config`` in place (filling defaults) and return it.

    Raises :class:`ConfigError` naming the offending key and the allowed values.
    """
    if not isinstance(schema, dict):
        schema = load_schema(schema)
    validator = _Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.path)))
    if errors:
        # propertyNames errors point at the parent; report the deepest, most specific first
        lines = [_explain(_specific(e)) for e in errors]
        raise ConfigError("invalid config:\n  " + "\n  ".join(dict.fromkeys(lines)))
    return config


def _specific(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """Descend into a propertyNames error to the failing name."""
    if error.validator == "propertyNames" and error.context:
        inner = error.context[0]
        inner.schema = {"propertyNames": error.schema["propertyNames"]}
        inner.validator = "propertyNames"
        inner.path = error.path
        return inner
    return error


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
    det, dataset = config["detection"], config["backdoors"][name]["dataset"]
    base = det["model"]
    return {
        "poisoned": [f"{backdoor_dataset(config, name)}/{base}_s{s}" for s in det["seeds"]],
        "clean": [seeded(config, f"{dataset}/{base}", s) for s in det["seeds"]],
        "reference": [f"{dataset}/{base}_r{s}" for s in det["reference_seeds"]],
    }


def detection_experiment(model: str) -> str:
    """Experiment name of a detection model ``dataset/model``."""
    return "detect-" + model.replace("/", "-")


def scan_models(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The scanned model (``dataset/model``) of scan ``name`` and its references."""
    spec = config["scans"][name]
    dataset = spec["model"].partition("/")[0]
    refs = spec["references"]
    if isinstance(refs, list):
        return {"model": spec["model"], "references": list(refs)}
    return {
        "model": spec["model"],
        "references": [f"{dataset}/{name.replace('-', '_')}_r{s}" for s in refs.get("seeds", [100, 101, 102, 103])],
    }


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
    for name, unit in config.get("neurons", {}).items():
        if unit.get("noise", {}).get("size") is not None:
            raise ConfigError(
                f"neurons.{name}.noise.size: single-unit analyses draw the noise at the model's input size; remove size"
            )
    for name, spec in config.get("microstimulation", {}).items():
        ks = spec.get("ks")
        if isinstance(ks, dict) and (missing := [layer for layer in spec["layers"] if layer not in ks]):
            raise ConfigError(
                f"microstimulation.{name}.ks has no entry for layer(s) {', '.join(missing)}; layers "
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
        for model in (m for ms in detection_models(config, name).values() for m in ms):
            ds, m = model.split("/")
            if m != det["model"]:  # a copy with the seed its name ends in (_s0, _r100)
                seed = int(m.rsplit("_", 1)[1][1:])
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
            for ref in models["references"]:
                ds, m = ref.split("/")
                config["models"].setdefault(ds, {}).setdefault(m, {**refs, "seed": int(m.rsplit("_r", 1)[1])})
        for m in [models["model"], *models["references"]]:
            ds, mm = m.split("/")
            model_settings(config, ds, mm)
            config["experiments"].setdefault(
                detection_experiment(m), {"model": m, "n": spec["n"], "checkpoints": [], "summary": False}
            )
    return config
