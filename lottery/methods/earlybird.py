"""Early-Bird tickets (You et al., ICLR 2020): detect the channel ticket early, stop, train only it.

Search phase: dense training with an L1 sub-gradient on BN gamma; after every epoch the global
channel mask at ratio p is pushed into the detector. When the newest mask is within epsilon of the
4 before it (queue of 5), the ticket is drawn, the dense run stops and the physically pruned ticket
is retrained (from the Early-Bird weights, or re-initialised).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lottery.config import MethodParams, require
from lottery.methods.base import METHODS, TicketMethod, Trial, seed_everything
from lottery.methods.common import draw_then_retrain, input_shape
from lottery.models.base import stored_arch
from lottery.pruning.regularizers import bn_l1_hook
from lottery.results import BEFORE_RETRAIN, CHANNELS_KEPT, SEARCH_EPOCHS, Column, columns
from lottery.ticket import model_from_arch
from lottery.pruning.channel_mask import bn_scores, flatten_mask, global_channel_mask, kept_fraction
from lottery.pruning.channel_surgery import prune_channels
from lottery.pruning.earlybird_detector import EarlyBirdDetector
from lottery.training.loop import evaluate
from lottery.training.phase import run_phase

RETRAIN_INITS = ("continue", "reinit")
EB_MASKS_TABLE = "eb_masks"


@dataclass(frozen=True)
class EarlyBirdParams(MethodParams):
    """prune_ratio: fraction of prunable BN channels removed; bn_l1: sparsity coefficient lambda;
    max_search_epochs / retrain_epochs: 0 means train.epochs."""

    name: str = "earlybird"
    prune_ratio: float = 0.5
    bn_l1: float = 1e-4
    eb_epsilon: float = 0.1
    eb_queue: int = 5
    max_search_epochs: int = 0
    retrain_epochs: int = 0
    retrain_init: str = "continue"
    round_to: int = 1  # kept channels per layer rounded to a multiple of N (torch-pruning's round_to; 1 = off)

    def __post_init__(self) -> None:
        require(0.0 < self.prune_ratio < 1.0, "method.prune_ratio", self.prune_ratio, "a number in (0, 1)")
        require(self.bn_l1 >= 0, "method.bn_l1", self.bn_l1, "a number >= 0")
        require(0.0 <= self.eb_epsilon <= 1.0, "method.eb_epsilon", self.eb_epsilon, "a number in [0, 1]")
        require(self.eb_queue >= 2, "method.eb_queue", self.eb_queue, "an integer >= 2")
        require(self.max_search_epochs >= 0, "method.max_search_epochs", self.max_search_epochs, "an integer >= 0")
        require(self.retrain_epochs >= 0, "method.retrain_epochs", self.retrain_epochs, "an integer >= 0")
        require(self.retrain_init in RETRAIN_INITS, "method.retrain_init", self.retrain_init, ", ".join(RETRAIN_INITS))
        require(self.round_to >= 1, "method.round_to", self.round_to, "an integer >= 1 (1 = no rounding; 8 suits GPUs)")


@METHODS.register("earlybird", help="Early-Bird tickets: BN-gamma channel mask, mask-distance detector, retrain the ticket")
class EarlyBird(TicketMethod[EarlyBirdParams]):
    """Search with BN L1 until the mask stabilises, prune channels physically, retrain the ticket."""

    Params = EarlyBirdParams
    final_columns = (
        Column("eb_epoch", int, "epoch at which the Early-Bird ticket was drawn (-1: never detected)"),
        Column("eb_detected", bool, "whether the detector fired before max_search_epochs"),
        SEARCH_EPOCHS, CHANNELS_KEPT, BEFORE_RETRAIN,
    )
    epoch_columns = (
        Column("mask_distance", float, "max normalized Hamming distance of the newest mask to the queued ones"),
        Column("eb_drawn", bool, "whether the ticket has been drawn"),
    )
    # Every search epoch's global channel mask, so the analysis can draw the paper's epoch x epoch
    # mask-distance matrix (the epochs table keeps only the distance to the detector's queue).
    tables = {EB_MASKS_TABLE: columns(
        ("epoch", int, "search epochs trained when the mask was taken (0 = at initialisation)"),
        ("mask", str, "the global channel mask as a bit string, '1' = channel kept"),
    )}
    summary_columns = ("method.prune_ratio", "eb_epoch")

    def train(self, trial: Trial[EarlyBirdParams]) -> dict[str, Any]:
        return draw_then_retrain(
            trial, draw=self._search_and_draw, retrain_epochs=trial.params.retrain_epochs or trial.cfg.train.epochs,
            final_keys=(*(c.name for c in self.final_columns), EB_MASKS_TABLE), retrain_metrics={"eb_drawn": True},
        )

    def _search_and_draw(self, trial: Trial[EarlyBirdParams], dense: nn.Module) -> nn.Module:
        p, cfg, data, device, resume = trial.params, trial.cfg, trial.data, trial.device, trial.resume
        detector = EarlyBirdDetector(p.eb_queue, p.eb_epsilon)
        mask_rows: list[dict[str, Any]] = trial.progress.method_state.setdefault(EB_MASKS_TABLE, [])
        if resume is None:
            initial = flatten_mask(global_channel_mask(bn_scores(dense), p.prune_ratio, p.round_to))
            detector.push(initial)  # the mask at init
            mask_rows[:] = [{"epoch": 0, "mask": _bits(initial)}]
        else:
            detector.load_state_dict(resume.extra["detector"])

        def on_epoch_end(model: nn.Module, epoch: int) -> tuple[dict[str, Any], dict[str, Any], bool]:
            mask = flatten_mask(global_channel_mask(bn_scores(model), p.prune_ratio, p.round_to))
            mask_rows.append({"epoch": epoch + 1, "mask": _bits(mask)})
            fired = detector.push(mask)
            return {"mask_distance": detector.max_distance(), "eb_drawn": fired}, {"detector": detector.state_dict()}, fired

        search = run_phase(
            phase="search", model=dense, epochs=p.max_search_epochs or cfg.train.epochs, cfg=cfg, data=data,
            device=device, session=trial.session, progress=trial.progress, resume=resume,
            after_backward=bn_l1_hook(p.bn_l1), on_epoch_end=on_epoch_end,
        )
        masks = global_channel_mask(bn_scores(search.model), p.prune_ratio, p.round_to)
        ticket = prune_channels(search.model, masks, input_shape(data))
        accuracy_before_retrain = evaluate(ticket, data.val, device)
        if p.retrain_init == "reinit":
            seed_everything(cfg.seed + 1)
            ticket = model_from_arch(stored_arch(ticket))
        trial.progress.method_state.update(
            eb_epoch=search.epochs_run if search.stopped_early else -1,
            eb_detected=search.stopped_early,
            search_epochs=search.epochs_run,
            channels_kept=kept_fraction(masks),
            ticket_val_accuracy_before_retrain=accuracy_before_retrain,
        )
        return ticket


def _bits(mask: torch.Tensor) -> str:
    """A flat bool mask as a '0'/'1' string: compact in Parquet and readable by any analysis tool."""
    return "".join("1" if kept else "0" for kept in mask.tolist())
