"""The one codec of the experiment config: flatten, its strict inverse, overrides, identity hash and
column types, all from one walk of the dataclass tree.

A config travels as a flat dict of dotted keys (`train.lr`, `method.prune_ratio`): Ray passes it to
trials, MLflow stores it as params, Parquet as columns. `experiment_from_flat(to_flat_dict(cfg))`
rebuilds `cfg` exactly; unknown keys and values of the wrong type raise a ConfigError naming them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from typing import Any, TypeVar
from collections.abc import Iterator

from lottery.config import ExperimentConfig, MethodParams
from lottery.errors import ConfigError

# The sections of an experiment config (a preset file may hold `sweep` too: that is the driver's).
SECTIONS = ("seed", "data", "model", "train", "method")
DEFAULT_METHOD = "earlybird"
T = TypeVar("T")


def to_flat_dict(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted-key view of a (nested) config dataclass: {'train.lr': 0.1, 'method.name': ...}; tuples
    become lists (the JSON / YAML form)."""
    flat: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            flat.update(to_flat_dict(value, key + "."))
        else:
            flat[key] = list(value) if isinstance(value, tuple) else value
    return flat


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """{'train.lr': 0.1} -> {'train': {'lr': 0.1}}."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a config dataclass")
    return dataclasses.fields(cls)


def _is_config_section(annotation: Any) -> bool:
    """A nested config dataclass (a section such as `data` or `train`), as opposed to a value."""
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    origin = typing.get_origin(annotation)
    if origin is tuple:
        (element, *_rest) = typing.get_args(annotation)
        if not isinstance(value, (list, tuple)):
            value = [value]
        return tuple(_coerce(v, element, f"{key}[]") for v in value)
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"unsupported annotation {annotation} for {key}")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"invalid type for {key}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"invalid type for {key}: expected an integer, got {value!r}")
    if annotation is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip()):
            number = float(value)  # YAML 1.1 reads `1e-4` (no dot) as a string
        if number is None or not math.isfinite(number):
            raise ConfigError(f"invalid type for {key}: expected a finite number, got {value!r}")
        return number
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"invalid type for {key}: expected a string, got {value!r}")
    raise TypeError(f"unsupported annotation {annotation} for {key}")


def build(cls: type[T], raw: Any, prefix: str) -> T:
    """Construct dataclass `cls` from a dict, recursing into nested dataclasses; unknown keys raise."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"invalid value {raw!r} for section {prefix.rstrip('.') or 'config'}; expected a mapping")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in _fields(cls)]
    unknown = sorted(set(map(str, raw)) - set(names))
    if unknown:
        where = prefix.rstrip(".") or "the top level"
        raise ConfigError(f"unknown key {prefix + unknown[0]!r} in {where}; valid keys: {', '.join(names)}")
    kwargs: dict[str, Any] = {}
    for name in names:
        if name not in raw:
            continue
        annotation = hints[name]
        key = f"{prefix}{name}"
        if annotation is MethodParams:
            kwargs[name] = build_method(raw[name], key)
        elif _is_config_section(annotation):
            kwargs[name] = build(annotation, raw[name], key + ".")
        else:
            kwargs[name] = _coerce(raw[name], annotation, key)
    return cls(**kwargs)


def build_method(raw: Any, key: str = "method") -> MethodParams:
    """The registered method's own Params dataclass, chosen by `name`."""
    from lottery.methods import METHODS  # the registry imports every method module

    if not isinstance(raw, dict) or "name" not in raw:
        raise ConfigError(f"section {key} needs a 'name'; valid names: {', '.join(METHODS.names())}")
    method = METHODS.get(str(raw["name"]))
    return build(method.Params, raw, key + ".")


def experiment_from_dict(raw: dict[str, Any]) -> ExperimentConfig:
    """ExperimentConfig from a nested dict (a preset minus its `sweep` section); names of models and
    datasets are checked against their registries."""
    from lottery.data import DATASETS, parse_dataset_spec
    from lottery.models import MODELS

    body = {k: v for k, v in raw.items() if k != "sweep"}
    unknown = sorted(set(map(str, body)) - set(SECTIONS))
    if unknown:
        valid = ", ".join(sorted((*SECTIONS, "sweep")))
        raise ConfigError(f"unknown key {unknown[0]!r} at the top level; valid keys: {valid}")
    if "method" not in body:
        body["method"] = {"name": DEFAULT_METHOD}
    cfg = build(ExperimentConfig, body, "")
    MODELS.get(cfg.model.name)  # unknown names fail here, listing the valid ones
    DATASETS.get(parse_dataset_spec(cfg.data.name)[0])
    return cfg


def experiment_from_flat(flat: dict[str, Any]) -> ExperimentConfig:
    """The strict inverse of `to_flat_dict`."""
    return experiment_from_dict(unflatten(flat))


def with_overrides(cfg: ExperimentConfig, flat_overrides: dict[str, Any]) -> ExperimentConfig:
    """A copy of `cfg` with dotted-key values replaced (a changed method.name resets method params)."""
    flat = to_flat_dict(cfg)
    if "method.name" in flat_overrides and flat_overrides["method.name"] != flat["method.name"]:
        flat = {k: v for k, v in flat.items() if not k.startswith("method.")}
    flat.update(flat_overrides)
    return experiment_from_flat(flat)


def arm_config(cfg: ExperimentConfig, flat_overrides: dict[str, Any]) -> ExperimentConfig:
    """A baseline arm of `cfg`: the overrides applied, and when they switch the method, every method
    parameter of the preset that the arm's method also declares is inherited (transfer targets,
    rho, thresholds, ...), so an arm differs from the searched method only where it says so."""
    from lottery.methods import METHODS

    flat = to_flat_dict(cfg)
    name = flat_overrides.get("method.name", cfg.method.name)
    if name != cfg.method.name:
        declared = {f"method.{f.name}" for f in _fields(METHODS.get(str(name)).Params)}
        flat = {k: v for k, v in flat.items() if not k.startswith("method.") or k in declared}
    flat.update(flat_overrides)
    return experiment_from_flat(flat)


def _leaves(cls: type, prefix: str) -> Iterator[tuple[str, Any, dataclasses.Field[Any]]]:
    """(flat key, annotation, field) of every value of a config dataclass, sections walked into; the
    `method` section is skipped (its dataclass depends on the method's name)."""
    hints = typing.get_type_hints(cls)
    for f in _fields(cls):
        annotation = hints[f.name]
        if annotation is MethodParams:
            continue
        if _is_config_section(annotation):
            yield from _leaves(annotation, f"{prefix}{f.name}.")
        else:
            yield prefix + f.name, annotation, f


def _declared_defaults(cls: type, prefix: str) -> dict[str, Any]:
    """Flat defaults of a config dataclass read from the declarations, without constructing it (a
    method may have a required field, which has no valid default)."""
    defaults: dict[str, Any] = {}
    for key, _, f in _leaves(cls, prefix):
        if f.default is not dataclasses.MISSING:
            defaults[key] = list(f.default) if isinstance(f.default, tuple) else f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
            defaults[key] = list(value) if isinstance(value, tuple) else value
    return defaults


def config_hash(cfg: ExperimentConfig) -> str:
    """Short hash of the fields that differ from their defaults (plus the method's name).

    Hashing only non-default values means a new field with a default never changes old identities.
    The values are pinned by tests/test_golden.py.
    """
    flat = to_flat_dict(cfg)
    defaults = _declared_defaults(ExperimentConfig, "")
    defaults.update(_declared_defaults(type(cfg.method), "method."))
    canonical = {k: v for k, v in flat.items() if k == "method.name" or defaults.get(k, object()) != v}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _column_types(cls: type, prefix: str) -> Iterator[tuple[str, type]]:
    for key, annotation, _ in _leaves(cls, prefix):
        yield key, str if typing.get_origin(annotation) is tuple else annotation  # tuples: JSON text


def config_column_types() -> dict[str, type]:
    """Flat key -> Python type (bool, int, float, str; tuples as JSON str) of the common sections and
    of every registered method's parameters (the union: a key two methods share must agree)."""
    from lottery.methods import METHODS

    columns = dict(_column_types(ExperimentConfig, ""))
    for name in METHODS.names():
        for key, kind in _column_types(METHODS.get(name).Params, "method."):
            if columns.setdefault(key, kind) is not kind:
                raise TypeError(f"method param {key} has two types: {columns[key].__name__} and {kind.__name__}")
    return columns
