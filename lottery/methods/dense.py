"""The dense baseline: train the unpruned model on the same recipe; every ticket is compared to it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from lottery.config import ExperimentConfig, MethodParams
from lottery.methods.base import METHODS, TicketMethod, Trial
from lottery.methods.common import build_model, finish_trial, unpruned_costs
from lottery.training.phase import run_phase


@dataclass(frozen=True)
class DenseParams(MethodParams):
    name: str = "dense"


@METHODS.register("dense", help="dense baseline: train the unpruned model (no ticket)")
class Dense(TicketMethod[DenseParams]):
    """Train the unpruned network for train.epochs."""

    Params = DenseParams
    reference = True

    @classmethod
    def known_costs(cls, cfg: ExperimentConfig, dense: nn.Module, shape: tuple[int, int, int]) -> dict[str, float]:
        costs = unpruned_costs(dense, shape)
        return {**costs, "sparse_flops": costs["flops"], "weight_sparsity": 0.0}

    def train(self, trial: Trial[DenseParams]) -> dict[str, Any]:
        result = run_phase(
            phase="train", model=build_model(trial.cfg, trial.data), epochs=trial.cfg.train.epochs, cfg=trial.cfg,
            data=trial.data, device=trial.device, session=trial.session, progress=trial.progress, resume=trial.resume,
        )
        return finish_trial(
            model=result.model, data=trial.data, dense_model=result.model, progress=trial.progress,
            last_metrics=result.last_metrics, session=trial.session, extra={},
        )
