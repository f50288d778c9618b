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
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lottery.config import ExperimentConfig, MethodParams, _require
from lottery.data import DataBundle
from lottery.errors import ConfigError
from lottery.methods.base import METHODS, Session
from lottery.methods.common import build_model, finish_trial, load_data, prepare_trial, resume_progress
from lottery.methods.magnitude import clone_state
from lottery.methods.supernet_search import SearchSettings, channels_per_path, run_search
from lottery.models import MODELS
from lottery.models.supernet import SuperNet, is_supernet
from lottery.pruning.weight_mask import WeightMasks
from lottery.ticket import model_from_arch, save_ticket
from lottery.training.phase import TrialProgress, run_phase
from lottery.transfer import check_compatible, finetune_transfer

SUPERNETS = ("supernet", "supernet224", "supernet_tiny")


@dataclass(frozen=True)
class SupernetSearchParams(MethodParams):
    """Shared by SuperTickets and search-then-prune. rho: FLOPs-L1 coefficient; rho_warmup_epochs:
    its linear warm-up; shrink_threshold: |gamma| at or below which a channel is removed;
    search_epochs (0 = train.epochs); retrain_epochs: the fixed-architecture, fixed-mask retrain;
    target_sparsity: fraction of conv weights pruned; transfer_dataset: '' = no transfer, else a
    dataset spec (e.g. 'digits[5-9]') to fine-tune the ticket on with a new head."""

    target_sparsity: float = 0.5
    rho: float = 1e-2
    rho_warmup_epochs: int = 2
    shrink_threshold: float = 1e-3
    search_epochs: int = 0
    retrain_epochs: int = 2
    transfer_dataset: str = ""
    transfer_epochs: int = 3
    round_to: int = 1  # shrunk path widths rounded to a multiple of N (torch-pruning's round_to; 1 = off)

    def __post_init__(self) -> None:
        _require(0.0 < self.target_sparsity < 1.0, "method.target_sparsity", self.target_sparsity, "a number in (0, 1)")
        _require(self.rho >= 0, "method.rho", self.rho, "a number >= 0")
        _require(self.rho_warmup_epochs >= 0, "method.rho_warmup_epochs", self.rho_warmup_epochs, "an integer >= 0")
        _require(self.shrink_threshold >= 0, "method.shrink_threshold", self.shrink_threshold, "a number >= 0")
        _require(self.search_epochs >= 0, "method.search_epochs", self.search_epochs, "an integer >= 0 (0 = train.epochs)")
        _require(self.retrain_epochs >= 1, "method.retrain_epochs", self.retrain_epochs, "an integer >= 1")
        _require(self.transfer_epochs >= 1, "method.transfer_epochs", self.transfer_epochs, "an integer >= 1")
        _require(self.round_to >= 1, "method.round_to", self.round_to, "an integer >= 1 (1 = no rounding; 8 suits GPUs)")


@dataclass(frozen=True)
class SuperTicketsParams(SupernetSearchParams):
    """prune_interval K: the sparsity rises 10 points every K epochs; regrow: re-rank pruned weights
    at every pruning step and reactivate the masks of shrunk blocks (false = masks only shrink)."""

    name: str = "supertickets"
    prune_interval: int = 1
    regrow: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.prune_interval >= 1, "method.prune_interval", self.prune_interval, "an integer >= 1")


def check_supernet(cfg: ExperimentConfig) -> None:
    if cfg.model.name not in SUPERNETS:
        raise ConfigError(f"method {cfg.method.name!r} needs a supernet model, got model.name {cfg.model.name!r}; "
                          f"valid: {', '.join(n for n in SUPERNETS if n in MODELS)}")


def search_epochs(cfg: ExperimentConfig) -> int:
    return cfg.method.search_epochs or cfg.train.epochs  # type: ignore[attr-defined]


def source_ticket(model: nn.Module, masks: WeightMasks | None) -> dict[str, Any]:
    """A ticket as checkpointable plain state (architecture, weights, masks)."""
    return {"arch": model.current_arch(), "model": clone_state(model), "masks": masks}  # type: ignore[operator]


def rebuild(ticket: dict[str, Any]) -> nn.Module:
    model = model_from_arch(ticket["arch"])
    model.load_state_dict(ticket["model"])
    return model


def retrain_and_finish(
    cfg: ExperimentConfig, session: Session, data: DataBundle, device: torch.device, progress: TrialProgress,
    resume: dict[str, Any] | None, ticket: nn.Module | None, masks: WeightMasks | None, extra: dict[str, Any],
) -> dict[str, Any]:
    """The retrain phase (architecture and mask fixed), the optional transfer phase, the final report.

    Needs progress.method_state["noretrain"] (the ticket before retraining). `resume` is the
    checkpoint of the phase to resume ("retrain" or "transfer"), `ticket` the ticket on a fresh start."""
    p = cfg.method
    ms = progress.method_state
    phase = resume["phase"] if resume is not None else "retrain"
    if phase == "retrain":
        if resume is not None:
            ticket, masks = model_from_arch(resume["arch"]), {k: v.bool() for k, v in resume["masks"].items()}
        result = run_phase(phase="retrain", model=ticket, epochs=p.retrain_epochs, cfg=cfg, data=data,  # type: ignore[attr-defined]
                           device=device, session=session, progress=progress, resume=resume, masks=masks)
        ms["retrained"] = source_ticket(result.model, masks)
        ms["retrain_last"] = {k: result.last_metrics[k] for k in ("val_accuracy", "test_accuracy")}
    retrained = ms["retrained"]
    ticket, masks = rebuild(retrained), retrained["masks"]
    transferred: tuple[nn.Module, WeightMasks | None] | None = None
    if p.transfer_dataset:  # type: ignore[attr-defined]
        target = load_data(cfg.data, cfg.seed, name=p.transfer_dataset)  # type: ignore[attr-defined]
        check_compatible(data, target, p.transfer_dataset)  # type: ignore[attr-defined]
        tuned, fixed = finetune_transfer(
            model=ticket, masks=masks, target=target, epochs=p.transfer_epochs, phase="transfer", cfg=cfg,  # type: ignore[attr-defined]
            device=device, session=session, progress=progress, resume=resume if phase == "transfer" else None,
        )
        extra = {**extra, "transfer_val_accuracy": tuned.last_metrics["val_accuracy"],
                 "transfer_accuracy": tuned.last_metrics["test_accuracy"]}
        transferred = (tuned.model, fixed)
    noretrain = ms["noretrain"]
    extra = {**extra, "noretrain_val_accuracy": noretrain["val_accuracy"], "noretrain_test_accuracy": noretrain["test_accuracy"],
             "target_sparsity": p.target_sparsity, **channels_per_path(ticket)}  # type: ignore[arg-type,attr-defined]

    def add_files(folder: Path) -> None:
        save_ticket(rebuild(noretrain["ticket"]), folder / "noretrain", {"note": "SuperTicket before retraining"}, masks=masks)
        if transferred is not None:
            save_ticket(transferred[0], folder / "transfer", {"transfer_dataset": p.transfer_dataset}, masks=transferred[1])  # type: ignore[attr-defined]

    return finish_trial(model=ticket.to(device), data=data, dense_model=build_model(cfg, data), progress=progress,
                        last_metrics=ms["retrain_last"], session=session, extra=extra, masks=masks, add_files=add_files)


@METHODS.register("supertickets", help="SuperTickets: joint FLOPs-aware channel search + prune-and-regrow on a supernet")
class SuperTickets:
    """One supernet run finds the architecture and its sparse ticket; then a short fixed retrain."""

    Params = SuperTicketsParams

    def run(self, cfg: ExperimentConfig, session: Session) -> dict[str, Any]:
        check_supernet(cfg)
        p: SuperTicketsParams = cfg.method  # type: ignore[assignment]
        data, device = prepare_trial(cfg)
        resume = session.resume_state()
        progress = resume_progress(resume)
        model: SuperNet = build_model(cfg, data)  # type: ignore[assignment]
        ticket, masks, later = None, None, resume
        if resume is None or resume["phase"] == "search":
            settings = SearchSettings(search_epochs(cfg), p.rho, p.rho_warmup_epochs, p.shrink_threshold,
                                      p.prune_interval, p.target_sparsity, p.regrow, p.round_to)
            search = run_search(model=model, s=settings, cfg=cfg, data=data, device=device, session=session,
                                progress=progress, resume=resume)
            ticket, masks, later = search.model, search.masks, None
            progress.method_state["noretrain"] = {
                "val_accuracy": search.last_metrics["val_accuracy"], "test_accuracy": search.last_metrics["test_accuracy"],
                "ticket": source_ticket(ticket, masks),
            }
        extra = {"search_epochs": search_epochs(cfg)}
        return retrain_and_finish(cfg, session, data, device, progress, later, ticket, masks, extra)
