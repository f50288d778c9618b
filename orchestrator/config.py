"""Load a YAML preset into typed, frozen configs; apply `--set a.b=value` overrides; hash identities.

Unknown keys and values of the wrong type are errors (never silently dropped); every message names
the offending key or value and the valid choices.
"""
from __future__ import annotations

import math

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lottery.codec import SECTIONS as EXPERIMENT_SECTIONS
from lottery.codec import build, experiment_from_dict, experiment_from_flat, to_flat_dict, unflatten
from lottery.config import MAX_SEED, ExperimentConfig
from lottery.errors import ConfigError
from lottery.methods import METHODS, all_final_columns
from orchestrator.budgets import Budget, parse_budget

OBJECTIVE_DIRECTIONS = ("max", "min")
SAMPLERS = ("tpe", "nsga2", "random", "grid")
SCHEDULERS = ("none", "asha", "hyperband")


def objective_metrics() -> list[str]:
    """Final metrics a sweep may optimise: every numeric final column a method declares."""
    return [name for name, column in all_final_columns().items() if column.kind in (int, float)]


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
    seeds: int = 1  # each proposed configuration (and each baseline arm) runs with this many seeds
    results_dir: str = "results"
    mlflow_uri: str = ""
    storage_path: str = ""
    # hard limits on final result columns, e.g. ["flops<=5e7", "latency_ms<=2"] (orchestrator/budgets.py)
    budgets: tuple[str, ...] = ()
    # multi-fidelity: a Tune scheduler over the global epoch stops weak trials (none | asha | hyperband)
    scheduler: str = "none"
    grace_period: int = 1  # epochs every trial runs before the scheduler may stop it
    reduction_factor: int = 3  # the scheduler keeps 1 / reduction_factor of the trials at each rung
    reuse: bool = True  # a config already completed in the results folder is not trained again
    # the whole search's training budget: no new configuration is proposed once the trials' training
    # hours (wall hours x resources.gpu on GPUs, wall hours on CPUs) reach it; 0 = no limit
    max_train_hours: float = 0.0

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/\\ ") or self.name.startswith("."):
            raise ConfigError(f"invalid sweep name {self.name!r}; valid: a non-empty name without '/', '\\' or spaces")
        if self.num_trials < 1:
            raise ConfigError(f"invalid value {self.num_trials!r} for sweep.num_trials; valid: an integer >= 1")
        if self.max_concurrent < 1:
            raise ConfigError(f"invalid value {self.max_concurrent!r} for sweep.max_concurrent; valid: an integer >= 1")
        if not 0 <= self.sampler_seed < MAX_SEED:
            raise ConfigError(f"invalid value {self.sampler_seed!r} for sweep.sampler_seed; valid: an integer in [0, {MAX_SEED})")
        if self.seeds < 1:
            raise ConfigError(f"invalid value {self.seeds!r} for sweep.seeds; valid: an integer >= 1")
        if self.max_failures < 0:
            raise ConfigError(f"invalid value {self.max_failures!r} for sweep.max_failures; valid: an integer >= 0")
        if not self.objectives:
            raise ConfigError("sweep.objectives is empty; valid: entries like 'val_accuracy:max', 'flops:min'")
        for objective in self.objectives:
            metric, _, direction = objective.partition(":")
            if metric not in objective_metrics() or direction not in OBJECTIVE_DIRECTIONS:
                raise ConfigError(
                    f"invalid objective {objective!r} in sweep.objectives; valid: METRIC:max|min with METRIC one of "
                    f"{', '.join(objective_metrics())}"
                )
        for baseline in self.baselines:
            baseline_overrides(baseline)
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"unknown sampler {self.sampler!r} for sweep.sampler; valid choices: {', '.join(SAMPLERS)}")
        from search_spaces import SEARCH_SPACES  # lazy: keeps `orchestrator.config` free of optuna at import

        SEARCH_SPACES.get(self.search_space)
        self.budget_list()
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"unknown scheduler {self.scheduler!r} for sweep.scheduler; valid choices: {', '.join(SCHEDULERS)}")
        if self.grace_period < 1:
            raise ConfigError(f"invalid value {self.grace_period!r} for sweep.grace_period; valid: an integer >= 1 (epochs)")
        if not (self.max_train_hours >= 0 and math.isfinite(self.max_train_hours)):
            raise ConfigError(f"invalid value {self.max_train_hours!r} for sweep.max_train_hours; valid: hours >= 0 (0: no limit)")
        if self.reduction_factor < 2:
            raise ConfigError(f"invalid value {self.reduction_factor!r} for sweep.reduction_factor; valid: an integer >= 2")

    def budget_list(self) -> list[Budget]:
        """The parsed budgets; each names a numeric final column some method declares."""
        return [parse_budget(text, objective_metrics()) for text in self.budgets]

    @property
    def total_trials(self) -> int:
        """Tune trials the sweep runs: every searched configuration and baseline arm, once per seed."""
        return (self.num_trials + len(self.baselines)) * self.seeds

    def objective_pairs(self) -> list[tuple[str, str]]:
        """[(metric, 'max'|'min'), ...] in the configured order."""
        return [(metric, direction) for metric, _, direction in (o.partition(":") for o in self.objectives)]


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


SECTIONS = {*EXPERIMENT_SECTIONS, "sweep"}


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


def sweep_from_dict(raw: dict[str, Any]) -> SweepConfig:
    return build(SweepConfig, raw.get("sweep") or {}, "sweep.")


def load_configs(path: str | Path, overrides: list[str] | None = None) -> tuple[ExperimentConfig, SweepConfig]:
    """Preset file + overrides -> (experiment, sweep), fully validated before anything runs."""
    raw = apply_overrides(load_yaml(path), overrides or [])
    return experiment_from_dict(raw), sweep_from_dict(raw)


def save_sweep_file(path: Path, cfg: ExperimentConfig, sweep: SweepConfig) -> None:
    """The launched configs, flat, beside the sweep's results (what `tickets resume` and `analyze` read)."""
    path.write_text(yaml.safe_dump({"experiment": to_flat_dict(cfg), "sweep": to_flat_dict(sweep)}))


def load_sweep_file(path: Path) -> tuple[ExperimentConfig, SweepConfig]:
    """The (experiment, sweep) configs a sweep was launched with."""
    raw = yaml.safe_load(Path(path).read_text())
    return experiment_from_flat(raw["experiment"]), build(SweepConfig, unflatten(raw["sweep"]), "sweep.")


__all__ = [
    "save_sweep_file", "load_sweep_file",
    "ResourcesConfig", "SweepConfig", "load_configs", "load_yaml", "apply_overrides", "sweep_from_dict",
    "baseline_overrides",
]
