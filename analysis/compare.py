"""The comparison `tickets analyze` prints over any number of sweeps: per comparable group (dataset,
model, fidelity) the seed-mean points, the Pareto front of every method together, hypervolume per
method with its spread over seeds, and the best configuration under each budget.

Notebook use::

    from analysis.results import load_results
    from analysis.compare import analyze, format_analysis
    groups = analyze(load_results("results"), x="flops", y="val_accuracy")
    print(format_analysis(groups))
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.fronts import Budget, ReferencePoint, best_under, front, hypervolume_by, reference_point, seed_points
from analysis.results import comparable_groups, completed, group_label
from lottery.errors import ConfigError

# --x / --y names -> result columns (a name maps to the first column present).
X_CHOICES: dict[str, tuple[str, ...]] = {
    "flops": ("flops",), "sparse_flops": ("sparse_flops", "flops"), "params": ("params",),
    "latency": ("latency_ms",), "train_flops": ("train_flops_total",),
}
Y_CHOICES: dict[str, tuple[str, ...]] = {
    "val_accuracy": ("val_accuracy",), "test_accuracy": ("test_accuracy",),
    "robust_accuracy": ("robust_accuracy", "ticket_robust_accuracy"), "transfer_accuracy": ("transfer_accuracy",),
}
POINT_COLUMNS = ("method", "seeds", "seed_list", "trial_ids")


def resolve_axis(name: str, choices: dict[str, tuple[str, ...]], option: str, trials: pd.DataFrame) -> str:
    """The result column behind an --x / --y name; an unknown name, or one these results never
    filled, is a ConfigError listing the valid names."""
    if name not in choices:
        raise ConfigError(f"invalid value {name!r} for {option}; valid: {', '.join(choices)}")
    done = completed(trials)
    for column in choices[name]:
        if column in done and done[column].notna().any():
            return column
    filled = [n for n, cols in choices.items() if any(c in done and done[c].notna().any() for c in cols)]
    raise ConfigError(f"no values for {option} {name} (column {' or '.join(choices[name])}) in these results; "
                      f"valid here: {', '.join(filled) or 'none'}")


def check_by(by: list[str], trials: pd.DataFrame) -> list[str]:
    missing = [c for c in by if c not in trials]
    if missing:
        valid = sorted(c for c in trials.columns if c == "method" or c == "sweep" or "." in c)
        raise ConfigError(f"invalid column {missing[0]!r} for --by; valid: {', '.join(valid)}")
    return by


@dataclass
class GroupAnalysis:
    """Everything computed for one comparable group."""

    key: dict[str, object]
    label: str
    x: str
    y: str
    by: list[str]
    trials: pd.DataFrame
    points: pd.DataFrame  # one row per configuration (seed means)
    front: pd.DataFrame
    reference: ReferencePoint
    hypervolumes: pd.DataFrame
    budgets: list[tuple[Budget, pd.Series | None]] = field(default_factory=list)


def analyze(trials: pd.DataFrame, x: str = "flops", y: str = "val_accuracy", by: list[str] | None = None,
            budgets: list[Budget] | None = None, fidelity: int | str | None = None) -> list[GroupAnalysis]:
    """One GroupAnalysis per comparable group; mixed fidelities raise unless `fidelity` says which."""
    by = by or ["method"]
    out = []
    for key, group in comparable_groups(trials, fidelity):
        points = seed_points(group, x, y)
        ref = reference_point(group, x)
        out.append(GroupAnalysis(
            key=key, label=group_label(key), x=x, y=y, by=by, trials=group, points=points,
            front=front(points, x, y), reference=ref, hypervolumes=hypervolume_by(group, x, y, ref, by),
            budgets=[(b, best_under(points, b, y)) for b in budgets or []],
        ))
    return out


def point_table(points: pd.DataFrame, x: str, y: str, extra: list[str] | None = None) -> pd.DataFrame:
    """The columns a reader needs of seed-mean points: identity, objectives with interval, the config."""
    config = sorted(c for c in points.columns if c.startswith("method.") and c != "method.name" and points[c].notna().any())
    cols = ["method", y, f"{y}_low", f"{y}_high", x, "seeds", *(extra or []), *config, "trial_ids"]
    seen: list[str] = []
    for c in cols:
        if c in points and c not in seen:
            seen.append(c)
    return points[seen]


def format_analysis(groups: list[GroupAnalysis]) -> str:
    """The text `tickets analyze` prints for the comparison."""
    lines: list[str] = []
    fmt = lambda v: f"{v:.4g}"  # noqa: E731
    for g in groups:
        done = completed(g.trials)
        lines.append(f"== {g.label}: {len(done)} completed trials, {len(g.points)} configurations, "
                     f"sweeps {', '.join(sorted(done['sweep'].dropna().unique())) if 'sweep' in done else ''} ==")
        lines.append(g.reference.describe(g.x, g.y))
        lines.append(f"Pareto front ({g.y} max, {g.x} min) over all methods, seed means "
                     f"(low/high: 95 % t-interval over seeds, none for one seed):")
        lines.append(point_table(g.front, g.x, g.y).to_string(index=False, float_format=fmt) if not g.front.empty else "(empty)")
        if not g.hypervolumes.empty:
            lines.append(f"hypervolume per {', '.join(g.by)} (front of seed means; per seed: mean and 95 % interval):")
            lines.append(g.hypervolumes.to_string(index=False, float_format=fmt))
        for budget, best in g.budgets:
            if best is None:
                lines.append(f"best under {budget}: no configuration meets it")
            else:
                lines.append(f"best under {budget}: {best['method']} {g.y}={best[g.y]:.4g} ({int(best['seeds'])} seed(s)), "
                             f"{budget.column}={best[budget.column]:.4g}, trials {best['trial_ids']}")
        failed = g.trials[g.trials["status"] != "completed"] if "status" in g.trials else g.trials.iloc[0:0]
        if not failed.empty:
            lines.append(f"{len(failed)} failed trial(s) left out: " + "; ".join(f"{r.trial_id}: {r.error}" for r in failed.itertuples()))
        lines.append("")
    return "\n".join(lines).rstrip()
