"""The joint search loop both SuperTickets and search-then-prune use: one training run of a supernet
with a FLOPs-weighted L1 on the depthwise BN gammas, shrinking every epoch and (optionally)
progressive prune-and-regrow of all conv weights.

The model and optimizer change mid-phase (shrinking), so this is its own epoch loop around
`train_one_epoch` / `evaluate`; its checkpoints use run_phase's state format (phase, phase_epoch,
arch, model, optimizer, masks, progress, rng, last_metrics, extra) so a trial resumes mid-search.
Order at the end of an epoch: shrink (resetting masks of shrunk blocks), then the pruning step
when the schedule says so, then evaluation; the last search epoch always prunes to the target.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lottery.config import ExperimentConfig
from lottery.data import DataBundle
from lottery.measure import count_flops, count_nonzero_params, count_params, count_sparse_flops
from lottery.methods.base import Session
from lottery.models.supernet import PATHS, SuperNet
from lottery.pruning.prune_regrow import (
    dense_masks, is_prune_epoch, mask_grads_hook, prune_step, reset_masks_, rho_at, sparsity_at,
)
from lottery.pruning.supernet_shrink import kept_channels, remap_optimizer, shrink, shrunk_blocks, slice_tensors
from lottery.pruning.weight_mask import WeightMasks, apply_weight_masks_, mask_sparsity
from lottery.ticket import model_from_arch
from lottery.training.loop import evaluate, lr_at, make_optimizer, set_lr, train_one_epoch
from lottery.training.phase import TRAIN_FLOPS_PER_FORWARD, TrialProgress, restore_rng_state, rng_state


@dataclass(frozen=True)
class SearchSettings:
    """rho: FLOPs-L1 coefficient; warmup: epochs of its linear warm-up; threshold: |gamma| at or under
    which a channel is removed; prune_interval K / target_sparsity / regrow: the weight-pruning
    schedule (target 0 = no weight pruning, the search-then-prune search)."""

    epochs: int
    rho: float
    warmup: int
    threshold: float
    prune_interval: int = 1
    target_sparsity: float = 0.0
    regrow: bool = True
    round_to: int = 1  # shrunk path widths rounded to a multiple of N (1 = off)


@dataclass
class SearchResult:
    model: SuperNet
    masks: WeightMasks | None
    last_metrics: dict[str, Any]


def flops_penalty_weights(dense: SuperNet) -> dict[str, float]:
    """Per-path weight = that path's per-channel MACs over the average of all paths of the full supernet."""
    macs = dense.channel_macs()
    mean = sum(macs.values()) / len(macs)
    return {name: m / mean for name, m in macs.items()}


def flops_l1_hook(weights: dict[str, float], rho: float):
    """after_backward: add rho * w_path * sign(gamma) to the gradient of every searched gamma."""

    def hook(model: nn.Module) -> None:
        if rho == 0:
            return
        for name, bn in model.searched_bns():  # type: ignore[operator]
            if bn.weight.grad is not None:
                bn.weight.grad.add_(rho * weights[name] * torch.sign(bn.weight.detach()))

    return hook


def channels_per_path(model: SuperNet) -> dict[str, int]:
    widths = model.path_widths()
    return {f"channels_{p}": sum(widths[j::3]) for j, p in enumerate(PATHS)}


def run_search(
    *, model: SuperNet, s: SearchSettings, cfg: ExperimentConfig, data: DataBundle, device: torch.device,
    session: Session, progress: TrialProgress, resume: dict[str, Any] | None,
) -> SearchResult:
    """Train, shrink and prune the supernet for `s.epochs`, reporting and checkpointing every epoch."""
    penalty = flops_penalty_weights(model)  # from the full supernet: the same on every resume
    pruning = s.target_sparsity > 0
    shape = (data.in_channels, data.input_size, data.input_size)
    start, regrown, metrics = 0, 0, {}
    masks = dense_masks(model) if pruning else None
    stash: dict[str, torch.Tensor] = {}
    if resume is not None:
        model = model_from_arch(resume["arch"])  # type: ignore[assignment]
        model.load_state_dict(resume["model"])
        start, metrics = int(resume["phase_epoch"]), dict(resume["last_metrics"])
        masks = {k: v.bool() for k, v in resume["masks"].items()} if resume.get("masks") is not None else None
        stash, regrown = dict(resume["extra"]["stash"]), int(resume["extra"]["regrown"])
        restore_rng_state(data, resume.get("rng"))
    model.to(device)
    optimizer = make_optimizer(model, cfg.train)
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
    for epoch in range(start, s.epochs):
        began = time.perf_counter()
        lr, rho = lr_at(cfg.train, epoch, s.epochs), rho_at(epoch, s.rho, s.warmup)
        set_lr(optimizer, lr)
        l1 = flops_l1_hook(penalty, rho)
        grad_mask = mask_grads_hook(masks) if masks is not None else None
        after_backward = (lambda m: (l1(m), grad_mask(m))) if grad_mask else l1
        after_step = (lambda m: apply_weight_masks_(m, masks)) if masks is not None else None  # noqa: E731
        flops = count_flops(model, shape)
        loss, seen = train_one_epoch(model, data.train, optimizer, device, after_backward, after_step)
        progress.train_flops += TRAIN_FLOPS_PER_FORWARD * flops * seen

        keep = kept_channels(model, s.threshold, s.round_to)
        removed = sum(model.path_widths()) - sum(int(i.numel()) for i in keep.values())
        if removed:
            blocks = shrunk_blocks(keep, model)
            small, plan = shrink(model, keep)
            small_opt = make_optimizer(small, cfg.train)
            remap_optimizer(model, optimizer, small, small_opt, plan)
            if masks is not None:
                names = set(small.state_dict())
                masks = slice_tensors(masks, plan, names)
                stash = slice_tensors(stash, plan, names)
                if s.regrow:  # the paper reactivates a shrunk block's masks; 'regrow off' never grows a mask
                    reset_masks_(small, masks, stash, blocks)
            model, optimizer = small, small_opt
        last = epoch == s.epochs - 1
        if masks is not None and (last or is_prune_epoch(epoch, s.prune_interval)):
            step = prune_step(model, masks, stash, s.target_sparsity if last else sparsity_at(epoch, s.prune_interval, s.target_sparsity), s.regrow)
            masks, stash, regrown = step.masks, step.stash, step.regrown

        val_acc, test_acc = evaluate(model, data.val, device), evaluate(model, data.test, device)
        progress.global_epoch += 1
        progress.wall_time_s += time.perf_counter() - began
        flops = count_flops(model, shape)
        metrics = {
            "epoch": progress.global_epoch, "phase": "search", "phase_epoch": epoch + 1, "train_loss": loss,
            "val_accuracy": val_acc, "test_accuracy": test_acc, "lr": lr, "flops": flops,
            "params": count_params(model), "train_flops_cumulative": progress.train_flops,
            "wall_time_s": progress.wall_time_s, "nonzero_params": count_nonzero_params(model),
            "sparse_flops": count_sparse_flops(model, shape, masks) if masks is not None else flops,
            "weight_sparsity": mask_sparsity(masks) if masks is not None else 0.0,
            "rho": rho, **channels_per_path(model), "regrown": regrown, "shrunk_channels": removed,
        }
        state = {
            "phase": "search", "phase_epoch": epoch + 1, "stopped": False, "last_metrics": metrics,
            "arch": model.current_arch(), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "extra": {"stash": stash, "regrown": regrown}, "progress": progress.state_dict(),
            "rng": rng_state(data), "masks": masks,
        }
        session.report_epoch(metrics, state)
    return SearchResult(model, masks, metrics)
