"""Figure 1: the project's training loop vs a minimal hand-written loop, same model, data and batch.

Three loops run interleaved, one epoch each per repetition, each on its own copy of the model:
`hand` (zero_grad / forward / backward / step over batches already on the device), `project`
(lottery.training.loop.train_one_epoch over the same batches: loop overhead only) and
`project_data` (train_one_epoch over the device-resident loader, crop/flip/normalise included).
On CUDA a fourth, `project_best`, runs the project's fastest setting (bf16, channels_last, CUDA graph).
"""
from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F

from bench.timing import interleaved
from lottery.data import Augment, DeviceBatches, load_dataset
from lottery.data.torchvision_sets import CIFAR_STATS
from lottery.models import create_model
from lottery.training.loop import train_one_epoch
from lottery.training.speed import StepOptions, configure_backend, prepare_model


def hand_epoch(model: torch.nn.Module, batches: list, opt: torch.optim.Optimizer) -> None:
    model.train()
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()


def cifar_shaped(n: int, batch: int, device: torch.device, seed: int = 0) -> DeviceBatches:
    """Random uint8 CIFAR-10-shaped data held on the device, with the CIFAR augmentation."""
    gen = torch.Generator().manual_seed(seed)
    raw = torch.randint(0, 256, (n, 3, 32, 32), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, 10, (n,), generator=gen)
    mean, std = CIFAR_STATS["cifar10"]
    return DeviceBatches(raw, labels, batch, mean=mean, std=std, pixel_scale=1 / 255, augment=Augment(4, True, 0.0),
                         shuffle=True, seed=seed, device=device)


def _sgd(model: torch.nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)


def one_case(name: str, model_name: str, width: float, data: Any, in_ch: int, size: int, classes: int,
             device: torch.device, reps: int, with_best: bool) -> dict[str, Any]:
    torch.manual_seed(0)
    base = create_model(model_name, in_channels=in_ch, num_classes=classes, input_size=size, width=width).to(device)
    fixed = [(x.clone(), y.clone()) for x, y in data]  # the same batches for hand and project
    n = sum(len(y) for _, y in fixed)
    models = {k: copy.deepcopy(base) for k in ("hand", "project", "project_data", "project_best")}
    opts = {k: _sgd(m) for k, m in models.items()}
    best = StepOptions(precision="bf16", channels_last=True, cuda_graph=True)
    prepare_model(models["project_best"], best)
    fns = {
        "hand": lambda: hand_epoch(models["hand"], fixed, opts["hand"]),
        "project": lambda: train_one_epoch(models["project"], fixed, opts["project"], device),
        "project_data": lambda: train_one_epoch(models["project_data"], data, opts["project_data"], device),
    }
    if with_best:
        fns["project_best"] = lambda: train_one_epoch(models["project_best"], data, opts["project_best"], device, opts=best)
    t = interleaved(fns, device, reps)
    row: dict[str, Any] = {"case": name, "model": model_name, "width": width, "samples_per_epoch": n, "device": device.type}
    for k, v in t.items():
        row[f"{k}_samples_per_s"] = n / v["median_s"]
        row[f"{k}_spread"] = v["spread"]
    row["ratio_project_vs_hand"] = t["hand"]["median_s"] / t["project"]["median_s"]
    row["ratio_project_data_vs_hand"] = t["hand"]["median_s"] / t["project_data"]["median_s"]
    if with_best:
        row["ratio_project_best_vs_hand"] = t["hand"]["median_s"] / t["project_best"]["median_s"]
    return row


def run(smoke: bool) -> list[dict[str, Any]]:
    rows = []
    cpu = torch.device("cpu")
    reps = 2 if smoke else 7
    digits = load_dataset("digits[0-2]" if smoke else "digits", batch_size=64, device="cpu")
    for model_name, width in (("vgg11", 0.25), ("resnet_tiny", 1.0)):
        rows.append(one_case(f"cpu digits {model_name}", model_name, width, digits.train, 1, 8, 10, cpu, reps, False))
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        configure_backend(gpu)
        data = cifar_shaped(2048 if smoke else 25600, 256, gpu)
        for model_name in ("vgg16", "resnet56"):
            rows.append(one_case(f"gpu cifar-shaped {model_name}", model_name, 1.0, data, 3, 32, 10, gpu, 3 if smoke else 5, True))
    return rows
