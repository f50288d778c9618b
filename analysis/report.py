"""What a finished sweep prints and draws: the front table and the accuracy-vs-FLOPs plot."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.pareto import feasible_rows, pareto_front  # noqa: E402
from orchestrator.budgets import Budget, describe  # noqa: E402
from lottery.methods import METHODS  # noqa: E402

# The front table's columns for every method; each method adds its own `summary_columns`.
FRONT_COLUMNS = [
    "trial_id", "method", "arm", "val_accuracy", "test_accuracy", "flops", "flops_ratio", "sparse_flops",
    "weight_sparsity", "params", "train_flops_total",
]


def front_columns(methods: list[str]) -> list[str]:
    """FRONT_COLUMNS with the summary columns the given methods declare after the identity columns."""
    own: list[str] = []
    for name in sorted(methods):
        if name in METHODS:
            own += [c for c in METHODS.get(name).summary_columns if c not in own and c not in FRONT_COLUMNS]
    return FRONT_COLUMNS[:3] + own + FRONT_COLUMNS[3:]


def reference_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """Completed trials of the reference method(s) (the dense baseline) every ticket is compared with."""
    references = [n for n in METHODS.names() if METHODS.get(n).reference]
    return trials[trials["method"].isin(references) & (trials["status"] == "completed")]


def _x_flops(trials: pd.DataFrame) -> pd.Series:
    """Sparse FLOPs where known (equal to FLOPs for dense and channel tickets), else FLOPs."""
    return trials["sparse_flops"].fillna(trials["flops"]) if "sparse_flops" in trials else trials["flops"]


def method_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per method: its best trial by val accuracy, that trial's cost, and the mean training cost.

    Costs are relative to the dense baseline when the sweep has one (`*_vs_dense` columns).
    """
    done = trials[trials["status"] == "completed"]
    if done.empty:
        return pd.DataFrame()
    dense = reference_rows(done)
    dense_train = float(dense["train_flops_total"].iloc[0]) if not dense.empty else float("nan")
    dense_flops = float(dense["flops"].iloc[0]) if not dense.empty else float("nan")
    rows = []
    for method, group in done.groupby("method"):
        best = group.sort_values(["val_accuracy", "flops"], ascending=[False, True]).iloc[0]
        rows.append({
            "method": method,
            "trials": len(group),
            "best_val_accuracy": best["val_accuracy"],
            "its_test_accuracy": best["test_accuracy"],
            "its_sparse_flops_vs_dense": _x_flops(group).loc[best.name] / dense_flops,
            "its_train_flops_vs_dense": best["train_flops_total"] / dense_train,
            "mean_train_flops_vs_dense": group["train_flops_total"].mean() / dense_train,
            "mean_wall_time_s": group["wall_time_s"].mean() if "wall_time_s" in group else float("nan"),
        })
    return pd.DataFrame(rows).sort_values("best_val_accuracy", ascending=False)


def front_table(trials: pd.DataFrame, objectives: list[tuple[str, str]]) -> pd.DataFrame:
    front = pareto_front(trials, objectives)
    columns = front_columns(list(front["method"].dropna().unique()) if "method" in front else [])
    return front[[c for c in columns if c in front.columns]]


def best_ticket_under(trials: pd.DataFrame, max_flops_ratio: float) -> pd.Series | None:
    """The completed non-dense trial with the best val accuracy at most `max_flops_ratio` of dense FLOPs."""
    done = trials[(trials["status"] == "completed") & ~trials.index.isin(reference_rows(trials).index)]
    small = done[done["flops_ratio"] <= max_flops_ratio]
    return None if small.empty else small.sort_values(["val_accuracy", "flops"], ascending=[False, True]).iloc[0]


TABLE_WIDTH = 120
_KEEP = ("trial_id", "method", "val_accuracy", "test_accuracy", "flops", "sparse_flops")  # dropped last when narrowing


def short_header(column: str) -> str:
    """`method.prune_ratio` -> `prune_ratio`, `val_accuracy` -> `val_acc`, `train_flops_total` -> `train_flops`."""
    name = column.removeprefix("method.").replace("_accuracy", "_acc").replace("_total", "")
    return {"trial_id": "trial", "flops_ratio": "flops%", "weight_sparsity": "w_sparsity"}.get(name, name)


def fit(table: pd.DataFrame, width: int = TABLE_WIDTH) -> str:
    """The table as text in at most `width` columns: columns with no value in any row left out, short
    headers, and then the least important columns dropped from the right until it fits (their full
    values are in Parquet; `tickets analyze --full` prints everything)."""
    if table.empty:
        return "(empty)"
    shown = table[[c for c in table.columns if table[c].notna().any()]].rename(columns=short_header)
    def render(frame: pd.DataFrame) -> str:
        return frame.to_string(index=False, float_format=lambda v: f"{v:.4g}")
    text = render(shown)
    keep = {short_header(c) for c in _KEEP}
    while max(len(line) for line in text.splitlines()) > width:
        droppable = [c for c in shown.columns if c not in keep]
        if not droppable:
            break
        shown = shown.drop(columns=droppable[-1])
        text = render(shown)
    return text


def format_front(trials: pd.DataFrame, objectives: list[tuple[str, str]], full: bool = False,
                 budgets: Sequence[Budget] = ()) -> str:
    """Human-readable front plus the dense baseline line for comparison; `full` prints every column.
    With budgets, the front is over feasible trials only, and the best feasible trial is named (or
    the absence of any)."""
    front = front_table(trials, objectives)
    done = int((trials["status"] == "completed").sum())
    if budgets:
        ok = feasible_rows(trials)
        lines = [f"Pareto front ({', '.join(f'{m} {d}' for m, d in objectives)}) of the {len(ok)} feasible trials "
                 f"(budgets: {describe(budgets)}): {len(front)} of {done} completed trials"]
        lines.append(_best_feasible(ok, objectives[0], budgets) if not ok.empty else
                     f"no feasible trial under budgets {describe(budgets)}: none of the {done} completed trials meets them"
                     + _rejected_note(trials))
    else:
        lines = [f"Pareto front ({', '.join(f'{m} {d}' for m, d in objectives)}): {len(front)} of {done} completed trials"]
    if full:
        lines.append(front.to_string(index=False, float_format=lambda v: f"{v:.4g}") if not front.empty else "(empty)")
    else:
        lines.append(fit(front))
    dense = reference_rows(trials)
    if not dense.empty:
        d = dense.iloc[0]
        lines.append(f"dense baseline: val_accuracy {d['val_accuracy']:.4f}, test_accuracy {d['test_accuracy']:.4f}, "
                     f"flops {int(d['flops'])}, train_flops_total {d['train_flops_total']:.4g}")
        best = best_ticket_under(trials, max_flops_ratio=0.5)
        if best is not None:
            lines.append(
                f"best ticket at <= 50% of dense FLOPs: {best['trial_id']} ({best['method']}), "
                f"{best['flops_ratio']:.1%} of dense FLOPs, val_accuracy {100 * (best['val_accuracy'] - d['val_accuracy']):+.2f} pts "
                f"and test_accuracy {100 * (best['test_accuracy'] - d['test_accuracy']):+.2f} pts vs dense, "
                f"training FLOPs {best['train_flops_total'] / d['train_flops_total']:.2f}x dense"
            )
    table = method_table(trials)
    if not table.empty and table["method"].nunique() > 1:
        lines.append("per method (best trial by val accuracy; costs relative to dense):")
        lines.append(table.to_string(index=False, float_format=lambda v: f"{v:.4g}") if full else fit(table))
    failed = trials[trials["status"] == "failed"]
    if not failed.empty:
        lines.append(f"{len(failed)} trial(s) failed: " + "; ".join(f"{r.trial_id}: {r.error}" for r in failed.itertuples()))
    for status, what in (("rejected", "rejected before training (over a budget)"), ("stopped", "stopped early by the scheduler")):
        n = int((trials["status"] == status).sum())
        if n:
            lines.append(f"{n} trial(s) {what}")
    if "reused_from" in trials and trials["reused_from"].notna().any():
        lines.append(f"{int(trials['reused_from'].notna().sum())} trial(s) reused a completed trial's result (not trained again)")
    return "\n".join(lines)


def _best_feasible(ok: pd.DataFrame, objective: tuple[str, str], budgets: Sequence[Budget]) -> str:
    """The feasible trial best on the first objective, with its budgeted figures."""
    metric, direction = objective
    best = ok.dropna(subset=[metric]).sort_values(metric, ascending=direction == "min")
    if best.empty:
        return f"no feasible trial reports {metric}"
    row = best.iloc[0]
    figures = ", ".join(f"{b.column} {row[b.column]:.4g}" for b in budgets if b.column in row and pd.notna(row[b.column]))
    return f"best under budgets {describe(budgets)}: {row['trial_id']} ({row['method']}), {metric} {row[metric]:.4f}, {figures}"


def _rejected_note(trials: pd.DataFrame) -> str:
    rejected = int((trials["status"] == "rejected").sum())
    return f"; {rejected} configuration(s) were rejected before training" if rejected else ""


def plot_front(trials: pd.DataFrame, path: Path, accuracy: str = "val_accuracy") -> Path:
    """Accuracy vs inference FLOPs: every completed trial, and each method's own front as a step line."""
    done = trials[trials["status"] == "completed"].assign(plot_flops=lambda d: _x_flops(d))
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    for i, (method, group) in enumerate(done.groupby("method")):
        color = f"C{i}"
        ax.scatter(group["plot_flops"], group[accuracy], label=method, s=36, alpha=0.8, color=color)
        front = pareto_front(group, [(accuracy, "max"), ("plot_flops", "min")]).sort_values("plot_flops")
        if len(front) > 1:
            ax.step(front["plot_flops"], front[accuracy], where="post", color=color, lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("inference FLOPs per sample (sparse FLOPs for weight-pruned tickets; log scale)")
    ax.set_ylabel(accuracy.replace("_", " "))
    ax.set_title(f"{done['sweep'].iloc[0] if not done.empty else ''}: accuracy vs FLOPs, front per method")
    return _save(fig, ax, path, legend=not done.empty)


def plot_training_cost(trials: pd.DataFrame, path: Path, accuracy: str = "val_accuracy") -> Path:
    """Accuracy vs total training FLOPs per method: what Early-Bird's early stop saves."""
    done = trials[trials["status"] == "completed"]
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    for i, (method, group) in enumerate(done.groupby("method")):
        ax.scatter(group["train_flops_total"], group[accuracy], label=method, s=36, alpha=0.8, color=f"C{i}")
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs spent (3 x forward FLOPs x samples seen; log scale)")
    ax.set_ylabel(accuracy.replace("_", " "))
    ax.set_title("accuracy vs training cost")
    return _save(fig, ax, path, legend=not done.empty)


def _save(fig: plt.Figure, ax: plt.Axes, path: Path, legend: bool) -> Path:
    ax.grid(alpha=0.3)
    if legend:
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
