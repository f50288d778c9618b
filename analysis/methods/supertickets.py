"""SuperTickets (Zhang et al., ECCV 2022): hidden channels kept per kernel path over the search, and
accuracy vs FLOPs with and without retraining against the search-then-prune baseline."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.methods.base import METHOD_REPORTS, ReportContext  # noqa: E402

METHOD = "supertickets"
BASELINE = "search_then_prune"
PATH_COLUMNS = ("channels_k3", "channels_k5", "channels_k7")


def plot_paths(trials: pd.DataFrame, epochs: pd.DataFrame, context: ReportContext) -> str:
    done = trials[(trials["method"] == METHOD) & (trials["status"] == "completed")]
    best = done.sort_values("val_accuracy", ascending=False).head(1)
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    if not best.empty and not epochs.empty:
        rows = epochs[(epochs["trial_id"] == best["trial_id"].iloc[0]) & (epochs["phase"] == "search")].sort_values("epoch")
        for i, col in enumerate(PATH_COLUMNS):
            if col in rows and rows[col].notna().any():
                label = col.removeprefix("channels_").replace("k", "kernel ")
                ax.plot(rows["epoch"], rows[col], ("-o", "--s", ":^")[i], ms=4, color=f"C{i}", label=label)
        ax.set_title(f"{best['trial_id'].iloc[0]}: hidden channels kept per kernel path during the search", fontsize=9)
        ax.legend(fontsize=8)
    ax.set_xlabel("search epoch")
    ax.set_ylabel("hidden channels kept (summed over blocks)")
    ax.grid(alpha=0.3)
    return _save(fig, context.figure("supertickets_paths", "Which kernel sizes does the joint search keep, and when does it settle?"))


def plot_retraining(trials: pd.DataFrame, context: ReportContext) -> str:
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    for i, method in enumerate((METHOD, BASELINE)):
        done = trials[(trials["method"] == method) & (trials["status"] == "completed")]
        if done.empty:
            continue
        cost = done["sparse_flops"].fillna(done["flops"]) if "sparse_flops" in done else done["flops"]
        ax.scatter(cost, done["val_accuracy"], marker="o", s=(40, 70)[i], facecolors="none" if i else f"C{i}", edgecolors=f"C{i}",
                   label=f"{method}, retrained")
        if "noretrain_val_accuracy" in done and done["noretrain_val_accuracy"].notna().any():
            ax.scatter(cost, done["noretrain_val_accuracy"], marker=("x", "+")[i], s=(40, 90)[i], color=f"C{i}",
                       label=f"{method}, without retraining")
    ax.set_xlabel("sparse FLOPs of the ticket (unmasked weights only)")
    ax.set_ylabel("val accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, context.figure("supertickets_retraining",
                                     "Do SuperTickets need retraining, and do they beat searching first and pruning after at equal FLOPs?"))


def _save(fig: plt.Figure, path: Path) -> str:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"plot: {path}"


@METHOD_REPORTS.register(METHOD, help="SuperTickets: channels per kernel path over the search; with/without retraining vs search-then-prune")
def supertickets_report(trials: pd.DataFrame, context: ReportContext) -> list[str]:
    return [plot_paths(trials, context.table("epochs"), context), plot_retraining(trials, context)]
