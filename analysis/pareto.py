"""Non-dominated (Pareto) filtering of a results table.

A few lines of numpy over a DataFrame: Optuna's own Pareto helpers work on its study objects
only, and the front here must also cover baseline arms that Optuna never sees.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def pareto_mask(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Boolean mask of rows not dominated by any other row (ties are kept)."""
    signed = np.where(np.array(maximize), -values, values)  # turn everything into minimisation
    n = len(signed)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        others = np.delete(signed, i, axis=0)
        dominated = np.any(np.all(others <= signed[i], axis=1) & np.any(others < signed[i], axis=1))
        keep[i] = not dominated
    return keep


def pareto_front(df: pd.DataFrame, objectives: list[tuple[str, str]]) -> pd.DataFrame:
    """Rows of completed trials on the front, sorted by the last objective."""
    done = df[df["status"] == "completed"].dropna(subset=[m for m, _ in objectives])
    if done.empty:
        return done
    mask = pareto_mask(done[[m for m, _ in objectives]].to_numpy(dtype=float), [d == "max" for _, d in objectives])
    return done[mask].sort_values(objectives[-1][0])
