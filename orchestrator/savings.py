"""What a sweep spent on training against what dense training of every trial would have cost.

Spent: each trial's own `train_flops_total` and wall time (a reused or rejected trial trained nothing
and spends 0; a stopped trial spent what it ran). Dense-equivalent: every trial row trained dense for
its full `train.epochs` = 3 x dense FLOPs per sample x training samples x epochs (the cost model of
`train_flops_total`), and, in time, the dense baseline's seconds per epoch x epochs. GPU-hours are
wall hours x `sweep.resources.gpu` (wall hours on a CPU-only sweep).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from lottery.config import DataConfig
from lottery.methods import METHODS

FLOPS_PER_FORWARD = 3  # forward + backward ~ 3 x forward, as train_flops_total counts


@dataclass(frozen=True)
class Savings:
    trials: int
    trained: int
    reused: int
    rejected: int
    stopped: int
    spent_flops: float
    dense_flops: float
    spent_hours: float
    dense_hours: float  # NaN without a dense baseline row to time an epoch
    gpu: float

    @property
    def flops_ratio(self) -> float:
        return self.spent_flops / self.dense_flops if self.dense_flops > 0 else float("nan")

    def text(self) -> str:
        unit = "GPU-hours" if self.gpu > 0 else "wall hours (CPU)"
        parts = [f"{self.trained} trained"]
        parts += [f"{n} {what}" for n, what in ((self.reused, "reused"), (self.rejected, "rejected before training"),
                                                (self.stopped, "stopped early")) if n]
        line = (f"training cost: {self.spent_flops:.3g} FLOPs and {self.spent_hours:.3g} {unit} spent on {self.trials} "
                f"trials ({', '.join(parts)}); dense training of every trial for its full train.epochs: "
                f"{self.dense_flops:.3g} FLOPs")
        if not math.isnan(self.dense_hours):
            line += f", about {self.dense_hours:.3g} {unit}"
        return line + f" (spent {self.flops_ratio:.2f}x of it)"


def training_savings(trials: pd.DataFrame, num_train: int, gpu: float) -> Savings:
    """The sweep's training cost against dense training of every trial (see the module docstring)."""
    status = trials["status"].astype(str)
    reused = trials["reused_from"].notna() if "reused_from" in trials else pd.Series(False, index=trials.index)
    spent = trials[~reused & (status != "rejected")]
    spent_flops = float(spent["train_flops_total"].fillna(0).sum())
    hours = float(spent["wall_time_s"].fillna(0).sum()) / 3600.0
    epochs = trials["train.epochs"].astype(float)
    dense_flops = float((FLOPS_PER_FORWARD * trials["dense_flops"].astype(float) * num_train * epochs).sum(skipna=True))
    references = [n for n in METHODS.names() if METHODS.get(n).reference]
    dense_rows = trials[trials["method"].isin(references) & (status == "completed")].dropna(subset=["wall_time_s", "epochs_trained"])
    dense_rows = dense_rows[dense_rows["epochs_trained"] > 0]
    per_epoch = float((dense_rows["wall_time_s"] / dense_rows["epochs_trained"]).mean()) if not dense_rows.empty else float("nan")
    dense_hours = per_epoch * float(epochs.sum()) / 3600.0
    scale = gpu if gpu > 0 else 1.0
    return Savings(
        trials=len(trials), trained=int((~reused & status.isin(["completed", "failed"])).sum()), reused=int(reused.sum()),
        rejected=int((status == "rejected").sum()), stopped=int((status == "stopped").sum()), spent_flops=spent_flops,
        dense_flops=dense_flops, spent_hours=hours * scale, dense_hours=dense_hours * scale, gpu=gpu,
    )


def savings_text(trials: pd.DataFrame, data: DataConfig, gpu: float) -> str:
    """The end-of-sweep line; '' for a sweep without rows."""
    if trials.empty:
        return ""
    from orchestrator.precost import data_shape

    return training_savings(trials, data_shape(data)[2], gpu).text()
