"""The search-then-prune baselines SuperTickets is compared with: search first, prune once after.

Phase "search" is the SuperTickets search loop on the same supernet with the same FLOPs-weighted
L1, warm-up and shrinking but no weight pruning. The searched network is then pruned once to
`target_sparsity` over the same weights (all conv weights) by `criterion`: magnitude, random,
SNIP, GraSP or SynFlow, each scored on the searched, trained weights. That ticket is evaluated as
is (`noretrain_*`, "without retraining") and after the same fixed-mask retrain (final metrics).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from torch import nn

from lottery.config import require
from lottery.data import DataBundle
from lottery.errors import ConfigError
from lottery.methods.base import METHODS, TicketMethod, Trial
from lottery.methods.common import build_model, input_shape
from lottery.methods.supernet_search import (
    FAMILY_EPOCH_COLUMNS, FAMILY_FINAL_COLUMNS, SearchSettings, SupernetSearchParams, check_supernet,
    retrain_and_finish, run_search, search_epochs, source_ticket,
)
from lottery.models.supernet import SuperNet
from lottery.pruning.init_scores import grasp_masks, grasp_scores, snip_scores, synflow_masks
from lottery.pruning.prune_regrow import conv_weights
from lottery.pruning.weight_mask import WeightMasks, apply_weight_masks_, global_topk_masks, magnitude_scores, random_scores
from lottery.measure import count_flops
from lottery.training.bn_recalibration import recalibrate_bn
from lottery.training.loop import evaluate

CRITERIA = ("magnitude", "random", "snip", "grasp", "synflow")
SCORE_BATCHES = 1
SYNFLOW_ITERATIONS = 20


@dataclass(frozen=True)
class SearchThenPruneParams(SupernetSearchParams):
    """criterion: how the searched network is pruned once (magnitude | random | snip | grasp | synflow)."""

    name: str = "search_then_prune"
    criterion: str = "magnitude"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.criterion in CRITERIA, "method.criterion", self.criterion, ", ".join(CRITERIA))


def one_shot_masks(criterion: str, model: nn.Module, sparsity: float, data: DataBundle, seed: int) -> WeightMasks:
    """The criterion's global mask at exactly `sparsity` over the conv weights of `model`."""
    if criterion == "magnitude":
        return global_topk_masks(magnitude_scores(conv_weights(model)), sparsity)
    if criterion == "random":
        return global_topk_masks(random_scores(conv_weights(model), seed), sparsity)
    batches = list(itertools.islice(iter(data.train), SCORE_BATCHES))
    if criterion == "snip":
        return global_topk_masks(snip_scores(model, batches), sparsity)
    if criterion == "grasp":
        return grasp_masks(grasp_scores(model, batches), sparsity)
    return synflow_masks(model, input_shape(data), sparsity, SYNFLOW_ITERATIONS)


@METHODS.register("search_then_prune",
                  help="baseline: supernet search (no weight pruning), then one-shot magnitude/random/SNIP/GraSP/SynFlow pruning")
class SearchThenPrune(TicketMethod[SearchThenPruneParams]):
    """Search the architecture, prune it once at the target, report before and after retraining."""

    Params = SearchThenPruneParams
    final_columns = FAMILY_FINAL_COLUMNS
    epoch_columns = FAMILY_EPOCH_COLUMNS
    summary_columns = ("method.target_sparsity", "method.criterion", "noretrain_val_accuracy", "transfer_val_accuracy")

    def train(self, trial: Trial[SearchThenPruneParams]) -> dict[str, Any]:
        p, cfg, data, device, resume = trial.params, trial.cfg, trial.data, trial.device, trial.resume
        check_supernet(cfg)
        ticket, masks, later = None, None, resume
        if resume is None or resume.phase == "search":
            model = build_model(cfg, data)
            if not isinstance(model, SuperNet):
                raise ConfigError(f"model {cfg.model.name!r} is not a supernet")
            settings = SearchSettings(search_epochs(cfg, p), p.rho, p.rho_warmup_epochs, p.shrink_threshold,
                                      bn_batches=p.bn_recalibration_batches)
            search = run_search(model=model, s=settings, cfg=cfg, data=data, device=device, session=trial.session,
                                progress=trial.progress, resume=resume)
            ticket = search.model
            masks = one_shot_masks(p.criterion, ticket, p.target_sparsity, data, cfg.seed)
            apply_weight_masks_(ticket, masks)
            seen = recalibrate_bn(ticket, data, device, p.bn_recalibration_batches)  # as SuperTickets gets
            trial.progress.train_flops += count_flops(ticket, input_shape(data)) * seen
            trial.progress.method_state["noretrain"] = {
                "val_accuracy": evaluate(ticket, data.val, device), "test_accuracy": evaluate(ticket, data.test, device),
                "ticket": source_ticket(ticket, masks),
            }
            later = None
        return retrain_and_finish(trial, later, ticket, masks, {"search_epochs": search_epochs(cfg, p)})
