"""A search space is a map {dotted config key: dimension}; sampling asks an Optuna trial for each.

Declarative (not a define-by-run function) so a sweep YAML can override it and the sweep can check
every bound against the config's validation before any trial runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

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
    """Dimensions keyed by dotted config keys (e.g. 'method.prune_ratio')."""

    method: str
    dimensions: dict[str, Dimension]

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        return {key: dim.sample(trial, key) for key, dim in self.dimensions.items()}


SEARCH_SPACES: Registry[SearchSpace] = Registry("search space")

