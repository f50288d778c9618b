"""Figure 3: ticket latency speed-up vs FLOPs reduction at 3 prune ratios, with and without channel
rounding (round_to 8), at batch 1 and a large batch, on CPU and (when present) GPU.

Tickets are drawn by the Early-Bird / Network-Slimming rule (global |gamma| threshold) from a
network whose BN gammas are spread by a seeded draw: latency depends on the widths, not on training.
Dense and all tickets of one batch size are timed interleaved (lottery.latency.measure).
"""
from __future__ import annotations

from typing import Any

import torch

from lottery.latency import measure
from lottery.measure import count_flops
from lottery.models import create_model
from lottery.pruning.channel_mask import bn_scores, global_channel_mask, prunable_bns
from lottery.pruning.channel_surgery import prune_channels

RATIOS = (0.3, 0.5, 0.7)
ROUND_TO = 8


def tickets(model_name: str, width: float, shape: tuple[int, int, int]) -> tuple[torch.nn.Module, dict[str, torch.nn.Module]]:
    torch.manual_seed(0)
    dense = create_model(model_name, in_channels=shape[0], num_classes=10, input_size=shape[1], width=width)
    gen = torch.Generator().manual_seed(1)
    for bn in prunable_bns(dense):
        bn.weight.data = torch.rand(bn.num_features, generator=gen)
    out = {}
    for ratio in RATIOS:
        for n in (1, ROUND_TO):
            out[f"p{ratio}_r{n}"] = prune_channels(dense, global_channel_mask(bn_scores(dense), ratio, n), shape)
    return dense.eval(), out


def one_device(device: torch.device, model_name: str, width: float, batches: tuple[int, ...], reps: int) -> list[dict[str, Any]]:
    shape = (3, 32, 32)
    dense, ticks = tickets(model_name, width, shape)
    dense_flops = count_flops(dense, shape)
    models = {"dense": dense.to(device), **{k: t.to(device).eval() for k, t in ticks.items()}}
    rows = []
    for batch in batches:
        lat = measure(models, shape, batch, device, reps=reps, warmup=1, iters=0 if batch == 1 else 1)
        for ratio in RATIOS:
            row: dict[str, Any] = {"device": device.type, "model": model_name, "width": width, "batch": batch, "prune_ratio": ratio}
            for n in (1, ROUND_TO):
                key = f"p{ratio}_r{n}"
                flops = count_flops(ticks[key], shape)
                fr = dense_flops / flops
                speed = lat["dense"].median_ms / lat[key].median_ms
                row[f"r{n}_flops_reduction"] = fr
                row[f"r{n}_speedup"] = speed
                row[f"r{n}_efficiency"] = speed / fr  # 1.0: the speed-up equals the FLOPs reduction
                row[f"r{n}_ms"] = lat[key].median_ms
                row[f"r{n}_spread"] = lat[key].spread
            row["dense_ms"] = lat["dense"].median_ms
            row["rounded_vs_unrounded_latency"] = row[f"r{ROUND_TO}_ms"] / row["r1_ms"]
            rows.append(row)
    return rows


def run(smoke: bool) -> list[dict[str, Any]]:
    cpu = torch.device("cpu")
    if smoke:
        rows = one_device(cpu, "vgg11", 0.125, (1, 16), reps=2)
    else:
        rows = one_device(cpu, "vgg11", 0.5, (1, 64), reps=5)
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
        rows += one_device(gpu, "vgg16", 1.0, (1, 1024), reps=3 if smoke else 7)
        rows += one_device(gpu, "resnet56", 1.0, (1, 1024), reps=3 if smoke else 7)
    return rows
