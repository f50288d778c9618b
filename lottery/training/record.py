"""The per-epoch record every training loop reports (the COMMON_EPOCH_COLUMNS of lottery/results.py)."""
from __future__ import annotations

from typing import Any

from torch import nn

from lottery.measure import count_nonzero_params, count_params
from lottery.training.checkpoint import TrialProgress


def epoch_record(
    *, progress: TrialProgress, phase: str, phase_epoch: int, model: nn.Module, train_loss: float,
    val_accuracy: float, test_accuracy: float, lr: float, flops: int, sparse_flops: int | None = None,
    weight_sparsity: float | None = None, extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One epoch's metrics, after `progress` has counted the epoch. `sparse_flops` / `weight_sparsity`
    only for phases with unstructured masks; `extra` are the method's declared epoch columns."""
    record: dict[str, Any] = {
        "epoch": progress.global_epoch,
        "phase": phase,
        "phase_epoch": phase_epoch,
        "train_loss": train_loss,
        "val_accuracy": val_accuracy,
        "test_accuracy": test_accuracy,
        "lr": lr,
        "flops": flops,
        "params": count_params(model),
        "train_flops_cumulative": progress.train_flops,
        "wall_time_s": progress.wall_time_s,
        "nonzero_params": count_nonzero_params(model),
    }
    if sparse_flops is not None:
        record["sparse_flops"] = sparse_flops
    if weight_sparsity is not None:
        record["weight_sparsity"] = weight_sparsity
    record.update(extra or {})
    return record
