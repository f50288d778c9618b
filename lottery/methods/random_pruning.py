"""Random pruning at initialisation: the control arm every ticket method must beat.

Unstructured: every prunable conv / linear layer loses the same fraction `sparsity` of its weights,
chosen by a seeded uniform draw; the mask stays fixed while the network trains for train.epochs.
Channel: every prunable BN keeps max(1, round((1 - sparsity) * n)) randomly drawn channels and the
network is physically shrunk before training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lottery.config import ExperimentConfig, MethodParams, _require
from lottery.methods.base import METHODS, Session
from lottery.methods.common import build_model, finish_trial, input_shape, prepare_trial, resume_progress
from lottery.pruning.channel_mask import kept_fraction
from lottery.pruning.channel_scores import fed_by_first_conv, layerwise_channel_mask, random_channel_scores
from lottery.pruning.channel_surgery import prune_channels
from lottery.pruning.weight_mask import WeightMasks, layerwise_topk_masks, prunable_weights, random_scores
from lottery.ticket import model_from_arch
from lottery.training.phase import run_phase

PATTERNS = ("unstructured", "channel")


def check_pruning_params(sparsity: float, pattern: str) -> None:
    """Validation shared by the prune-once methods (random, magnitude)."""
    _require(0.0 < sparsity < 1.0, "method.sparsity", sparsity, "a number in (0, 1)")
    _require(pattern in PATTERNS, "method.pattern", pattern, ", ".join(PATTERNS))


def resumed_masks(resume: dict[str, Any] | None) -> WeightMasks | None:
    """The unstructured masks a phase checkpoint carries (None for dense / channel phases)."""
    if resume is None or resume.get("masks") is None:
        return None
    return {k: v.bool() for k, v in resume["masks"].items()}


def channel_ticket(model: nn.Module, scores: list[torch.Tensor], sparsity: float, skip_first_conv: bool,
                   shape: tuple[int, int, int], round_to: int = 1) -> tuple[nn.Module, list[torch.Tensor]]:
    """Keep the best-scoring channels of each prunable BN (counts rounded to multiples of `round_to`)
    and cut the rest out physically."""
    keep_all = fed_by_first_conv(model, shape) if skip_first_conv else None
    masks = layerwise_channel_mask(scores, sparsity, keep_all, round_to)
    return prune_channels(model, masks, shape), masks


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
        _require(self.round_to >= 1, "method.round_to", self.round_to, "an integer >= 1 (1 = no rounding; 8 suits GPUs)")



@METHODS.register("random", help="random pruning at init (layer-wise weights or channels), then train: the control arm")
class RandomPruning:
    """Draw a seeded random mask at initialisation, train for train.epochs with it fixed."""

    Params = RandomParams

    def run(self, cfg: ExperimentConfig, session: Session) -> dict[str, Any]:
        p: RandomParams = cfg.method  # type: ignore[assignment]
        data, device = prepare_trial(cfg)
        resume = session.resume_state()
        progress = resume_progress(resume)
        shape = input_shape(data)
        masks: WeightMasks | None = None
        if p.pattern == "channel":
            if resume is not None:
                model = model_from_arch(resume["arch"])
            else:
                dense = build_model(cfg, data)
                model, channel_masks = channel_ticket(dense, random_channel_scores(dense, cfg.seed), p.sparsity,
                                                      p.skip_first_conv, shape, p.round_to)
                progress.method_state["channels_kept"] = kept_fraction(channel_masks)
        else:
            model = build_model(cfg, data)
            masks = resumed_masks(resume)
            if masks is None:
                weights = prunable_weights(model, p.skip_first_conv, p.skip_classifier)
                masks = layerwise_topk_masks(random_scores(weights, seed=cfg.seed), p.sparsity)
        result = run_phase(
            phase="train", model=model, epochs=cfg.train.epochs, cfg=cfg, data=data, device=device,
            session=session, progress=progress, resume=resume, masks=masks,
        )
        extra: dict[str, Any] = {"target_sparsity": p.sparsity}
        if p.pattern == "channel":
            extra["channels_kept"] = progress.method_state["channels_kept"]
        return finish_trial(
            model=result.model, data=data, dense_model=build_model(cfg, data), progress=progress,
            last_metrics=result.last_metrics, session=session, extra=extra, masks=masks,
        )
