"""What a finished sweep prints and draws: the front table and the accuracy-vs-FLOPs plot."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.pareto import pareto_front  # noqa: E402

FRONT_COLUMNS = [
    "trial_id", "method", "arm", "method.prune_ratio", "val_accuracy", "test_accuracy", "flops", "flops_ratio",
    "params", "eb_epoch", "train_flops_total",
]


def front_table(trials: pd.DataFrame, objectives: list[tuple[str, str]]) -> pd.DataFrame:
    front = pareto_front(trials, objectives)
    return front[[c for c in FRONT_COLUMNS if c in front.columns]]


def best_ticket_under(trials: pd.DataFrame, max_flops_ratio: float) -> pd.Series | None:
    """The completed non-dense trial with the best val accuracy at most `max_flops_ratio` of dense FLOPs."""
    done = trials[(trials["status"] == "completed") & (trials["method"] != "dense")]
    small = done[done["flops_ratio"] <= max_flops_ratio]
    return None if small.empty else small.sort_values(["val_accuracy", "flops"], ascending=[False, True]).iloc[0]


def format_front(trials: pd.DataFrame, objectives: list[tuple[str, str]]) -> str:
    """Human-readable front plus the dense baseline line for comparison."""
    front = front_table(trials, objectives)
    lines = [f"Pareto front ({', '.join(f'{m} {d}' for m, d in objectives)}): {len(front)} of "
             f"{int((trials['status'] == 'completed').sum())} completed trials"]
    lines.append(front.to_string(index=False, float_format=lambda v: f"{v:.4g}") if not front.empty else "(empty)")
    dense = trials[(trials["method"] == "dense") & (trials["status"] == "completed")]
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
    failed = trials[trials["status"] != "completed"]
    if not failed.empty:
        lines.append(f"{len(failed)} trial(s) failed: " + "; ".join(f"{r.trial_id}: {r.error}" for r in failed.itertuples()))
    return "\n".join(lines)


def plot_front(trials: pd.DataFrame, path: Path, accuracy: str = "val_accuracy") -> Path:
    """Scatter of every completed trial (accuracy vs FLOPs) per method, the front drawn as a line."""
    done = trials[trials["status"] == "completed"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for method, group in done.groupby("method"):
        ax.scatter(group["flops"], group[accuracy], label=method, s=36, alpha=0.8)
    front = pareto_front(trials, [(accuracy, "max"), ("flops", "min")]).sort_values("flops")
    if not front.empty:
        ax.step(front["flops"], front[accuracy], where="post", color="black", lw=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_xlabel("inference FLOPs per sample (log scale)")
    ax.set_ylabel(accuracy.replace("_", " "))
    ax.set_title(f"{done['sweep'].iloc[0] if not done.empty else ''}: accuracy vs FLOPs")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
