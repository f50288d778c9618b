"""Pieces most methods share: the configured model, the final report, the draw-then-retrain skeleton."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from collections.abc import Callable

from torch import nn

from lottery.config import ExperimentConfig
from lottery.data import DataBundle
from lottery.latency import ticket_latency
from lottery.measure import count_flops, count_nonzero_params, count_params, count_sparse_flops
from lottery.methods.base import P, Trial
from lottery.models import create_model
from lottery.pruning.weight_mask import WeightMasks, mask_sparsity
from lottery.session import Session
from lottery.ticket import model_from_arch, save_ticket
from lottery.training.checkpoint import TrialProgress
from lottery.training.phase import report_also, run_phase


def build_model(cfg: ExperimentConfig, data: DataBundle, channels: list[int] | None = None) -> nn.Module:
    """The configured model sized for the dataset (optionally with a reduced channel spec)."""
    return create_model(
        cfg.model.name,
        in_channels=data.in_channels,
        num_classes=data.num_classes,
        input_size=data.input_size,
        width=cfg.model.width,
        channels=channels,
    )


def input_shape(data: DataBundle) -> tuple[int, int, int]:
    return (data.in_channels, data.input_size, data.input_size)


def unpruned_costs(dense: nn.Module, shape: tuple[int, int, int]) -> dict[str, float]:
    """What a ticket that is never physically shrunk reports (dense or an unstructured mask): the
    unpruned model's FLOPs and parameters (`flops` counts the layers, not the mask)."""
    return {"flops": count_flops(dense, shape), "params": count_params(dense), "flops_ratio": 1.0}


def finish_trial(
    *,
    model: nn.Module,
    data: DataBundle,
    dense_model: nn.Module,
    progress: TrialProgress,
    last_metrics: dict[str, Any],
    session: Session,
    extra: dict[str, Any],
    masks: WeightMasks | None = None,
    add_files: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """Compute the final metrics every method reports, save the ticket, hand both to the session.

    `add_files(folder)` may write more into the ticket folder before it is reported (e.g. the
    SuperTicket without retraining and the transferred ticket as sub-folders).

    `flops` is the dense count of the (possibly channel-shrunk) model; with unstructured `masks`,
    `sparse_flops` and `weight_sparsity` say what the weight mask removes on top.
    """
    shape = input_shape(data)
    flops, dense_flops = count_flops(model, shape), count_flops(dense_model, shape)
    sparse_flops = count_sparse_flops(model, shape, masks) if masks else flops
    final = {
        "val_accuracy": last_metrics["val_accuracy"],
        "test_accuracy": last_metrics["test_accuracy"],
        "flops": flops,
        "params": count_params(model),
        "dense_flops": dense_flops,
        "dense_params": count_params(dense_model),
        "flops_ratio": flops / dense_flops,
        "nonzero_params": count_nonzero_params(model),
        "sparse_flops": sparse_flops,
        "weight_sparsity": mask_sparsity(masks) if masks else 0.0,
        "epochs_trained": progress.global_epoch,
        "train_flops_total": progress.train_flops,
        "wall_time_s": progress.wall_time_s,
        # measured on the trial's device once the ticket is final (lottery/latency.py)
        **ticket_latency(model, dense_model, shape, next(model.parameters()).device),
        "train_device": str(next(model.parameters()).device),
        **extra,
    }
    with tempfile.TemporaryDirectory(prefix="ticket-") as tmp:
        folder = save_ticket(model, Path(tmp), {"final_metrics": final}, masks=masks)
        if add_files is not None:
            add_files(folder)
        session.report_final(final, folder)
    return final


# draw(trial, dense_model) -> the ticket; it trains and prunes, and records what the final metrics
# need in trial.progress.method_state.
DrawTicket = Callable[[Trial[P], nn.Module], nn.Module]


def draw_then_retrain(
    trial: Trial[P],
    *,
    draw: DrawTicket[P],
    retrain_epochs: int,
    final_keys: tuple[str, ...],
    retrain_metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The skeleton of channel-ticket methods (Early-Bird, Network Slimming): a training phase that
    draws a physically pruned ticket, then a "retrain" phase of that ticket. A trial resumed in the
    retrain phase skips the draw and rebuilds the ticket from its checkpointed architecture."""
    cfg, data, resume = trial.cfg, trial.data, trial.resume
    dense = build_model(cfg, data)
    dense_reference = build_model(cfg, data)  # unpruned architecture, for the FLOPs ratio
    if resume is not None and resume.phase == "retrain":
        ticket, retrain_resume = model_from_arch(resume.arch), resume
    else:
        ticket, retrain_resume = draw(trial, dense), None
    on_epoch_end = report_also(retrain_metrics) if retrain_metrics else None
    result = run_phase(
        phase="retrain", model=ticket, epochs=retrain_epochs, cfg=cfg, data=data, device=trial.device,
        session=trial.session, progress=trial.progress, resume=retrain_resume, on_epoch_end=on_epoch_end,
    )
    state = trial.progress.method_state
    return finish_trial(
        model=result.model, data=data, dense_model=dense_reference, progress=trial.progress,
        last_metrics=result.last_metrics, session=trial.session, extra={k: state[k] for k in final_keys},
    )
