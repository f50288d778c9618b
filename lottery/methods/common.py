"""Set-up every method shares: seeding, threads, device, data and the model the config names."""
from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lottery.config import ExperimentConfig
from lottery.data import DataBundle, load_dataset
from lottery.measure import count_flops, count_nonzero_params, count_params, count_sparse_flops
from lottery.pruning.weight_mask import WeightMasks, mask_sparsity
from lottery.methods.base import Session
from lottery.models import create_model
from lottery.ticket import save_ticket
from lottery.training.loop import resolve_device
from lottery.training.phase import TrialProgress


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prepare_trial(cfg: ExperimentConfig) -> tuple[DataBundle, torch.device]:
    """Seed, pin the thread count (trials share cores) and load the data split."""
    seed_everything(cfg.seed)
    torch.set_num_threads(cfg.train.threads)
    d = cfg.data
    data = load_dataset(
        d.name,
        data_root=d.data_root,
        download=d.download,
        batch_size=d.batch_size,
        val_fraction=d.val_fraction,
        split_seed=d.split_seed,
        augment=d.augment,
        path=d.path,
        num_workers=d.num_workers,
        shuffle_seed=cfg.seed,
    )
    return data, resolve_device(cfg.train.device)


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
) -> dict[str, Any]:
    """Compute the final metrics every method reports, save the ticket, hand both to the session.

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
        **extra,
    }
    with tempfile.TemporaryDirectory(prefix="ticket-") as tmp:
        folder = save_ticket(model, Path(tmp), {"final_metrics": final}, masks=masks)
        session.report_final(final, folder)
    return final
