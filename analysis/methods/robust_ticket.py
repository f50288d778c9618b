"""What `tickets analyze` shows for robust-ticket sweeps: transfer accuracy vs sparsity, robust vs vanilla.

Every robust_ticket row carries its own vanilla (epsilon = 0) ticket at the same sparsity and seed,
so the table reads the gap per row; the plot draws the robust tickets by epsilon and the vanilla
reference as a line per pattern.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.methods.base import METHOD_REPORTS, ReportContext  # noqa: E402

METHOD = "robust_ticket"
TABLE_COLUMNS = [
    "method.pattern", "method.sparsity", "method.epsilon", "transfer_accuracy", "vanilla_transfer_accuracy", "transfer_gap",
    "source_clean_accuracy", "source_robust_accuracy", "ticket_robust_accuracy", "vanilla_source_robust_accuracy",
    "sparse_flops", "flops", "nonzero_params", "params",
]


def robust_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """Completed robust_ticket trials, sorted by pattern, sparsity and epsilon."""
    if "method" not in trials or trials.empty:
        return trials.iloc[0:0]
    done = trials[(trials["method"] == METHOD) & (trials["status"] == "completed")]
    return done if done.empty else done.sort_values(["method.pattern", "method.sparsity", "method.epsilon"])


def format_robust(trials: pd.DataFrame) -> str:
    """One line per trial plus, per pattern and sparsity, the best epsilon and its gap to vanilla."""
    rows = robust_rows(trials)
    if rows.empty:
        return "robust tickets: no completed robust_ticket trials"
    table = rows[[c for c in TABLE_COLUMNS if c in rows.columns]].rename(columns=lambda c: c.removeprefix("method."))
    lines = ["robust tickets: transfer accuracy (mean test accuracy over downstream tasks) vs the vanilla ticket at the same sparsity",
             table.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
    downstream = _per_downstream(rows)
    if downstream is not None:
        lines += ["per downstream task (robust / vanilla test accuracy):", downstream.to_string(index=False, float_format=lambda v: f"{v:.4g}")]
    robust = rows[rows["method.epsilon"] > 0]
    if not robust.empty:
        best = robust.loc[robust.groupby(["method.pattern", "method.sparsity"])["transfer_val_accuracy"].idxmax()]
        lines.append("best epsilon per pattern and sparsity (by transfer val accuracy):")
        for _, r in best.iterrows():
            lines.append(f"  {r['method.pattern']:<12} sparsity {r['method.sparsity']:.2f}: epsilon {r['method.epsilon']:.4g}, "
                         f"transfer {r['transfer_accuracy']:.4f} vs vanilla {r['vanilla_transfer_accuracy']:.4f} "
                         f"({100 * r['transfer_gap']:+.2f} pts)")
    return "\n".join(lines)


def _per_downstream(rows: pd.DataFrame) -> pd.DataFrame | None:
    """The JSON per-task columns unpacked: one row per trial and downstream task."""
    if "transfer_accuracies" not in rows or rows["transfer_accuracies"].isna().all():
        return None
    out = []
    for _, r in rows.iterrows():
        robust = json.loads(r["transfer_accuracies"]) if isinstance(r["transfer_accuracies"], str) else {}
        vanilla = json.loads(r["vanilla_transfer_accuracies"]) if isinstance(r.get("vanilla_transfer_accuracies"), str) else {}
        for task, acc in robust.items():
            out.append({"pattern": r["method.pattern"], "sparsity": r["method.sparsity"], "epsilon": r["method.epsilon"],
                        "task": task, "robust": acc, "vanilla": vanilla.get(task, float("nan"))})
    return pd.DataFrame(out) if out else None


def plot_robust(trials: pd.DataFrame, path: Path) -> Path:
    """Transfer accuracy vs sparsity: robust tickets by epsilon (markers), vanilla reference (line), per pattern."""
    rows = robust_rows(trials)
    patterns = sorted(rows["method.pattern"].unique()) if not rows.empty else ["unstructured"]
    fig, axes = plt.subplots(1, len(patterns), figsize=(6.0 * len(patterns), 4.4), squeeze=False)
    epsilons = sorted(rows["method.epsilon"].unique()) if not rows.empty else []
    for ax, pattern in zip(axes[0], patterns):
        group = rows[rows["method.pattern"] == pattern]
        if "vanilla_transfer_accuracy" in group and group["vanilla_transfer_accuracy"].notna().any():
            vanilla = group.groupby("method.sparsity")["vanilla_transfer_accuracy"].mean()
            ax.plot(vanilla.index, vanilla.values, "k--o", label="vanilla ticket (epsilon 0)", lw=1.5)
        for i, eps in enumerate(e for e in epsilons if e > 0):
            points = group[group["method.epsilon"] == eps].sort_values("method.sparsity")
            if not points.empty:
                ax.plot(points["method.sparsity"], points["transfer_accuracy"], "-s", color=f"C{i}", label=f"robust, epsilon {eps:.4g}")
        ax.set_xlabel("sparsity (weights pruned; channels for pattern=channel)")
        ax.set_ylabel("transfer accuracy (mean over downstream tasks)")
        ax.set_title(f"robust vs vanilla tickets, {pattern}")
        ax.grid(alpha=0.3)
        if not group.empty:
            ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


@METHOD_REPORTS.register(METHOD, help="robust vs vanilla transfer tables and the transfer-vs-sparsity plot")
def robust_report(trials: pd.DataFrame, context: ReportContext) -> list[str]:
    path = context.figure("robust_transfer", "Do robust tickets transfer better than vanilla ones at the same sparsity, and for which epsilon?")
    return [format_robust(trials), f"plot: {plot_robust(trials, path)}"]
