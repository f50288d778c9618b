"""Figure 1b: a whole Early-Bird trial through the real file-based CIFAR path (torchvision decode, the
device-resident copy, crop/flip/normalise on the device, the BN-L1 hook, the per-epoch channel mask,
validation and test every epoch, the shrink and the ticket's retraining) vs a minimal hand-written
loop over batches already on the device, same model, batch and sample count.

The trial runs `lottery`'s method directly (what a Ray worker runs), so this section needs only
torch, torchvision, numpy and torch-pruning. Its epoch times are the trial's own per-epoch wall
times; the hand loop is timed in the same process just before and just after each trial (median of
all its repetitions), so both see the same machine state.
"""
from __future__ import annotations

import copy
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench.fake_cifar import integrity_checks_skipped, write_fake_cifar10
from bench.loop_ratio import _sgd, cifar_shaped, hand_epoch
from bench.timing import interleaved
from lottery.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lottery.methods import METHODS
from lottery.methods.earlybird import EarlyBirdParams
from lottery.models import create_model
from lottery.session import LocalSession

BATCH = 256
SETTINGS: dict[str, dict[str, Any]] = {
    "fp32 eager": {},
    "bf16 channels_last cuda_graph": {"precision": "bf16", "channels_last": True, "cuda_graph": True},
}


def trial_config(root: Path, model_name: str, speed: dict[str, Any], search: int, retrain: int, device: str) -> ExperimentConfig:
    return ExperimentConfig(
        seed=0,
        data=DataConfig(name="cifar10", data_root=str(root), batch_size=BATCH, val_fraction=0.1),
        model=ModelConfig(name=model_name),
        # a constant lr: SGD bakes the lr into a captured graph, so each lr step re-captures (twice in a
        # real 160-epoch recipe, but every epoch in a 3-epoch phase with the usual milestones)
        train=TrainConfig(epochs=search + retrain, lr=0.01, lr_milestones=(), device=device, **speed),
        method=EarlyBirdParams(prune_ratio=0.5, max_search_epochs=search, retrain_epochs=retrain),
    )


def run_trial(config: ExperimentConfig, n_train: int) -> dict[str, Any]:
    """Per-epoch train samples/s of one Early-Bird trial (epoch wall time includes evaluation and hooks);
    `n_train`: samples in its training split."""
    session = LocalSession()
    began = time.perf_counter()
    with integrity_checks_skipped():
        final = METHODS.get("earlybird")().run(config, session)
    total = time.perf_counter() - began
    walls = [e["wall_time_s"] for e in session.epochs]
    epoch_s = [b - a for a, b in zip([0.0, *walls], walls)]
    phases = [e["phase"] for e in session.epochs]

    def steady(phase: str) -> float:
        times = [t for t, p in zip(epoch_s, phases) if p == phase][1:]  # the first epoch of a phase captures/autotunes
        return n_train / statistics.median(times) if times else float("nan")

    return {
        "search_samples_per_s": steady("search"), "retrain_samples_per_s": steady("retrain"),
        "first_epoch_s": epoch_s[0], "epoch_s": epoch_s,
        "trial_samples_per_s": n_train * len(epoch_s) / walls[-1],
        "trial_wall_s_with_data_load": total, "flops_ratio": final["flops_ratio"],
    }


def hand_samples_per_s(model_name: str, n: int, device: torch.device, reps: int) -> float:
    torch.manual_seed(0)
    model = create_model(model_name, in_channels=3, num_classes=10, input_size=32).to(device)
    fixed = [(x.clone(), y.clone()) for x, y in cifar_shaped(n, BATCH, device)]
    m = copy.deepcopy(model)
    opt = _sgd(m)
    t = interleaved({"hand": lambda: hand_epoch(m, fixed, opt)}, device, reps)
    return n / t["hand"]["median_s"]


def run(smoke: bool) -> list[dict[str, Any]]:
    if not torch.cuda.is_available():
        return [{"skipped": "no CUDA device on this machine"}]
    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    n_train, n_test, search, retrain = (2560, 512, 2, 2) if smoke else (50_000, 10_000, 3, 2)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = write_fake_cifar10(Path(tmp), n_train, n_test)
        for model_name in ("vgg16", "resnet56"):
            split = round(0.9 * n_train)  # val_fraction 0.1
            hand_n = split // BATCH * BATCH
            before = hand_samples_per_s(model_name, hand_n, device, 3)
            for setting, speed in SETTINGS.items():
                row: dict[str, Any] = {"model": model_name, "setting": setting}
                if not smoke and speed.get("cuda_graph"):
                    row["epoch_parts"] = epoch_breakdown(root, model_name, speed, device)
                row.update(run_trial(trial_config(root, model_name, speed, search, retrain, "cuda"), split))
                rows.append(row)
                print(f"trial: {row}", flush=True)  # a long section: progress as it goes
            after = hand_samples_per_s(model_name, hand_n, device, 3)
            hand = statistics.median([before, after])
            for row in rows:
                if row["model"] == model_name:
                    row["hand_fp32_samples_per_s"] = hand
                    row["hand_before_after"] = [before, after]
                    row["search_vs_hand"] = row["search_samples_per_s"] / hand
    return rows


def epoch_breakdown(root: Path, model_name: str, speed: dict[str, Any], device: torch.device, reps: int = 3) -> dict[str, float]:
    """Seconds of each part of a search epoch (training steps, val, test, the Early-Bird mask), median of
    `reps`: where a whole trial's epoch loses to the bare training loop."""
    from lottery.data import load_dataset
    from lottery.pruning.channel_mask import bn_scores, flatten_mask, global_channel_mask
    from lottery.training.loop import evaluate, make_optimizer, train_one_epoch
    from lottery.training.speed import StepOptions, prepare_model

    config = trial_config(root, model_name, speed, 1, 1, device.type)
    with integrity_checks_skipped():
        data = load_dataset("cifar10", data_root=str(root), batch_size=BATCH, val_fraction=0.1, device=str(device))
    torch.manual_seed(0)
    model = create_model(model_name, in_channels=3, num_classes=10, input_size=32).to(device)
    opts = StepOptions.from_train(config.train, device)
    prepare_model(model, opts)
    opt = make_optimizer(model, config.train)
    parts: dict[str, Any] = {
        "train": lambda: train_one_epoch(model, data.train, opt, device, opts=opts),
        "val": lambda: evaluate(model, data.val, device, opts),
        "test": lambda: evaluate(model, data.test, device, opts),
        "earlybird_mask": lambda: flatten_mask(global_channel_mask(bn_scores(model), 0.5, 1)),
    }
    timed = interleaved(parts, device, reps)
    return {f"{k}_s": v["median_s"] for k, v in timed.items()}
