"""Non-dominated (Pareto) filtering of a results table.

Non-domination comes from moocore (see analysis/fronts.py for why not Optuna's helpers: they work
on study objects only, and the front here must also cover baseline arms that Optuna never sees).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.fronts import nondominated


def feasible_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Completed trials that meet their sweep's budgets (rows without a verdict, from sweeps without
    budgets or written before budgets existed, count as feasible)."""
    done = df[df["status"] == "completed"]
    return done[done["feasible"].astype("boolean").fillna(True).astype(bool)] if "feasible" in done else done


def pareto_mask(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Boolean mask of rows not dominated by any other row (ties are kept)."""
    return nondominated(np.asarray(values, dtype=float), maximize)


def pareto_front(df: pd.DataFrame, objectives: list[tuple[str, str]]) -> pd.DataFrame:
    """Rows of completed, feasible trials on the front, sorted by the last objective (a row that breaks
    its sweep's budgets, `feasible` false, is never on it)."""
    done = feasible_rows(df).dropna(subset=[m for m, _ in objectives])
    if done.empty:
        return done
    mask = pareto_mask(done[[m for m, _ in objectives]].to_numpy(dtype=float), [d == "max" for _, d in objectives])
    return done[mask].sort_values(objectives[-1][0])
