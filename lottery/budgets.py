"""A budget on one result column (`flops<=5e7`, `latency_ms<2`, `val_accuracy>=0.9`): one type and one
parser for both its users, the sweep (`sweep.budgets`: Optuna constraints, feasibility) and the
analysis (`tickets analyze --budget`: best ticket under the budget)."""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lottery.errors import ConfigError

# Short names users type, as in `tickets analyze --x`: the column each stands for.
ALIASES = {"train_flops": "train_flops_total", "latency": "latency_ms"}
OPS = ("<=", "<", ">=", ">")
_BUDGET = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(<=|>=|<|>)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Budget:
    """`column op bound`, op one of OPS."""

    column: str
    op: str
    bound: float

    def __str__(self) -> str:
        return f"{self.column}{self.op}{self.bound:g}"

    def violation(self, value: float) -> float:
        """Optuna's constraint value: <= 0 when met (a strict bound counts as met at equality, the
        samplers know no strictness), else how far off, relative to the bound."""
        excess = value - self.bound if self.op in ("<=", "<") else self.bound - value
        return excess / abs(self.bound) if self.bound != 0 else excess

    def met(self, value: Any) -> bool | None:
        """Whether `value` meets the budget; None when it is missing or not a finite number."""
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(float(value)):
            return None
        return _compare(float(value), self.op, self.bound)

    def mask(self, frame: pd.DataFrame) -> pd.Series:
        """Rows of `frame` whose column meets the budget (missing values do not)."""
        return _compare(frame[self.column].astype(float), self.op, self.bound)


def _compare(value: Any, op: str, bound: float) -> Any:
    return {"<=": value <= bound, "<": value < bound, ">=": value >= bound, ">": value > bound}[op]


def parse_budget(text: str, columns: Iterable[str], where: str = "sweep.budgets", ops: tuple[str, ...] = OPS) -> Budget:
    """'flops<=5e7' -> Budget; the column (or its alias) must be one of `columns`, the operator one of
    `ops`. `where` names the setting in the error message."""
    valid = sorted(columns)
    forms = " or ".join(f"COLUMN{op}NUMBER" for op in ops)
    match = _BUDGET.match(str(text))
    if not match or match.group(2) not in ops:
        raise ConfigError(f"invalid budget {text!r} in {where}; valid form: {forms}, e.g. flops<=5e7, "
                          f"with COLUMN one of {', '.join(valid)}")
    name, op, number = match.groups()
    column = ALIASES.get(name, name)
    if column not in valid:
        raise ConfigError(f"invalid column {name!r} in budget {text!r} ({where}); valid: {', '.join(valid)}")
    try:
        bound = float(number)
    except ValueError:
        raise ConfigError(f"invalid number {number!r} in budget {text!r} ({where}); e.g. 5e7") from None
    if not math.isfinite(bound):
        raise ConfigError(f"invalid number {number!r} in budget {text!r} ({where}); valid: a finite number")
    return Budget(column, op, bound)
