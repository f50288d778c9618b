"""The supernet family base (SuperTickets and search-then-prune import it; it is not a method):
their shared parameters, the retrain/transfer/finish tail, and the joint search loop: one training run of a supernet
with a FLOPs-weighted L1 on the depthwise BN gammas, shrinking every epoch and (optionally)
progressive prune-and-regrow of all conv weights.

The model and optimizer change mid-phase (shrinking), so this is its own epoch loop around
`train_one_epoch` / `evaluate`; its checkpoints are run_phase's PhaseCheckpoint, so a trial resumes mid-search.
Order at the end of an epoch: shrink (resetting masks of shrunk blocks), then the pruning step
when the schedule says so (progressive: the target is reached a `sparsity_ramp` fraction into the
search), then BN statistics re-estimated on training batches if anything was cut, then evaluation.
"""
from __future__ import annotations

import time
from functools import partial
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from collections.abc import Callable

import torch
from torch import nn

from lottery.config import ExperimentConfig, MethodParams, require
from lottery.data import DataBundle
from lottery.errors import ConfigError
from lottery.measure import count_flops, count_sparse_flops
from lottery.methods.base import Trial, load_data
from lottery.methods.common import build_model, finish_trial
from lottery.models import MODELS
from lottery.models.base import live_arch
from lottery.results import TARGET_SPARSITY, TRANSFER_ACCURACY, TRANSFER_VAL_ACCURACY, Column, columns
from lottery.session import Session
from lottery.models.supernet import PATHS, SuperNet
from lottery.pruning.prune_regrow import (
    dense_masks, is_progressive_prune_epoch, mask_grads_hook, progressive_sparsity, prune_step, reset_masks_, rho_at,
)
from lottery.pruning.supernet_shrink import kept_channels, remap_optimizer, shrink, shrunk_blocks, slice_tensors
from lottery.pruning.weight_mask import WeightMasks, apply_weight_masks_, mask_sparsity
from lottery.ticket import model_from_arch, save_ticket
from lottery.training.bn_recalibration import DEFAULT_BATCHES, recalibrate_bn
from lottery.training.checkpoint import PhaseCheckpoint, TrialProgress, clone_state
from lottery.training.divergence import check_epoch
from lottery.training.loop import evaluate, lr_at, make_optimizer, set_lr, train_one_epoch
from lottery.training.speed import StepOptions, configure_backend, prepare_model
from lottery.training.phase import TRAIN_FLOPS_PER_FORWARD, restore_rng_state, rng_state, run_phase
from lottery.training.record import epoch_record
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
    bn_recalibration_batches: int = DEFAULT_BATCHES
    round_to: int = 1  # shrunk path widths rounded to a multiple of N (torch-pruning's round_to; 1 = off)

    def __post_init__(self) -> None:
        require(0.0 < self.target_sparsity < 1.0, "method.target_sparsity", self.target_sparsity, "a number in (0, 1)")
        require(self.rho >= 0, "method.rho", self.rho, "a number >= 0")
        require(self.rho_warmup_epochs >= 0, "method.rho_warmup_epochs", self.rho_warmup_epochs, "an integer >= 0")
        require(self.shrink_threshold >= 0, "method.shrink_threshold", self.shrink_threshold, "a number >= 0")
        require(self.search_epochs >= 0, "method.search_epochs", self.search_epochs, "an integer >= 0 (0 = train.epochs)")
        require(self.retrain_epochs >= 1, "method.retrain_epochs", self.retrain_epochs, "an integer >= 1")
        require(self.transfer_epochs >= 1, "method.transfer_epochs", self.transfer_epochs, "an integer >= 1")
        require(self.bn_recalibration_batches >= 0, "method.bn_recalibration_batches", self.bn_recalibration_batches,
                "an integer >= 0 (training batches to re-estimate BN statistics on after each cut; 0 = off)")
        require(self.round_to >= 1, "method.round_to", self.round_to, "an integer >= 1 (1 = no rounding; 8 suits GPUs)")


SP = TypeVar("SP", bound=SupernetSearchParams)

# Result columns both family members report.
FAMILY_FINAL_COLUMNS = (
    Column("search_epochs", int, "epochs of the joint search"),
    TARGET_SPARSITY,
    Column("noretrain_val_accuracy", float, "val accuracy of the ticket straight after the search, before retraining"),
    Column("noretrain_test_accuracy", float, "test accuracy of the ticket before retraining"),
    TRANSFER_ACCURACY, TRANSFER_VAL_ACCURACY,
    *columns(*((f"channels_{p}", int, f"hidden channels kept in the {p} paths, summed over blocks") for p in PATHS)),
)
FAMILY_EPOCH_COLUMNS = (
    Column("rho", float, "FLOPs-L1 coefficient this epoch (after warm-up)"),
    *columns(*((f"channels_{p}", int, f"hidden channels kept in the {p} paths, summed over blocks") for p in PATHS)),
    Column("regrown", int, "weights that came back at the last pruning step"),
    Column("shrunk_channels", int, "channels physically removed at this epoch's shrink"),
)


def check_supernet(cfg: ExperimentConfig) -> None:
    if cfg.model.name not in SUPERNETS:
        raise ConfigError(f"method {cfg.method.name!r} needs a supernet model, got model.name {cfg.model.name!r}; "
                          f"valid: {', '.join(n for n in SUPERNETS if n in MODELS)}")


def search_epochs(cfg: ExperimentConfig, p: SupernetSearchParams) -> int:
    return p.search_epochs or cfg.train.epochs


def source_ticket(model: nn.Module, masks: WeightMasks | None) -> dict[str, Any]:
    """A ticket as checkpointable plain state (architecture, weights, masks)."""
    return {"arch": live_arch(model), "model": clone_state(model), "masks": masks}


def rebuild(ticket: dict[str, Any]) -> nn.Module:
    model = model_from_arch(ticket["arch"])
    model.load_state_dict(ticket["model"])
    return model


def retrain_and_finish(
    trial: Trial[SP], resume: PhaseCheckpoint | None, ticket: nn.Module | None, masks: WeightMasks | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The retrain phase (architecture and mask fixed), the optional transfer phase, the final report.

    Needs progress.method_state["noretrain"] (the ticket before retraining). `resume` is the
    checkpoint of the phase to resume ("retrain" or "transfer"), `ticket` the ticket on a fresh start."""
    p, cfg, data, device, session, progress = trial.params, trial.cfg, trial.data, trial.device, trial.session, trial.progress
    ms = progress.method_state
    phase = resume.phase if resume is not None else "retrain"
    if phase == "retrain":
        if resume is not None:
            ticket, masks = model_from_arch(resume.arch), resume.masks
        if ticket is None:
            raise ValueError("retrain_and_finish needs the ticket on a fresh start")
        result = run_phase(phase="retrain", model=ticket, epochs=p.retrain_epochs, cfg=cfg, data=data,
                           device=device, session=session, progress=progress, resume=resume, masks=masks)
        ms["retrained"] = source_ticket(result.model, masks)
        ms["retrain_last"] = {k: result.last_metrics[k] for k in ("val_accuracy", "test_accuracy")}
    retrained = ms["retrained"]
    ticket, masks = rebuild(retrained), retrained["masks"]
    transferred: tuple[nn.Module, WeightMasks | None] | None = None
    if p.transfer_dataset:
        target = load_data(cfg.data, cfg.seed, name=p.transfer_dataset, device=device)
        check_compatible(data, target, p.transfer_dataset)
        tuned, fixed = finetune_transfer(
            model=ticket, masks=masks, target=target, epochs=p.transfer_epochs, phase="transfer", cfg=cfg,
            device=device, session=session, progress=progress, resume=resume if phase == "transfer" else None,
        )
        extra = {**extra, "transfer_val_accuracy": tuned.last_metrics["val_accuracy"],
                 "transfer_accuracy": tuned.last_metrics["test_accuracy"]}
        transferred = (tuned.model, fixed)
    noretrain = ms["noretrain"]
    extra = {**extra, "noretrain_val_accuracy": noretrain["val_accuracy"], "noretrain_test_accuracy": noretrain["test_accuracy"],
             "target_sparsity": p.target_sparsity, **channels_per_path(ticket)}

    def add_files(folder: Path) -> None:
        save_ticket(rebuild(noretrain["ticket"]), folder / "noretrain", {"note": "SuperTicket before retraining"}, masks=masks)
        if transferred is not None:
            save_ticket(transferred[0], folder / "transfer", {"transfer_dataset": p.transfer_dataset}, masks=transferred[1])

    return finish_trial(model=ticket.to(device), data=data, dense_model=build_model(cfg, data), progress=progress,
                        last_metrics=ms["retrain_last"], session=session, extra=extra, masks=masks, add_files=add_files)




@dataclass(frozen=True)
class SearchSettings:
    """rho: FLOPs-L1 coefficient; warmup: epochs of its linear warm-up; threshold: |gamma| at or under
    which a channel is removed; prune_interval K / target_sparsity / regrow / ramp_fraction: the
    weight-pruning schedule (target 0 = no weight pruning, the search-then-prune search);
    bn_batches: training batches to re-estimate BN statistics on after each shrink or pruning step."""

    epochs: int
    rho: float
    warmup: int
    threshold: float
    prune_interval: int = 1
    target_sparsity: float = 0.0
    regrow: bool = True
    ramp_fraction: float = 1.0
    bn_batches: int = 0
    round_to: int = 1  # shrunk path widths rounded to a multiple of N (1 = off)


@dataclass
class SearchResult:
    model: SuperNet
    masks: WeightMasks | None
    last_metrics: dict[str, Any]


def both(first: Callable[[nn.Module], None], second: Callable[[nn.Module], None]) -> Callable[[nn.Module], None]:
    """One after_backward hook that runs two."""

    def hook(model: nn.Module) -> None:
        first(model)
        second(model)

    return hook


def flops_penalty_weights(dense: SuperNet) -> dict[str, float]:
    """Per-path weight = that path's per-channel MACs over the average of all paths of the full supernet."""
    macs = dense.channel_macs()
    mean = sum(macs.values()) / len(macs)
    return {name: m / mean for name, m in macs.items()}


def flops_l1_hook(weights: dict[str, float], rho: float) -> Callable[[nn.Module], None]:
    """after_backward: add rho * w_path * sign(gamma) to the gradient of every searched gamma."""

    def hook(model: nn.Module) -> None:
        if rho == 0 or not isinstance(model, SuperNet):
            return
        for name, bn in model.searched_bns():
            if bn.weight.grad is not None:
                bn.weight.grad.add_(rho * weights[name] * torch.sign(bn.weight.detach()))

    return hook


def channels_per_path(model: nn.Module) -> dict[str, int]:
    if not isinstance(model, SuperNet):
        raise TypeError(f"channels per kernel path need a SuperNet, got {type(model).__name__}")
    widths = model.path_widths()
    return {f"channels_{p}": sum(widths[j::3]) for j, p in enumerate(PATHS)}


def run_search(
    *, model: SuperNet, s: SearchSettings, cfg: ExperimentConfig, data: DataBundle, device: torch.device,
    session: Session, progress: TrialProgress, resume: PhaseCheckpoint | None,
) -> SearchResult:
    """Train, shrink and prune the supernet for `s.epochs`, reporting and checkpointing every epoch."""
    penalty = flops_penalty_weights(model)  # from the full supernet: the same on every resume
    pruning = s.target_sparsity > 0
    shape = (data.in_channels, data.input_size, data.input_size)
    start, regrown, metrics = 0, 0, {}
    masks = dense_masks(model) if pruning else None
    stash: dict[str, torch.Tensor] = {}
    if resume is not None:
        rebuilt = model_from_arch(resume.arch)
        if not isinstance(rebuilt, SuperNet):
            raise TypeError(f"a supernet search checkpoint rebuilt a {type(rebuilt).__name__}")
        model = rebuilt
        model.load_state_dict(resume.model)
        start, metrics = resume.phase_epoch, dict(resume.last_metrics)
        masks = resume.masks
        stash, regrown = dict(resume.extra["stash"]), int(resume.extra["regrown"])
        restore_rng_state(data, resume.rng)
    model.to(device)
    opts = StepOptions.from_train(cfg.train, device)  # its hooks are built per epoch: a graph re-captures each epoch
    configure_backend(device)
    prepare_model(model, opts)
    optimizer = make_optimizer(model, cfg.train)
    if resume is not None:
        optimizer.load_state_dict(resume.optimizer)
    for epoch in range(start, s.epochs):
        began = time.perf_counter()
        lr, rho = lr_at(cfg.train, epoch, s.epochs), rho_at(epoch, s.rho, s.warmup)
        set_lr(optimizer, lr)
        l1 = flops_l1_hook(penalty, rho)
        # the masks' bookkeeping stays on the CPU; the per-step hooks get device copies (no host copy
        # per step, and none inside a CUDA graph capture, where it is not allowed)
        live = {k: v.to(device) for k, v in masks.items()} if masks is not None else None
        grad_mask = mask_grads_hook(live) if live is not None else None
        after_backward = both(l1, grad_mask) if grad_mask else l1
        after_step = partial(apply_weight_masks_, masks=live) if live is not None else None
        flops = count_flops(model, shape)
        loss, seen = train_one_epoch(model, data.train, optimizer, device, after_backward, after_step, opts=opts)
        progress.train_flops += TRAIN_FLOPS_PER_FORWARD * flops * seen
        check_epoch(loss, model, {  # before shrinking on NaN gammas
            "epoch": progress.global_epoch + 1, "phase": "search", "phase_epoch": epoch + 1, "train_loss": loss, "lr": lr,
        })

        keep = kept_channels(model, s.threshold, s.round_to)
        removed = sum(model.path_widths()) - sum(int(i.numel()) for i in keep.values())
        if removed:
            blocks = shrunk_blocks(keep, model)
            small, plan = shrink(model, keep)
            prepare_model(small, opts)
            small_opt = make_optimizer(small, cfg.train)
            remap_optimizer(model, optimizer, small, small_opt, plan)
            if masks is not None:
                names = set(small.state_dict())
                masks = slice_tensors(masks, plan, names)
                stash = slice_tensors(stash, plan, names)
                if s.regrow:  # the paper reactivates a shrunk block's masks; 'regrow off' never grows a mask
                    reset_masks_(small, masks, stash, blocks)
            model, optimizer = small, small_opt
        pruned = masks is not None and is_progressive_prune_epoch(epoch, s.prune_interval, s.epochs, s.ramp_fraction)
        if masks is not None and pruned:
            sparsity = progressive_sparsity(epoch, s.prune_interval, s.target_sparsity, s.epochs, s.ramp_fraction)
            step = prune_step(model, masks, stash, sparsity, s.regrow)
            masks, stash, regrown = step.masks, step.stash, step.regrown
        if removed or pruned:  # the running statistics belong to the network before the cut
            progress.train_flops += count_flops(model, shape) * recalibrate_bn(model, data, device, s.bn_batches)

        val_acc, test_acc = evaluate(model, data.val, device, opts), evaluate(model, data.test, device, opts)
        progress.global_epoch += 1
        progress.wall_time_s += time.perf_counter() - began
        flops = count_flops(model, shape)
        metrics = epoch_record(
            progress=progress, phase="search", phase_epoch=epoch + 1, model=model, train_loss=loss,
            val_accuracy=val_acc, test_accuracy=test_acc, lr=lr, flops=flops,
            sparse_flops=count_sparse_flops(model, shape, masks) if masks is not None else flops,
            weight_sparsity=mask_sparsity(masks) if masks is not None else 0.0,
            extra={"rho": rho, **channels_per_path(model), "regrown": regrown, "shrunk_channels": removed},
        )
        checkpoint = PhaseCheckpoint(
            phase="search", phase_epoch=epoch + 1, last_metrics=metrics, arch=model.current_arch(),
            model=model.state_dict(), optimizer=optimizer.state_dict(), extra={"stash": stash, "regrown": regrown},
            progress=progress, rng=rng_state(data), masks=masks,
        )
        session.report_epoch(metrics, checkpoint.to_state())
    return SearchResult(model, masks, metrics)
