"""A training phase: N epochs of one model, reported and checkpointed every epoch, resumable.

Methods are sequences of phases (Early-Bird: search, then retrain). The phase owns the loop,
learning rate, FLOP accounting and checkpoint state, so a method only supplies what differs: a
gradient hook (e.g. BN L1) and an end-of-epoch hook that adds metrics and may stop the phase.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

import torch
from torch import nn

from lottery.config import ExperimentConfig
from lottery.data import DataBundle
from lottery.measure import count_flops, count_params, count_sparse_flops
from lottery.models.base import stored_arch
from lottery.pruning.weight_mask import WeightMasks, apply_weight_masks_, check_weight_masks, mask_sparsity
from lottery.session import Session
from lottery.training.checkpoint import PhaseCheckpoint, TrialProgress
from lottery.training.divergence import check_epoch
from lottery.training.record import epoch_record
from lottery.training.loop import AfterBackward, Perturb, evaluate, lr_at, make_optimizer, set_lr, train_one_epoch

# (model, phase_epoch) -> (extra metrics, extra state to checkpoint, stop the phase now?)
EpochHook = Callable[[nn.Module, int], tuple[dict[str, Any], dict[str, Any], bool]]


def report_also(metrics: dict[str, Any]) -> EpochHook:
    """An end-of-epoch hook that only adds fixed metrics to every epoch (e.g. the IMP round)."""
    return lambda model, phase_epoch: (dict(metrics), {}, False)


# Training FLOPs per sample seen: forward + backward ~ 3 x forward (the usual convention).
TRAIN_FLOPS_PER_FORWARD = 3


def rng_state(data: DataBundle) -> dict[str, torch.Tensor]:
    """The random state the next epoch draws from: torch's global RNG (DataLoader transforms) and the
    train stream's own shuffle/augment generator, so a resumed trial replays the same batches."""
    state = {"torch": torch.get_rng_state()}
    generator = getattr(data.train, "generator", None)
    if isinstance(generator, torch.Generator):
        state["train_data"] = generator.get_state()
    return state


def restore_rng_state(data: DataBundle, state: dict[str, torch.Tensor] | None) -> None:
    if not state:
        return
    torch.set_rng_state(state["torch"])
    generator = getattr(data.train, "generator", None)
    if isinstance(generator, torch.Generator) and "train_data" in state:
        generator.set_state(state["train_data"])


@dataclass
class PhaseResult:
    model: nn.Module
    epochs_run: int
    stopped_early: bool
    last_metrics: dict[str, Any]


def run_phase(
    *,
    phase: str,
    model: nn.Module,
    epochs: int,
    cfg: ExperimentConfig,
    data: DataBundle,
    device: torch.device,
    session: Session,
    progress: TrialProgress,
    resume: PhaseCheckpoint | None = None,
    after_backward: AfterBackward | None = None,
    on_epoch_end: EpochHook | None = None,
    masks: WeightMasks | None = None,
    perturb: Perturb | None = None,
) -> PhaseResult:
    """Train `model` for `epochs`, reporting every epoch; `resume` is this phase's checkpoint.

    With `masks` (unstructured weight masks) the pruned weights are zeroed before training and
    after every optimizer step, so they stay exactly zero; sparse FLOPs and sparsity are reported.
    `perturb` (adversarial training) replaces each batch's inputs; its `passes` forward+backward
    passes per sample are added to the training FLOPs.
    """
    model.to(device)
    optimizer = make_optimizer(model, cfg.train)
    start = 0
    if resume is not None:
        model.load_state_dict(resume.model)
        optimizer.load_state_dict(resume.optimizer)
        start = resume.phase_epoch
        restore_rng_state(data, resume.rng)
        if resume.stopped:
            return PhaseResult(model, start, True, dict(resume.last_metrics))
        if resume.masks is not None:
            masks = resume.masks
    after_step: Callable[[nn.Module], None] | None = None
    sparse_flops: int | None = None
    input_shape = (data.in_channels, data.input_size, data.input_size)
    if masks is not None:
        check_weight_masks(model, masks)
        apply_weight_masks_(model, masks)
        fixed_masks = masks
        after_step = lambda m: apply_weight_masks_(m, fixed_masks)  # noqa: E731
        sparse_flops = count_sparse_flops(model, input_shape, masks)
    flops = count_flops(model, input_shape)
    metrics: dict[str, Any] = dict(resume.last_metrics) if resume else {}
    stopped = False
    for phase_epoch in range(start, epochs):
        began = time.perf_counter()
        lr = lr_at(cfg.train, phase_epoch, epochs)
        set_lr(optimizer, lr)
        loss, seen = train_one_epoch(model, data.train, optimizer, device, after_backward, after_step, perturb)
        attack_passes = perturb.passes if perturb is not None else 0
        progress.train_flops += TRAIN_FLOPS_PER_FORWARD * flops * seen * (1 + attack_passes)
        val_acc = evaluate(model, data.val, device)
        test_acc = evaluate(model, data.test, device)
        # A diverged trial ends here: before the method's hook (pruning NaN scores) and the checkpoint.
        check_epoch(loss, model, {
            "epoch": progress.global_epoch + 1, "phase": phase, "phase_epoch": phase_epoch + 1, "train_loss": loss,
            "val_accuracy": val_acc, "test_accuracy": test_acc, "lr": lr, "flops": flops, "params": count_params(model),
        })
        extra_metrics, extra_state, stopped = on_epoch_end(model, phase_epoch) if on_epoch_end else ({}, {}, False)
        progress.global_epoch += 1
        progress.wall_time_s += time.perf_counter() - began
        metrics = epoch_record(
            progress=progress, phase=phase, phase_epoch=phase_epoch + 1, model=model, train_loss=loss,
            val_accuracy=val_acc, test_accuracy=test_acc, lr=lr, flops=flops, sparse_flops=sparse_flops,
            weight_sparsity=mask_sparsity(masks) if masks is not None else None, extra=extra_metrics,
        )
        checkpoint = PhaseCheckpoint(
            phase=phase, phase_epoch=phase_epoch + 1, stopped=stopped, last_metrics=metrics, arch=stored_arch(model),
            model=model.state_dict(), optimizer=optimizer.state_dict(), extra=extra_state, progress=progress,
            rng=rng_state(data), masks=masks,
        )
        session.report_epoch(metrics, checkpoint.to_state())
        if stopped:
            return PhaseResult(model, phase_epoch + 1, True, metrics)
    return PhaseResult(model, epochs, False, metrics)
