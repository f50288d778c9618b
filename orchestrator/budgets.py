"""Sweep budgets: `flops<=5e7`, `latency_ms<=2`, `train_flops<=1e15` on any declared numeric result column.

A budget is a hard limit, not an objective: Optuna receives it as a constraint (feasible when the
value is <= 0) so its sampler steers toward configurations that meet it, and the front and the best
trial are taken over feasible trials only. The constraint value is the violation relative to the
bound ((value - bound) / |bound|), so budgets of very different scales (FLOPs and milliseconds)
weigh alike in the sampler's sum of violations.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lottery.errors import ConfigError

# Short names users type, as in `tickets analyze --x`: the column each stands for.
ALIASES = {"train_flops": "train_flops_total", "latency": "latency_ms"}
_BUDGET = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Budget:
    """`column <= bound` or `column >= bound` on one final result column."""

    column: str
    op: str  # "<=" | ">="
    bound: float

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.bound:g}"

    def violation(self, value: float) -> float:
        """Optuna's constraint value: <= 0 when met, else how far off relative to the bound."""
        excess = value - self.bound if self.op == "<=" else self.bound - value
        return excess / abs(self.bound) if self.bound != 0 else excess

    def met(self, value: Any) -> bool | None:
        """Whether `value` meets the budget; None when it is missing or not a finite number."""
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(float(value)):
            return None
        return self.violation(float(value)) <= 0


def parse_budget(text: str, columns: Iterable[str]) -> Budget:
    """'flops<=5e7' -> Budget; the column (or its alias) must be one of `columns`."""
    valid = sorted(columns)
    match = _BUDGET.match(str(text))
    if not match:
        raise ConfigError(f"invalid budget {text!r} in sweep.budgets; valid form: COLUMN<=NUMBER or COLUMN>=NUMBER, "
                          f"e.g. flops<=5e7, with COLUMN one of {', '.join(valid)}")
    name, op, number = match.groups()
    column = ALIASES.get(name, name)
    if column not in valid:
        raise ConfigError(f"invalid column {name!r} in budget {text!r} (sweep.budgets); valid: {', '.join(valid)}")
    try:
        bound = float(number)
    except ValueError:
        raise ConfigError(f"invalid number {number!r} in budget {text!r} (sweep.budgets); e.g. 5e7") from None
    if not math.isfinite(bound):
        raise ConfigError(f"invalid number {number!r} in budget {text!r} (sweep.budgets); valid: a finite number")
    return Budget(column, op, bound)


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
