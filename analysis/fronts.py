"""Pareto fronts, hypervolume, seed intervals and budgets over a comparable group of trials.

Non-domination and hypervolume come from moocore (the maintained C core of the multi-objective
indicators used by pymoo and the EAF tools): Optuna 5 keeps its hypervolume under the private
`optuna._hypervolume`, and its public Pareto helpers need a Study, while these fronts also hold
baseline arms Optuna never saw.

Objectives here are one accuracy `y` (maximised) and one cost `x` (minimised). The hypervolume's
reference point is (x_ref, y_ref) = (1.1 x the dense baseline's cost, or 1.1 x the largest cost
observed when there is no baseline; accuracy 0): the area dominated by the front inside the box
[0, x_ref] x [0, 1]. `hypervolume_share` divides it by that box's area (x_ref x 1), so 1 would be a
free, perfect model.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import moocore
import numpy as np
import pandas as pd
from scipy import stats

from analysis.results import SEEDLESS_HASH, completed
from lottery.budgets import Budget
from lottery.budgets import parse_budget as parse_lottery_budget
from lottery.methods import METHODS

REFERENCE_MARGIN = 1.1
CONFIDENCE = 0.95


def nondominated(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Boolean mask of rows no other row dominates; exact ties are all kept."""
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(moocore.is_nondominated(values, maximise=maximize, keep_weakly=True), dtype=bool)


def front(points: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Rows of `points` on the (y max, x min) front, sorted by x; rows with a NaN objective are left out."""
    clean = points.dropna(subset=[x, y])
    if clean.empty:
        return clean
    mask = nondominated(clean[[y, x]].to_numpy(dtype=float), [True, False])
    return clean[mask].sort_values([x, y])


@dataclass(frozen=True)
class ReferencePoint:
    x: float
    y: float
    why: str

    def describe(self, x_name: str, y_name: str) -> str:
        return f"hypervolume reference point: {x_name} = {self.x:.4g}, {y_name} = {self.y:g} ({self.why})"


def reference_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """Completed trials of the reference method(s) (the dense baseline)."""
    references = [n for n in METHODS.names() if METHODS.get(n).reference]
    done = completed(trials)
    return done[done["method"].isin(references)] if "method" in done else done.iloc[0:0]


def reference_point(trials: pd.DataFrame, x: str) -> ReferencePoint:
    """(1.1 x dense cost, accuracy 0); without a dense row with that cost, 1.1 x the largest cost seen."""
    dense = reference_rows(trials)[x].dropna() if x in trials else pd.Series(dtype=float)
    if not dense.empty:
        return ReferencePoint(REFERENCE_MARGIN * float(dense.max()), 0.0, f"{REFERENCE_MARGIN} x the dense baseline's {x}; accuracy 0")
    seen = completed(trials)[x].dropna() if x in trials else pd.Series(dtype=float)
    if seen.empty:
        return ReferencePoint(float("nan"), 0.0, "no completed trial")
    return ReferencePoint(REFERENCE_MARGIN * float(seen.max()), 0.0, f"no dense baseline: {REFERENCE_MARGIN} x the largest {x} observed; accuracy 0")


def hypervolume(points: pd.DataFrame, x: str, y: str, ref: ReferencePoint) -> float:
    """Area dominated by the points inside the reference box (points outside it add nothing)."""
    clean = points.dropna(subset=[x, y])
    if clean.empty or math.isnan(ref.x):
        return 0.0
    values = clean[[y, x]].to_numpy(dtype=float)
    return float(moocore.hypervolume(values, ref=[ref.y, ref.x], maximise=[True, False]))


# --- seeds -------------------------------------------------------------------------------------

def interval(values: pd.Series) -> tuple[float, float, float, int]:
    """(mean, low, high, n) of the 95 % Student-t interval of the mean; n=1 has no interval (NaN)."""
    clean = values.dropna().astype(float)
    n = len(clean)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(clean.mean())
    if n == 1:
        return mean, float("nan"), float("nan"), 1
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * float(clean.std(ddof=1)) / math.sqrt(n)
    return mean, mean - half, mean + half, n


def seed_points(trials: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """One point per configuration (rows equal up to the seed): mean x and y over its completed seeds,
    the y interval (`{y}_low`, `{y}_high`), `seeds` (distinct seeds; repeats of a seed are averaged
    first) and the trial ids. Identity and config columns are the first row's."""
    done = completed(trials).dropna(subset=[x, y])
    if done.empty:
        return done.assign(seeds=pd.Series(dtype=int), trial_ids=pd.Series(dtype=str))
    rows = []
    for _, group in done.groupby(SEEDLESS_HASH, sort=False):
        first = group.iloc[0].to_dict()
        # repeats of one seed (a sampler proposing the same config twice) are one sample, not two seeds
        per_seed = group.groupby("seed")[[x, y]].mean()
        y_mean, low, high, n = interval(per_seed[y])
        first.update({
            x: float(per_seed[x].astype(float).mean()), y: y_mean, f"{y}_low": low, f"{y}_high": high, "seeds": n,
            "seed_list": ",".join(str(int(s)) for s in sorted(set(group["seed"].dropna()))),
            "trial_ids": ",".join(group["trial_id"].astype(str)),
        })
        rows.append(first)
    return pd.DataFrame(rows)


def hypervolume_by(trials: pd.DataFrame, x: str, y: str, ref: ReferencePoint, by: list[str]) -> pd.DataFrame:
    """Per `by` group (e.g. method): hypervolume of each seed's own front, then its mean, t-interval
    over seeds and the hypervolume of the seed-mean front."""
    done = completed(trials).dropna(subset=[x, y])
    box = ref.x * (1.0 - ref.y) if not math.isnan(ref.x) else float("nan")
    rows = []
    for values, group in done.groupby(by, sort=True):
        per_seed = pd.Series({int(seed): hypervolume(g, x, y, ref) for seed, g in group.groupby("seed")}, dtype=float)
        mean, low, high, n = interval(per_seed)
        row: dict[str, Any] = dict(zip(by, values if isinstance(values, tuple) else (values,)))
        row.update({
            "hypervolume": hypervolume(seed_points(group, x, y), x, y, ref),
            "hv_seed_mean": mean, "hv_seed_low": low, "hv_seed_high": high, "seeds": n,
            "hv_per_seed": " ".join(f"{s}:{v:.4g}" for s, v in per_seed.items()),
            "hypervolume_share": hypervolume(seed_points(group, x, y), x, y, ref) / box if box else float("nan"),
        })
        rows.append(row)
    return pd.DataFrame(rows)


# --- budgets -----------------------------------------------------------------------------------

def parse_budget(text: str, columns: list[str]) -> Budget:
    """`tickets analyze --budget flops<=2e6` -> Budget on a numeric column of the results."""
    return parse_lottery_budget(text, columns, "--budget")


def best_under(points: pd.DataFrame, budget: Budget, y: str) -> pd.Series | None:
    """The point with the best (mean) y that meets the budget; ties go to the cheaper budget column."""
    ok = points[budget.mask(points.dropna(subset=[budget.column, y])).reindex(points.index, fill_value=False)]
    if ok.empty:
        return None
    return ok.sort_values([y, budget.column], ascending=[False, True]).iloc[0]
