"""Pruning at initialisation: score the weights of the untrained network once, fix the mask, train.

SNIP (Lee et al. 2019), GraSP (Wang et al. 2020) and SynFlow (Tanaka et al. 2020) differ only in
the score (see `lottery.pruning.init_scores`); the mask hits the target sparsity exactly over
`prunable_weights(model, skip_first_conv, skip_classifier)` and stays fixed while the sparse
network trains for train.epochs (phase "train"; `run_phase` re-zeroes pruned weights after every
step and checkpoints the mask, so a resumed trial keeps the mask it drew).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from lottery.config import ExperimentConfig, MethodParams, require
from lottery.data import DataBundle
from lottery.methods.base import METHODS, TicketMethod, Trial
from lottery.methods.common import build_model, finish_trial, input_shape, unpruned_costs
from lottery.pruning.init_scores import grasp_masks, grasp_scores, snip_scores, synflow_masks
from lottery.pruning.weight_mask import WeightMasks, global_topk_masks
from lottery.training.phase import run_phase


@dataclass(frozen=True)
class InitPruningParams(MethodParams):
    """sparsity: fraction of the prunable weights removed (exactly, one global ranking);
    skip_first_conv / skip_classifier: leave the first conv / the final Linear dense."""

    sparsity: float = 0.5
    skip_first_conv: bool = False
    skip_classifier: bool = True

    def __post_init__(self) -> None:
        require(0.0 < self.sparsity < 1.0, "method.sparsity", self.sparsity, "a number in (0, 1)")


@dataclass(frozen=True)
class SnipParams(InitPruningParams):
    """score_batches: training batches whose gradients are accumulated for the score."""

    name: str = "snip"
    score_batches: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.score_batches >= 1, "method.score_batches", self.score_batches, "an integer >= 1")


@dataclass(frozen=True)
class GraspParams(InitPruningParams):
    """score_batches: training batches for the gradient and the Hessian-gradient product."""

    name: str = "grasp"
    score_batches: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.score_batches >= 1, "method.score_batches", self.score_batches, "an integer >= 1")


@dataclass(frozen=True)
class SynflowParams(InitPruningParams):
    """synflow_iterations: pruning rounds of the exponential schedule (the paper uses 100)."""

    name: str = "synflow"
    synflow_iterations: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.synflow_iterations >= 1, "method.synflow_iterations", self.synflow_iterations, "an integer >= 1"
        )


def score_batches(data: DataBundle, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The first `n` training batches (of this trial's seeded shuffle)."""
    return list(itertools.islice(iter(data.train), n))


IP = TypeVar("IP", bound=InitPruningParams)


class PruneAtInit(TicketMethod[IP]):
    """Shared run: build, draw the mask at init (fresh start only), train the masked net, finish."""

    summary_columns = ("method.sparsity",)

    @classmethod
    def known_costs(cls, cfg: ExperimentConfig, dense: nn.Module, shape: tuple[int, int, int]) -> dict[str, float]:
        """Unstructured masks only: the ticket keeps the dense FLOPs and parameters."""
        return unpruned_costs(dense, shape)

    def draw_masks(self, p: IP, model: nn.Module, data: DataBundle) -> WeightMasks:
        raise NotImplementedError

    def train(self, trial: Trial[IP]) -> dict[str, Any]:
        cfg, data, device, resume = trial.cfg, trial.data, trial.device, trial.resume
        model = build_model(cfg, data)
        if resume is None:
            masks = self.draw_masks(trial.params, model.to(device), data)
        else:  # the mask drawn at init travels in every checkpoint
            if resume.masks is None:
                raise ValueError("a pruning-at-init checkpoint without its mask")
            masks = resume.masks
        result = run_phase(
            phase="train", model=model, epochs=cfg.train.epochs, cfg=cfg, data=data, device=device,
            session=trial.session, progress=trial.progress, resume=resume, masks=masks,
        )
        return finish_trial(
            model=result.model, data=data, dense_model=build_model(cfg, data), progress=trial.progress,
            last_metrics=result.last_metrics, session=trial.session, extra={}, masks=masks,
        )


@METHODS.register("snip", help="SNIP: prune at init by |grad * w|, train the sparse net")
class Snip(PruneAtInit[SnipParams]):
    Params = SnipParams

    def draw_masks(self, p: SnipParams, model: nn.Module, data: DataBundle) -> WeightMasks:
        scores = snip_scores(
            model, score_batches(data, p.score_batches),
            skip_first_conv=p.skip_first_conv, skip_classifier=p.skip_classifier,
        )
        return global_topk_masks(scores, p.sparsity)


@METHODS.register("grasp", help="GraSP: prune at init to preserve gradient flow (-w * Hg), train the sparse net")
class Grasp(PruneAtInit[GraspParams]):
    Params = GraspParams

    def draw_masks(self, p: GraspParams, model: nn.Module, data: DataBundle) -> WeightMasks:
        scores = grasp_scores(
            model, score_batches(data, p.score_batches),
            skip_first_conv=p.skip_first_conv, skip_classifier=p.skip_classifier,
        )
        return grasp_masks(scores, p.sparsity)


@METHODS.register("synflow", help="SynFlow: data-free iterative pruning at init by synaptic flow, train the sparse net")
class Synflow(PruneAtInit[SynflowParams]):
    Params = SynflowParams

    def draw_masks(self, p: SynflowParams, model: nn.Module, data: DataBundle) -> WeightMasks:
        return synflow_masks(
            model, input_shape(data), p.sparsity, p.synflow_iterations,
            skip_first_conv=p.skip_first_conv, skip_classifier=p.skip_classifier,
        )
