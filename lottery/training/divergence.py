"""Divergence: a trial whose training loss or weights stop being finite ends at that epoch.

A diverged model predicts one class (NaN logits argmax to 0), so letting it finish would record a
chance-level "result" that an optimiser and the Pareto front would take at face value. The check
runs once per epoch on the loss and the parameters; the host records the epoch's (non-finite)
metrics and marks the trial failed.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

DIVERGED_PREFIX = "diverged at epoch"


class TrialDiverged(Exception):
    """Raised instead of reporting an epoch whose loss or weights are not finite.

    Not a TicketsError: it is a trial's outcome, not bad input. `metrics` are the epoch's metrics,
    for the host to record before it marks the trial failed.
    """

    def __init__(self, epoch: int, what: str, metrics: dict[str, Any]) -> None:
        super().__init__(f"{DIVERGED_PREFIX} {epoch} ({what})")
        self.epoch = epoch
        self.metrics = metrics


def non_finite(loss: float, model: nn.Module) -> str | None:
    """What is not finite ('train_loss=nan', 'non-finite weights'), or None when all is finite."""
    if not math.isfinite(loss):
        return f"train_loss={loss}"
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                return f"non-finite values in {name}"
    return None


def check_epoch(loss: float, model: nn.Module, metrics: dict[str, Any]) -> None:
    """Raise TrialDiverged for this epoch (metrics hold 'epoch') if anything is not finite."""
    what = non_finite(loss, model)
    if what is not None:
        raise TrialDiverged(int(metrics["epoch"]), what, metrics)
