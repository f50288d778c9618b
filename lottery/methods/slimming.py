"""Network Slimming (Liu et al., ICCV 2017): train with L1 on BN gamma, prune channels, fine-tune.

Search phase: the full train.epochs of dense training with the L1 sub-gradient on every prunable
BN's gamma (the same hook as Early-Bird). Only at the END of training is the global channel mask
drawn at ratio p from |gamma| (no early detection: that is what Early-Bird adds); the channels are
removed physically and the smaller network is fine-tuned from the trained weights (phase "retrain").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from lottery.config import MethodParams, require
from lottery.methods.base import METHODS, TicketMethod, Trial
from lottery.methods.common import draw_then_retrain, input_shape
from lottery.pruning.channel_mask import bn_scores, global_channel_mask, kept_fraction
from lottery.pruning.channel_surgery import prune_channels
from lottery.pruning.regularizers import bn_l1_hook
from lottery.results import BEFORE_RETRAIN, CHANNELS_KEPT, SEARCH_EPOCHS
from lottery.training.loop import evaluate
from lottery.training.phase import run_phase


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
        require(0.0 < self.prune_ratio < 1.0, "method.prune_ratio", self.prune_ratio, "a number in (0, 1)")
        require(self.bn_l1 >= 0, "method.bn_l1", self.bn_l1, "a number >= 0")
        require(self.retrain_epochs >= 0, "method.retrain_epochs", self.retrain_epochs, "an integer >= 0")
        require(self.round_to >= 1, "method.round_to", self.round_to, "an integer >= 1 (1 = no rounding; 8 suits GPUs)")


@METHODS.register("slimming", help="Network Slimming: BN-L1 training, prune channels at the end, fine-tune")
class Slimming(TicketMethod[SlimmingParams]):
    """Train densely with BN L1 for train.epochs, prune channels by |gamma| globally, fine-tune."""

    Params = SlimmingParams
    final_columns = (SEARCH_EPOCHS, CHANNELS_KEPT, BEFORE_RETRAIN)
    summary_columns = ("method.prune_ratio",)

    def train(self, trial: Trial[SlimmingParams]) -> dict[str, Any]:
        return draw_then_retrain(
            trial, draw=self._train_and_prune, retrain_epochs=trial.params.retrain_epochs or trial.cfg.train.epochs,
            final_keys=tuple(c.name for c in self.final_columns),
        )

    def _train_and_prune(self, trial: Trial[SlimmingParams], dense: nn.Module) -> nn.Module:
        search = run_phase(
            phase="search", model=dense, epochs=trial.cfg.train.epochs, cfg=trial.cfg, data=trial.data,
            device=trial.device, session=trial.session, progress=trial.progress, resume=trial.resume,
            after_backward=bn_l1_hook(trial.params.bn_l1),
        )
        masks = global_channel_mask(bn_scores(search.model), trial.params.prune_ratio, trial.params.round_to)
        ticket = prune_channels(search.model, masks, input_shape(trial.data))
        trial.progress.method_state.update(
            search_epochs=search.epochs_run,
            channels_kept=kept_fraction(masks),
            ticket_val_accuracy_before_retrain=evaluate(ticket, trial.data.val, trial.device),
        )
        return ticket
