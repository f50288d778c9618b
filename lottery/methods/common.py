"""Set-up every method shares: seeding, threads, device, data and the model the config names."""
from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from lottery.config import DataConfig, ExperimentConfig
from lottery.data import DataBundle, load_dataset
from lottery.latency import ticket_latency
from lottery.measure import count_flops, count_nonzero_params, count_params, count_sparse_flops
from lottery.pruning.weight_mask import WeightMasks, mask_sparsity
from lottery.methods.base import Session
from lottery.models import create_model
from lottery.ticket import model_from_arch, save_ticket
from lottery.training.loop import resolve_device
from lottery.training.phase import TrialProgress, run_phase


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prepare_trial(cfg: ExperimentConfig) -> tuple[DataBundle, torch.device]:
    """Seed, pin the thread count (trials share cores) and load the data split."""
    seed_everything(cfg.seed)
    torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device)
    return load_data(cfg.data, cfg.seed, device=device), device


def load_data(d: DataConfig, shuffle_seed: int, name: str | None = None, device: torch.device | str = "cpu") -> DataBundle:
    """The split `d` describes; `name` swaps in another dataset (spec) with the same options, e.g. a
    transfer target 'digits[5-9]' loaded like the source. In-memory splits live on `device`."""
    return load_dataset(
        name if name is not None else d.name,
        data_root=d.data_root,
        download=d.download,
        batch_size=d.batch_size,
        val_fraction=d.val_fraction,
        split_seed=d.split_seed,
        augment=d.augment,
        path=d.path,
        num_workers=d.num_workers,
        shuffle_seed=shuffle_seed,
        device=str(device),
        resident_max_mb=d.resident_max_mb,
    )


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


def resume_progress(resume: dict[str, Any] | None) -> TrialProgress:
    return TrialProgress.from_state(resume["progress"]) if resume else TrialProgress()


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


# draw(dense_model, data, device, progress, resume) -> the ticket; it trains and prunes, and records
# what the final metrics need in progress.method_state.
DrawTicket = Callable[[nn.Module, DataBundle, torch.device, TrialProgress, "dict[str, Any] | None"], nn.Module]


def draw_then_retrain(
    cfg: ExperimentConfig,
    session: Session,
    *,
    draw: DrawTicket,
    retrain_epochs: int,
    final_keys: tuple[str, ...],
    retrain_metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The skeleton of channel-ticket methods (Early-Bird, Network Slimming): a training phase that
    draws a physically pruned ticket, then a "retrain" phase of that ticket. A trial resumed in the
    retrain phase skips the draw and rebuilds the ticket from its checkpointed architecture."""
    data, device = prepare_trial(cfg)
    resume = session.resume_state()
    progress = resume_progress(resume)
    dense = build_model(cfg, data)
    dense_reference = build_model(cfg, data)  # unpruned architecture, for the FLOPs ratio
    if resume is not None and resume["phase"] == "retrain":
        ticket, retrain_resume = model_from_arch(resume["arch"]), resume
    else:
        ticket, retrain_resume = draw(dense, data, device, progress, resume), None
    extra_metrics = dict(retrain_metrics or {})
    result = run_phase(
        phase="retrain", model=ticket, epochs=retrain_epochs, cfg=cfg, data=data, device=device,
        session=session, progress=progress, resume=retrain_resume,
        on_epoch_end=(lambda m, e: (extra_metrics, {}, False)) if extra_metrics else None,
    )
    state = progress.method_state
    return finish_trial(
        model=result.model, data=data, dense_model=dense_reference, progress=progress,
        last_metrics=result.last_metrics, session=session, extra={k: state[k] for k in final_keys},
    )
