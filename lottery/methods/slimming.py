"""Network Slimming (Liu et al., ICCV 2017): train with L1 on BN gamma, prune channels, fine-tune.

Search phase: the full train.epochs of dense training with the L1 sub-gradient on every prunable
BN's gamma (the same hook as Early-Bird). Only at the END of training is the global channel mask
drawn at ratio p from |gamma| (no early detection: that is what Early-Bird adds); the channels are
removed physically and the smaller network is fine-tuned from the trained weights (phase "retrain").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lottery.config import ExperimentConfig, MethodParams, _require
from lottery.methods.base import METHODS, Session
from lottery.methods.common import draw_then_retrain, input_shape
from lottery.methods.earlybird import bn_l1_hook
from lottery.pruning.channel_mask import bn_scores, global_channel_mask, kept_fraction
from lottery.pruning.channel_surgery import prune_channels
from lottery.training.loop import evaluate
from lottery.training.phase import TrialProgress, run_phase


@dataclass(frozen=True)
class SlimmingParams(MethodParams):
    """prune_ratio: fraction of prunable BN channels removed; bn_l1: sparsity coefficient lambda;
    retrain_epochs: fine-tuning epochs of the pruned network, 0 means train.epochs."""

    name: str = "slimming"
    prune_ratio: float = 0.5
    bn_l1: float = 1e-4
    retrain_epochs: int = 0
    round_to: int = 1  # kept channels per layer rounded to a multiple of N (torch-pruning's round_to; 1 = off)

    def __post_init__(self) -> None:
        _require(0.0 < self.prune_ratio < 1.0, "method.prune_ratio", self.prune_ratio, "a number in (0, 1)")
        _require(self.bn_l1 >= 0, "method.bn_l1", self.bn_l1, "a number >= 0")
        _require(self.retrain_epochs >= 0, "method.retrain_epochs", self.retrain_epochs, "an integer >= 0")
        _require(self.round_to >= 1, "method.round_to", self.round_to, "an integer >= 1 (1 = no rounding; 8 suits GPUs)")


@METHODS.register("slimming", help="Network Slimming: BN-L1 training, prune channels at the end, fine-tune")
class Slimming:
    """Train densely with BN L1 for train.epochs, prune channels by |gamma| globally, fine-tune."""

    Params = SlimmingParams

    def run(self, cfg: ExperimentConfig, session: Session) -> dict[str, Any]:
        p: SlimmingParams = cfg.method  # type: ignore[assignment]
        return draw_then_retrain(
            cfg, session,
            draw=lambda dense, data, device, progress, resume: self._train_and_prune(
                cfg, p, dense, data, device, session, progress, resume
            ),
            retrain_epochs=p.retrain_epochs or cfg.train.epochs,
            final_keys=("search_epochs", "channels_kept", "ticket_val_accuracy_before_retrain"),
        )

    def _train_and_prune(
        self, cfg: ExperimentConfig, p: SlimmingParams, dense: nn.Module, data: Any, device: torch.device,
        session: Session, progress: TrialProgress, resume: dict[str, Any] | None,
    ) -> nn.Module:
        search = run_phase(
            phase="search", model=dense, epochs=cfg.train.epochs, cfg=cfg, data=data, device=device,
            session=session, progress=progress, resume=resume, after_backward=bn_l1_hook(p.bn_l1),
        )
        masks = global_channel_mask(bn_scores(search.model), p.prune_ratio, p.round_to)
        ticket = prune_channels(search.model, masks, input_shape(data))
        progress.method_state.update(
            search_epochs=search.epochs_run,
            channels_kept=kept_fraction(masks),
            ticket_val_accuracy_before_retrain=evaluate(ticket, data.val, device),
        )
        return ticket
