"""Early-Bird (You et al., ICLR 2020): the epoch x epoch mask-distance matrix (the paper's Figure 2)
and the detector's distance curve with the draw epoch marked (Figure 3), per trial.

The matrix needs every search epoch's mask: the method stores them as its `eb_masks` table (one bit
string per epoch); the curve is the epochs table's `mask_distance` (max distance to the queue).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis.methods.base import METHOD_REPORTS, ReportContext  # noqa: E402

METHOD = "earlybird"
MASKS_TABLE = "eb_masks"
MAX_TRIALS_SHOWN = 4


def distance_matrix(masks: list[str]) -> np.ndarray:
    """Normalized Hamming distance between every pair of bit-string masks (the detector's distance)."""
    bits = np.array([[c == "1" for c in m] for m in masks], dtype=bool)
    return (bits[:, None, :] != bits[None, :, :]).mean(axis=2) if len(bits) else np.zeros((0, 0))


def _shown_trials(trials: pd.DataFrame) -> pd.DataFrame:
    done = trials[(trials["method"] == METHOD) & (trials["status"] == "completed")]
    return done.sort_values("val_accuracy", ascending=False).head(MAX_TRIALS_SHOWN)


def plot_earlybird(trials: pd.DataFrame, masks: pd.DataFrame, epochs: pd.DataFrame, context: ReportContext) -> list[str]:
    shown = _shown_trials(trials)
    if shown.empty:
        return ["earlybird: no completed trials"]
    n = len(shown)
    fig, axes = plt.subplots(2, n, figsize=(4.2 * n, 7.6), squeeze=False)
    lines = ["earlybird: draw epoch and mask distance per trial (best val accuracy first)"]
    for col, (_, trial) in enumerate(shown.iterrows()):
        tid, eb_epoch = trial["trial_id"], trial.get("eb_epoch")
        own = masks[masks["trial_id"] == tid].sort_values("epoch") if not masks.empty else masks
        ax = axes[0][col]
        if not own.empty:
            matrix = distance_matrix(own["mask"].tolist())
            image = ax.imshow(matrix, cmap="viridis", origin="lower", extent=(-0.5, own["epoch"].max() + 0.5, -0.5, own["epoch"].max() + 0.5))
            fig.colorbar(image, ax=ax, fraction=0.046, label="mask distance")
        else:
            ax.text(0.5, 0.5, "no eb_masks rows\n(sweep older than the table)", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{tid}: p={trial.get('method.prune_ratio', float('nan')):.2f}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("epoch")
        curve = epochs[(epochs["trial_id"] == tid) & (epochs["phase"] == "search")].sort_values("epoch") if not epochs.empty else epochs
        ax = axes[1][col]
        if not curve.empty and "mask_distance" in curve:
            ax.plot(curve["epoch"], curve["mask_distance"], "-o", ms=3)
        eps = trial.get("method.eb_epsilon")
        if eps is not None and not pd.isna(eps):
            ax.axhline(eps, color="grey", ls=":", label=f"epsilon {eps:.3g}")
        if eb_epoch is not None and not pd.isna(eb_epoch) and eb_epoch >= 0:
            ax.axvline(eb_epoch, color="red", ls="--", label=f"drawn at epoch {int(eb_epoch)}")
        ax.set_xlabel("search epoch")
        ax.set_ylabel("max distance to the queued masks")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        lines.append(f"  {tid}: eb_epoch {eb_epoch}, search epochs {trial.get('search_epochs')}, "
                     f"channels kept {trial.get('channels_kept', float('nan')):.3f}, val_accuracy {trial['val_accuracy']:.4f}")
    fig.tight_layout()
    question = "When does the channel mask stop changing (pairwise epoch distances, top) and when did the detector draw the ticket (bottom)?"
    path = context.figure("earlybird_mask_distance", question)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    lines.append(f"plot: {path}")
    return lines


@METHOD_REPORTS.register(METHOD, help="Early-Bird: epoch x epoch mask-distance heatmap and the distance curve with the draw epoch")
def earlybird_report(trials: pd.DataFrame, context: ReportContext) -> list[str]:
    return plot_earlybird(trials, context.table(MASKS_TABLE), context.table("epochs"), context)
