"""SuperTickets (You et al., ECCV 2022): search the architecture and prune its weights in one run.

Phases: "search" (FLOPs-weighted L1 on the depthwise BN gammas with linear warm-up, shrinking every
epoch, global magnitude prune-and-regrow every K epochs up to the target; see supernet_search),
then the SuperTicket *without* retraining is evaluated (`noretrain_*` columns), then "retrain":
the same architecture and mask for `retrain_epochs`, then optionally "transfer": a new head
fine-tuned on `transfer_dataset` with the mask fixed (`transfer_*` columns). The final metrics are
the retrained ticket's; its folder holds `noretrain/` and `transfer/` tickets as sub-folders.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lottery.config import require
from lottery.errors import ConfigError
from lottery.methods.base import METHODS, TicketMethod, Trial
from lottery.methods.common import build_model
from lottery.methods.supernet_search import (
    FAMILY_EPOCH_COLUMNS, FAMILY_FINAL_COLUMNS, SearchSettings, SupernetSearchParams, check_supernet,
    retrain_and_finish, run_search, search_epochs, source_ticket,
)
from lottery.models.supernet import SuperNet


@dataclass(frozen=True)
class SuperTicketsParams(SupernetSearchParams):
    """prune_interval K: the sparsity rises (at least) 10 points every K epochs and reaches the target
    `sparsity_ramp` of the way into the search; regrow: re-rank pruned weights at every pruning step and
    reactivate the masks of shrunk blocks (false = masks only shrink)."""

    name: str = "supertickets"
    prune_interval: int = 1
    regrow: bool = True
    sparsity_ramp: float = 0.75

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.prune_interval >= 1, "method.prune_interval", self.prune_interval, "an integer >= 1")
        require(0.0 < self.sparsity_ramp <= 1.0, "method.sparsity_ramp", self.sparsity_ramp,
                "a fraction in (0, 1] of the search epochs by which the target sparsity is reached")


@METHODS.register("supertickets", help="SuperTickets: joint FLOPs-aware channel search + prune-and-regrow on a supernet")
class SuperTickets(TicketMethod[SuperTicketsParams]):
    """One supernet run finds the architecture and its sparse ticket; then a short fixed retrain."""

    Params = SuperTicketsParams
    final_columns = FAMILY_FINAL_COLUMNS
    epoch_columns = FAMILY_EPOCH_COLUMNS
    summary_columns = ("method.target_sparsity", "noretrain_val_accuracy", "transfer_val_accuracy")

    def train(self, trial: Trial[SuperTicketsParams]) -> dict[str, Any]:
        p, cfg, resume = trial.params, trial.cfg, trial.resume
        check_supernet(cfg)
        model = build_model(cfg, trial.data)
        if not isinstance(model, SuperNet):
            raise ConfigError(f"model {cfg.model.name!r} is not a supernet")
        ticket, masks, later = None, None, resume
        if resume is None or resume.phase == "search":
            settings = SearchSettings(search_epochs(cfg, p), p.rho, p.rho_warmup_epochs, p.shrink_threshold,
                                      p.prune_interval, p.target_sparsity, p.regrow, p.sparsity_ramp, p.bn_recalibration_batches)
            search = run_search(model=model, s=settings, cfg=cfg, data=trial.data, device=trial.device,
                                session=trial.session, progress=trial.progress, resume=resume)
            ticket, masks, later = search.model, search.masks, None
            trial.progress.method_state["noretrain"] = {
                "val_accuracy": search.last_metrics["val_accuracy"], "test_accuracy": search.last_metrics["test_accuracy"],
                "ticket": source_ticket(ticket, masks),
            }
        return retrain_and_finish(trial, later, ticket, masks, {"search_epochs": search_epochs(cfg, p)})
