"""A search space is a map {dotted config key: dimension}; sampling asks an Optuna trial for each.

Declarative (not a define-by-run function) so a sweep YAML can override it and the sweep can check
every bound against the config's validation before any trial runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union
from collections.abc import Callable

import optuna

from lottery.registry import Registry


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False

    def sample(self, trial: optuna.Trial, key: str) -> float:
        return trial.suggest_float(key, self.low, self.high, log=self.log)

    def extremes(self) -> list[Any]:
        return [self.low, self.high]


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False

    def sample(self, trial: optuna.Trial, key: str) -> int:
        return trial.suggest_int(key, self.low, self.high, log=self.log)

    def extremes(self) -> list[Any]:
        return [self.low, self.high]


@dataclass(frozen=True)
class Choice:
    options: tuple[Any, ...]

    def sample(self, trial: optuna.Trial, key: str) -> Any:
        return trial.suggest_categorical(key, list(self.options))

    def extremes(self) -> list[Any]:
        return list(self.options)


Dimension = Union[FloatRange, IntRange, Choice]


@dataclass(frozen=True)
class SearchSpace:
    """One method's dimensions keyed by dotted config keys (e.g. 'method.prune_ratio')."""

    method: str
    dimensions: dict[str, Dimension]

    def methods(self) -> list[str]:
        return [self.method]

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        return {key: dim.sample(trial, key) for key, dim in self.dimensions.items()}

    def corners(self) -> list[dict[str, Any]]:
        """Override sets that together touch every bound of every dimension (checked before a sweep)."""
        return [{key: value} for key, dim in self.dimensions.items() for value in dim.extremes()]

    def grid(self) -> dict[str, list[Any]] | None:
        """The full grid for Optuna's GridSampler, when every dimension is a Choice."""
        choices = {key: d for key, d in self.dimensions.items() if isinstance(d, Choice)}
        if len(choices) == len(self.dimensions):
            return {key: list(d.options) for key, d in choices.items()}
        return None


@dataclass(frozen=True)
class MatchedSparsitySpace:
    """Compare methods at matched sparsity levels: Optuna picks a method and a level, and each
    method turns the level into its own parameters (e.g. IMP picks the per-round rate that lands
    exactly on the level after its rounds)."""

    levels: tuple[float, ...]
    mapping: dict[str, Callable[[float], dict[str, Any]]]

    def methods(self) -> list[str]:
        return list(self.mapping)

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        method = trial.suggest_categorical("method.name", self.methods())
        level = trial.suggest_categorical("target_sparsity", list(self.levels))
        return self.overrides(method, float(level))

    def overrides(self, method: str, level: float) -> dict[str, Any]:
        return {"method.name": method, **self.mapping[method](level)}

    def corners(self) -> list[dict[str, Any]]:
        return [self.overrides(m, level) for m in self.mapping for level in self.levels]

    def grid(self) -> dict[str, list[Any]] | None:
        return {"method.name": self.methods(), "target_sparsity": list(self.levels)}


AnySpace = Union[SearchSpace, MatchedSparsitySpace]
SEARCH_SPACES: Registry[AnySpace] = Registry("search space")
