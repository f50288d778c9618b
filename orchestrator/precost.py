"""What a configuration costs before it is trained, and which configurations cannot meet a budget.

The figures are exact, never estimates: the unpruned model's FLOPs and parameters at the dataset's
input shape (torch's FLOP counter, as the trials use), plus whatever the method declares fixed by the
config (`TicketMethod.known_costs`: an unstructured ticket keeps the dense FLOPs; a layer-wise random
mask's sparse FLOPs). A figure over a budget is therefore proof that training cannot meet it.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from lottery.codec import with_overrides
from lottery.config import DataConfig, ExperimentConfig
from lottery.errors import ConfigError
from lottery.measure import count_flops, count_params
from lottery.methods import METHODS
from lottery.models import create_model
from orchestrator.budgets import Budget, describe
from search_spaces.base import AnySpace

GRID_LIMIT = 512  # a grid space up to this many points is checked point by point


@lru_cache(maxsize=8)
def data_shape(data: DataConfig) -> tuple[tuple[int, int, int], int, int]:
    """(input shape, classes, training samples) of the configured dataset: loaded once per sweep."""
    from lottery.methods.base import load_data

    bundle = load_data(data, 0)
    return (bundle.in_channels, bundle.input_size, bundle.input_size), bundle.num_classes, bundle.num_train


def known_costs(cfg: ExperimentConfig) -> dict[str, float]:
    """Final columns the config fixes exactly before training: dense_flops, dense_params and the
    method's own (e.g. flops and params of an unstructured ticket)."""
    shape, classes, _ = data_shape(cfg.data)
    dense = create_model(cfg.model.name, in_channels=shape[0], num_classes=classes, input_size=shape[1], width=cfg.model.width)
    figures: dict[str, float] = {"dense_flops": count_flops(dense, shape), "dense_params": count_params(dense)}
    figures.update(METHODS.get(cfg.method.name).known_costs(cfg, dense, shape))
    return figures


def over_budget(budgets: list[Budget], figures: dict[str, Any]) -> list[Budget]:
    """The budgets that the known figures already break (budgets on unknown columns are not judged)."""
    return [b for b in budgets if b.column in figures and b.met(figures[b.column]) is False]


def rejection_reason(budgets: list[Budget], figures: dict[str, Any]) -> str:
    """One line naming each broken budget and the figure that breaks it; '' when none is broken."""
    broken = over_budget(budgets, figures)
    return "; ".join(f"{b.column} = {figures[b.column]:.4g} breaks {b}" for b in broken)


def check_budgets_reachable(base: ExperimentConfig, space: AnySpace, budgets: list[Budget]) -> None:
    """Refuse a sweep no configuration of which can meet its budgets, before anything is written.

    A grid (every dimension a choice, at most GRID_LIMIT points) is checked point by point. Otherwise
    the bounds of every dimension are: the budget is provably impossible when a known figure breaks it
    at every bound and does not change across them (the searched dimensions do not move that cost).
    """
    if not budgets:
        return
    grid = space.grid()
    points = _grid_points(grid) if grid is not None and _grid_size(grid) <= GRID_LIMIT else None
    exhaustive = points is not None
    overrides = _space_points(space, points) if points is not None else space.corners()
    figures = [known_costs(with_overrides(base, o)) for o in overrides] or [known_costs(base)]
    for budget in budgets:
        values = [f.get(budget.column) for f in figures]
        if any(v is None or budget.met(v) is not False for v in values):
            continue
        if exhaustive or len({float(v) for v in values if v is not None}) == 1:
            low, high = min(float(v) for v in values if v is not None), max(float(v) for v in values if v is not None)
            shown = f"{low:.4g}" if low == high else f"{low:.4g} to {high:.4g}"
            raise ConfigError(
                f"budget {budget} cannot be met: every configuration of search space {_space_name(space)!r} has "
                f"{budget.column} = {shown} before training (budgets: {describe(budgets)}); raise the bound or search "
                f"another space (e.g. a smaller model.width or a structured method)"
            )


def _grid_size(grid: dict[str, list[Any]]) -> int:
    size = 1
    for options in grid.values():
        size *= len(options)
    return size


def _grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = [{}]
    for key, options in grid.items():
        points = [{**p, key: o} for p in points for o in options]
    return points


def _space_points(space: AnySpace, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Grid points as config overrides (a matched-sparsity space maps its level to each method's params)."""
    from search_spaces.base import MatchedSparsitySpace

    if isinstance(space, MatchedSparsitySpace):
        return [space.overrides(p["method.name"], float(p["target_sparsity"])) for p in points]
    return points


def _space_name(space: AnySpace) -> str:
    from search_spaces import SEARCH_SPACES

    return next((n for n in SEARCH_SPACES.names() if SEARCH_SPACES.get(n) is space), type(space).__name__)
