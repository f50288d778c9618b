"""Random pruning at initialisation: the control arm every ticket method must beat.

Unstructured: every prunable conv / linear layer loses the same fraction `sparsity` of its weights,
chosen by a seeded uniform draw; the mask stays fixed while the network trains for train.epochs.
Channel: every prunable BN keeps max(1, round((1 - sparsity) * n)) randomly drawn channels and the
network is physically shrunk before training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from lottery.config import ExperimentConfig, MethodParams, require
from lottery.methods.base import METHODS, TicketMethod, Trial
from lottery.measure import count_sparse_flops
from lottery.methods.common import build_model, finish_trial, input_shape, unpruned_costs
from lottery.pruning.channel_mask import kept_fraction
from lottery.pruning.channel_scores import random_channel_scores
from lottery.pruning.one_shot import channel_ticket, check_pruning_params
from lottery.results import CHANNELS_KEPT, TARGET_SPARSITY
from lottery.pruning.weight_mask import WeightMasks, layerwise_topk_masks, mask_sparsity, prunable_weights, random_scores
from lottery.ticket import model_from_arch
from lottery.training.phase import run_phase

@dataclass(frozen=True)
class RandomParams(MethodParams):
    """sparsity: fraction pruned in every prunable layer (weights, or channels with pattern=channel);
    skip_first_conv / skip_classifier: leave those layers dense (unstructured; channel: first conv only)."""

    name: str = "random"
    sparsity: float = 0.5
    pattern: str = "unstructured"
    skip_first_conv: bool = False
    skip_classifier: bool = True
    round_to: int = 1  # pattern=channel: kept channels per layer rounded to a multiple of N (1 = off)

    def __post_init__(self) -> None:
        check_pruning_params(self.sparsity, self.pattern)
        require(self.round_to >= 1, "method.round_to", self.round_to, "an integer >= 1 (1 = no rounding; 8 suits GPUs)")



@METHODS.register("random", help="random pruning at init (layer-wise weights or channels), then train: the control arm")
class RandomPruning(TicketMethod[RandomParams]):
    """Draw a seeded random mask at initialisation, train for train.epochs with it fixed."""

    Params = RandomParams
    final_columns = (TARGET_SPARSITY, CHANNELS_KEPT)
    summary_columns = ("method.sparsity", "method.pattern")

    @classmethod
    def known_costs(cls, cfg: ExperimentConfig, dense: nn.Module, shape: tuple[int, int, int]) -> dict[str, float]:
        """Unstructured: every prunable layer loses exactly `sparsity` of its weights, so the sparse
        FLOPs are known too (the same per-layer counts as the trial's own mask, whatever the seed)."""
        p = cfg.method
        if not isinstance(p, RandomParams) or p.pattern != "unstructured":
            return {}
        masks = layerwise_topk_masks(random_scores(prunable_weights(dense, p.skip_first_conv, p.skip_classifier), seed=cfg.seed),
                                     p.sparsity)
        return {**unpruned_costs(dense, shape), "sparse_flops": count_sparse_flops(dense, shape, masks),
                "weight_sparsity": mask_sparsity(masks)}

    def train(self, trial: Trial[RandomParams]) -> dict[str, Any]:
        p, cfg, data, resume = trial.params, trial.cfg, trial.data, trial.resume
        masks: WeightMasks | None = None
        if p.pattern == "channel":
            if resume is not None:
                model = model_from_arch(resume.arch)
            else:
                dense = build_model(cfg, data)
                model, channel_masks = channel_ticket(dense, random_channel_scores(dense, cfg.seed), p.sparsity,
                                                       p.skip_first_conv, input_shape(data), p.round_to)
                trial.progress.method_state["channels_kept"] = kept_fraction(channel_masks)
        else:
            model = build_model(cfg, data)
            masks = resume.masks if resume is not None else None
            if masks is None:
                weights = prunable_weights(model, p.skip_first_conv, p.skip_classifier)
                masks = layerwise_topk_masks(random_scores(weights, seed=cfg.seed), p.sparsity)
        result = run_phase(
            phase="train", model=model, epochs=cfg.train.epochs, cfg=cfg, data=data, device=trial.device,
            session=trial.session, progress=trial.progress, resume=resume, masks=masks,
        )
        extra: dict[str, Any] = {"target_sparsity": p.sparsity}
        if p.pattern == "channel":
            extra["channels_kept"] = trial.progress.method_state["channels_kept"]
        return finish_trial(
            model=result.model, data=data, dense_model=build_model(cfg, data), progress=trial.progress,
            last_metrics=result.last_metrics, session=trial.session, extra=extra, masks=masks,
        )
