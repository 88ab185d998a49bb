"""Validate a workflow config against its JSON Schema, fill defaults, explain errors."""

from __future__ import annotations

import copy
import functools
import warnings
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from revcor.base.errors import RevcorError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    import jsonschema

# shipped in the package; the workflow reads the same copy
SCHEMA: Traversable = resources.files(__package__) / "config.schema.yaml"


class ConfigError(RevcorError, ValueError):
    """The config does not fit the schema; the message names the key and what is allowed."""


@functools.cache
def _validator_class() -> type:
    """A validator class that fills in ``default`` values of properties as it validates
    (jsonschema is imported here, by the jobs that validate, not by every reader of the schema)."""
    import jsonschema

    cls = jsonschema.Draft202012Validator
    check_properties = cls.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):  # noqa: ANN001
        if isinstance(instance, dict):
            for key, sub in props.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, props, instance, schema)

    return jsonschema.validators.extend(cls, {"properties": properties})


def load_schema(path: str | Path | Traversable) -> dict:
    """Read a schema written in YAML or JSON."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: every job reads the schema
    return yaml.load((Path(path) if isinstance(path, str) else path).read_text(), Loader=loader)  # noqa: S506


@functools.cache
def schema() -> dict:
    """The config schema the package ships (do not modify it)."""
    return load_schema(SCHEMA)


def defaults(section: str, **given: Any) -> Any:
    """The settings of config ``section`` as the schema fills them in around ``given`` (its
    required keys); for a section of named entries (``scans``, ``units``, ...), of one entry;
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


def _rename(config: dict[str, Any], renamed: dict[str, dict[str, str]]) -> None:
    """Move renamed keys (the schema's ``x-renamed``) to their new names, with a warning."""
    rules = config.get("resources", {}).get("rules", {}) if isinstance(config.get("resources"), dict) else {}
    for where, table, old_names in (
        ("", config, renamed.get("sections", {})),
        ("resources.rules.", rules, renamed.get("rules", {})),
    ):
        for old, new in old_names.items():
            if old not in table or old == new:
                continue
            if new in table:
                raise ConfigError(f"{where}{old} is the old name of {where}{new}, and both are set: keep {new}")
            table[new] = table.pop(old)
            warnings.warn(f"config: {where}{old} is now called {where}{new}; rename it", FutureWarning, stacklevel=3)


def validate(config: dict[str, Any], schema: dict | str | Path | Traversable) -> dict[str, Any]:
    """Validate ``config`` in place (filling defaults) and return it; keys the schema lists as
    renamed (``x-renamed``) are moved to their new names first, with a warning.

    Raises :class:`ConfigError` naming the offending key and the allowed values.
    """
    if not isinstance(schema, dict):
        schema = load_schema(schema)
    _rename(config, schema.get("x-renamed", {}))
    validator = _validator_class()(schema)
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
