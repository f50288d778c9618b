"""One-shot magnitude pruning: train dense, prune once by magnitude, retrain with the mask fixed.

Unstructured: one global threshold over all prunable weights (the `sparsity` fraction with the
smallest |w| goes). Channel: in every prunable BN the channels whose producing conv filter has the
smallest L2 norm go, and the network is physically shrunk. `rewind=init` resets the surviving
weights (the whole state: weights, biases, BN) to their values at initialisation before
retraining -- the one-shot lottery ticket of Frankle & Carbin; `rewind=none` fine-tunes the
trained weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lottery.config import ExperimentConfig, MethodParams, require
from lottery.data import DataBundle
from lottery.methods.base import METHODS, TicketMethod, Trial
from lottery.methods.common import build_model, finish_trial, input_shape, unpruned_costs
from lottery.pruning.one_shot import channel_ticket, check_pruning_params
from lottery.results import BEFORE_RETRAIN, CHANNELS_KEPT, TARGET_SPARSITY
from lottery.training.checkpoint import TrialProgress, clone_state
from lottery.pruning.channel_mask import kept_fraction
from lottery.pruning.channel_scores import filter_norm_scores
from lottery.pruning.channel_surgery import prune_channels
from lottery.pruning.weight_mask import WeightMasks, apply_weight_masks_, global_topk_masks, magnitude_scores, prunable_weights
from lottery.ticket import model_from_arch
from lottery.training.loop import evaluate
from lottery.training.phase import run_phase

REWINDS = ("none", "init")


@dataclass(frozen=True)
class MagnitudeParams(MethodParams):
    """sparsity: fraction pruned (global over weights, or per layer over channels with pattern=channel);
    rewind: none (fine-tune) | init (rewind survivors to their initial values);
    retrain_epochs: 0 means train.epochs."""

    name: str = "magnitude"
    sparsity: float = 0.5
    pattern: str = "unstructured"
    skip_first_conv: bool = False
    skip_classifier: bool = True
    rewind: str = "none"
    retrain_epochs: int = 0

    def __post_init__(self) -> None:
        check_pruning_params(self.sparsity, self.pattern)
        require(self.rewind in REWINDS, "method.rewind", self.rewind, ", ".join(REWINDS))
        require(self.retrain_epochs >= 0, "method.retrain_epochs", self.retrain_epochs, "an integer >= 0")


@METHODS.register("magnitude", help="one-shot magnitude pruning (global weights or per-layer filter norms), optional rewind to init")
class MagnitudePruning(TicketMethod[MagnitudeParams]):
    """Train dense, prune once by magnitude, retrain (fine-tune or from the rewound initial weights)."""

    Params = MagnitudeParams
    final_columns = (TARGET_SPARSITY, BEFORE_RETRAIN, CHANNELS_KEPT)
    summary_columns = ("method.sparsity", "method.pattern")

    @classmethod
    def known_costs(cls, cfg: ExperimentConfig, dense: nn.Module, shape: tuple[int, int, int]) -> dict[str, float]:
        """An unstructured ticket is the dense network under a mask: its FLOPs and parameters are dense."""
        p = cfg.method
        return unpruned_costs(dense, shape) if isinstance(p, MagnitudeParams) and p.pattern == "unstructured" else {}

    def train(self, trial: Trial[MagnitudeParams]) -> dict[str, Any]:
        p, cfg, data, device, resume, progress = trial.params, trial.cfg, trial.data, trial.device, trial.resume, trial.progress
        dense = build_model(cfg, data)
        init_state = clone_state(dense)  # the seeded initialisation (identical on every resume)

        if resume is None or resume.phase == "train":
            trained = run_phase(
                phase="train", model=dense, epochs=cfg.train.epochs, cfg=cfg, data=data, device=device,
                session=trial.session, progress=progress, resume=resume,
            )
            ticket, masks = self._prune(cfg, p, trained.model, init_state, data, device, progress)
            retrain_resume = None
        else:
            ticket = model_from_arch(resume.arch) if p.pattern == "channel" else dense
            masks = resume.masks
            retrain_resume = resume

        result = run_phase(
            phase="retrain", model=ticket, epochs=p.retrain_epochs or cfg.train.epochs, cfg=cfg, data=data,
            device=device, session=trial.session, progress=progress, resume=retrain_resume, masks=masks,
        )
        ms = progress.method_state
        extra: dict[str, Any] = {
            "target_sparsity": p.sparsity,
            "ticket_val_accuracy_before_retrain": ms["val_accuracy_at_prune"],
        }
        if p.pattern == "channel":
            extra["channels_kept"] = ms["channels_kept"]
        return finish_trial(
            model=result.model, data=data, dense_model=build_model(cfg, data), progress=progress,
            last_metrics=result.last_metrics, session=trial.session, extra=extra, masks=masks,
        )

    def _prune(
        self, cfg: ExperimentConfig, p: MagnitudeParams, model: nn.Module, init_state: dict[str, torch.Tensor],
        data: DataBundle, device: torch.device, progress: TrialProgress,
    ) -> tuple[nn.Module, WeightMasks | None]:
        """Draw the mask from the trained weights; the accuracy before retraining is the pruned trained net's."""
        shape = input_shape(data)
        if p.pattern == "channel":
            ticket, channel_masks = channel_ticket(model, filter_norm_scores(model, shape), p.sparsity, p.skip_first_conv, shape)
            accuracy = evaluate(ticket, data.val, device)
            if p.rewind == "init":
                initial = build_model(cfg, data)
                initial.load_state_dict(init_state)
                ticket = prune_channels(initial, channel_masks, shape)
            progress.method_state.update(val_accuracy_at_prune=accuracy, channels_kept=kept_fraction(channel_masks))
            return ticket, None
        weights = prunable_weights(model, p.skip_first_conv, p.skip_classifier)
        masks = global_topk_masks(magnitude_scores(weights), p.sparsity)
        apply_weight_masks_(model, masks)
        accuracy = evaluate(model, data.val, device)
        if p.rewind == "init":
            model.load_state_dict(init_state)  # the retrain phase zeroes the pruned weights again
        progress.method_state.update(val_accuracy_at_prune=accuracy)
        return model, masks
