"""Sweep budgets: `flops<=5e7`, `latency_ms<=2`, `train_flops<=1e15` on any declared numeric result column.

A budget is a hard limit, not an objective: Optuna receives it as a constraint (feasible when the
value is <= 0) so its sampler steers toward configurations that meet it, and the front and the best
trial are taken over feasible trials only. The constraint value is the violation relative to the
bound ((value - bound) / |bound|), so budgets of very different scales (FLOPs and milliseconds)
weigh alike in the sampler's sum of violations.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from lottery.budgets import Budget
from lottery.budgets import parse_budget as parse_lottery_budget

SWEEP_OPS = ("<=", ">=")  # what Optuna's constraints express without strictness


def parse_budget(text: str, columns: Iterable[str]) -> Budget:
    """A `sweep.budgets` entry: COLUMN<=NUMBER or COLUMN>=NUMBER on a declared numeric result column."""
    return parse_lottery_budget(text, columns, "sweep.budgets", SWEEP_OPS)


def constraints(budgets: Iterable[Budget], values: Mapping[str, Any]) -> dict[str, float] | None:
    """{budget text: violation} for Optuna, or None when a budgeted value is missing (not judged)."""
    out: dict[str, float] = {}
    for budget in budgets:
        value = values.get(budget.column)
        if value is None or budget.met(value) is None:
            return None
        out[str(budget)] = budget.violation(float(value))
    return out


def feasible(budgets: Iterable[Budget], values: Mapping[str, Any]) -> bool | None:
    """True when every budget is met, False when one is not, None when a budgeted value is missing."""
    verdicts = [b.met(values.get(b.column)) for b in budgets]
    if any(v is False for v in verdicts):
        return False
    if any(v is None for v in verdicts):
        return None
    return True


def describe(budgets: Iterable[Budget]) -> str:
    return ", ".join(str(b) for b in budgets)
