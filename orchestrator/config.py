"""Load a YAML preset into typed, frozen configs; apply `--set a.b=value` overrides; hash identities.

Unknown keys and values of the wrong type are errors (never silently dropped); every message names
the offending key or value and the valid choices.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lottery.config import MAX_SEED, DataConfig, ExperimentConfig, MethodParams, ModelConfig, TrainConfig, to_flat_dict
from lottery.errors import ConfigError
from lottery.data import DATASETS, parse_dataset_spec
from lottery.methods import METHODS
from lottery.models import MODELS

OBJECTIVE_DIRECTIONS = ("max", "min")
SAMPLERS = ("tpe", "nsga2", "random", "grid")
# Final metrics a sweep may optimise (each method reports these).
OBJECTIVE_METRICS = (
    "val_accuracy", "test_accuracy", "flops", "sparse_flops", "params", "nonzero_params", "flops_ratio", "train_flops_total",
    "transfer_val_accuracy", "transfer_accuracy",  # robust_ticket: mean over its downstream datasets
)


@dataclass(frozen=True)
class ResourcesConfig:
    """Resources each Ray trial asks for (fractions allowed)."""

    cpu: float = 1.0
    gpu: float = 0.0

    def __post_init__(self) -> None:
        if self.cpu <= 0:
            raise ConfigError(f"invalid value {self.cpu!r} for sweep.resources.cpu; valid: a number > 0")
        if self.gpu < 0:
            raise ConfigError(f"invalid value {self.gpu!r} for sweep.resources.gpu; valid: a number >= 0")


@dataclass(frozen=True)
class SweepConfig:
    """How a sweep explores: which search space, how many trials, which objectives, where results go."""

    name: str = "sweep"
    search_space: str = "earlybird"
    num_trials: int = 8
    max_concurrent: int = 2
    sampler: str = "tpe"
    sampler_seed: int = 0
    objectives: tuple[str, ...] = ("val_accuracy:max", "flops:min")
    baselines: tuple[str, ...] = ("dense",)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    max_failures: int = 2
    results_dir: str = "results"
    mlflow_uri: str = ""
    storage_path: str = ""

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/\\ ") or self.name.startswith("."):
            raise ConfigError(f"invalid sweep name {self.name!r}; valid: a non-empty name without '/', '\\' or spaces")
        if self.num_trials < 1:
            raise ConfigError(f"invalid value {self.num_trials!r} for sweep.num_trials; valid: an integer >= 1")
        if self.max_concurrent < 1:
            raise ConfigError(f"invalid value {self.max_concurrent!r} for sweep.max_concurrent; valid: an integer >= 1")
        if not 0 <= self.sampler_seed < MAX_SEED:
            raise ConfigError(f"invalid value {self.sampler_seed!r} for sweep.sampler_seed; valid: an integer in [0, {MAX_SEED})")
        if self.max_failures < 0:
            raise ConfigError(f"invalid value {self.max_failures!r} for sweep.max_failures; valid: an integer >= 0")
        if not self.objectives:
            raise ConfigError("sweep.objectives is empty; valid: entries like 'val_accuracy:max', 'flops:min'")
        for objective in self.objectives:
            metric, _, direction = objective.partition(":")
            if metric not in OBJECTIVE_METRICS or direction not in OBJECTIVE_DIRECTIONS:
                raise ConfigError(
                    f"invalid objective {objective!r} in sweep.objectives; valid: METRIC:max|min with METRIC one of "
                    f"{', '.join(OBJECTIVE_METRICS)}"
                )
        for baseline in self.baselines:
            baseline_overrides(baseline)
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {self.sampler!r} for sweep.sampler; valid choices: {', '.join(SAMPLERS)}")
        from search_spaces import SEARCH_SPACES  # lazy: keeps `orchestrator.config` free of optuna at import

        SEARCH_SPACES.get(self.search_space)

    def objective_pairs(self) -> list[tuple[str, str]]:
        """[(metric, 'max'|'min'), ...] in the configured order."""
        return [tuple(o.split(":", 1)) for o in self.objectives]  # type: ignore[misc]


def baseline_overrides(spec: str) -> dict[str, Any]:
    """A baseline arm: 'METHOD' (its default params) or 'METHOD:key=value,key=value' (method params set,
    e.g. 'search_then_prune:criterion=snip,target_sparsity=0.7'); values are YAML scalars."""
    name, _, params = spec.partition(":")
    METHODS.get(name.strip())
    overrides: dict[str, Any] = {"method.name": name.strip()}
    for item in filter(None, (p.strip() for p in params.split(","))):
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"invalid baseline {spec!r}; valid form: METHOD or METHOD:key=value,key=value")
        overrides[f"method.{key.strip()}"] = yaml.safe_load(text)
    return overrides


SECTIONS = {"seed", "data", "model", "train", "method", "sweep"}


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a preset; a missing or malformed file is a ConfigError naming it."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"config file {str(path)!r} is a folder; give a YAML file, e.g. configs/demo.yaml")
    if not p.is_file():
        raise ConfigError(f"config file not found: {str(path)!r}")
    try:
        text = p.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {str(path)!r} is not a readable UTF-8 text file ({err.__class__.__name__})") from None
    if "\x00" in text:
        raise ConfigError(f"config file {str(path)!r} is not a text file (it holds NUL bytes)")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        first = " ".join(str(err).split())  # YAML's message spans lines; the CLI prints one
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {first}") from None
    if raw is None:
        raise ConfigError(f"config file {str(path)!r} is empty; it must hold a mapping of sections {sorted(SECTIONS)}")
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of sections {sorted(SECTIONS)}")
    return raw


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `a.b.c=value` strings (values parsed as YAML scalars/lists) to a nested dict copy.

    `method.name=OTHER` is applied first and drops the preset's parameters of the previous method
    (they belong to that method), so `--set method.name=imp` works on an Early-Bird preset.
    """
    result = json.loads(json.dumps(raw))
    switches = [o for o in overrides if o.partition("=")[0] == "method.name"]
    for item in switches:
        new_name = yaml.safe_load(item.partition("=")[2])
        method = result.get("method")
        if not isinstance(method, dict) or method.get("name") != new_name:
            result["method"] = {"name": new_name}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"invalid override {item!r}; valid form: key.path=value, e.g. train.epochs=5")
        if not _KEY.fullmatch(key):
            raise ConfigError(
                f"invalid key {key!r} in override {item!r}: dotted names only, no spaces around '='; "
                "valid form: key.path=value, e.g. train.epochs=5"
            )
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"invalid value in override {item!r}: {' '.join(str(err).split())}") from None
        parts = key.split(".")
        node = result
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return result


_KEY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
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


def build(cls: type, raw: Any, prefix: str) -> Any:
    """Construct dataclass `cls` from a dict, recursing into nested dataclasses; unknown keys raise."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"invalid value {raw!r} for section {prefix.rstrip('.') or 'config'}; expected a mapping")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
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
        elif dataclasses.is_dataclass(annotation):
            kwargs[name] = build(annotation, raw[name], key + ".")
        else:
            kwargs[name] = _coerce(raw[name], annotation, key)
    return cls(**kwargs)


def build_method(raw: Any, key: str = "method") -> MethodParams:
    """The registered method's own Params dataclass, chosen by `name`."""
    if not isinstance(raw, dict) or "name" not in raw:
        raise ConfigError(f"section {key} needs a 'name'; valid names: {', '.join(METHODS.names())}")
    method = METHODS.get(str(raw["name"]))
    return build(method.Params, raw, key + ".")


def experiment_from_dict(raw: dict[str, Any]) -> ExperimentConfig:
    """ExperimentConfig from a nested dict (the preset minus its `sweep` section)."""
    body = {k: v for k, v in raw.items() if k != "sweep"}
    unknown = sorted(set(body) - SECTIONS)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} at the top level; valid keys: {', '.join(sorted(SECTIONS))}")
    if "method" not in body:
        body["method"] = {"name": "earlybird"}
    cfg = build(ExperimentConfig, body, "")
    MODELS.get(cfg.model.name)  # unknown names fail here, listing the valid ones
    DATASETS.get(parse_dataset_spec(cfg.data.name)[0])
    return cfg


def sweep_from_dict(raw: dict[str, Any]) -> SweepConfig:
    return build(SweepConfig, raw.get("sweep") or {}, "sweep.")


def load_configs(path: str | Path, overrides: list[str] | None = None) -> tuple[ExperimentConfig, SweepConfig]:
    """Preset file + overrides -> (experiment, sweep), fully validated before anything runs."""
    raw = apply_overrides(load_yaml(path), overrides or [])
    return experiment_from_dict(raw), sweep_from_dict(raw)


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


def experiment_from_flat(flat: dict[str, Any]) -> ExperimentConfig:
    return experiment_from_dict(unflatten(flat))


def with_overrides(cfg: ExperimentConfig, flat_overrides: dict[str, Any]) -> ExperimentConfig:
    """A copy of `cfg` with dotted-key values replaced (a changed method.name resets method params)."""
    flat = to_flat_dict(cfg)
    if "method.name" in flat_overrides and flat_overrides["method.name"] != flat["method.name"]:
        flat = {k: v for k, v in flat.items() if not k.startswith("method.")}
    flat.update(flat_overrides)
    return experiment_from_flat(flat)


def config_hash(cfg: ExperimentConfig) -> str:
    """Short hash of the fields that differ from their defaults (plus the method's name).

    Hashing only non-default values means a new field with a default never changes old identities.
    """
    flat = to_flat_dict(cfg)
    defaults = to_flat_dict(ExperimentConfig())
    # The method's declared defaults, read without constructing it (a required field has no valid default).
    for f in dataclasses.fields(type(cfg.method)):
        if f.default is not dataclasses.MISSING:
            defaults[f"method.{f.name}"] = list(f.default) if isinstance(f.default, tuple) else f.default
    canonical = {k: v for k, v in flat.items() if k == "method.name" or defaults.get(k, object()) != v}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


__all__ = [
    "DataConfig", "ModelConfig", "TrainConfig", "ResourcesConfig", "SweepConfig", "load_configs",
    "experiment_from_flat", "with_overrides", "config_hash", "build_method", "baseline_overrides",
]
