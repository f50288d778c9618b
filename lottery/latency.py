"""Inference latency of a ticket on the trial's device, beside its FLOPs: fewer FLOPs is not always
faster (small layers are launch- or memory-bound), and this is the number that says so.

Timing protocol (the same for the trial's final metrics and the benchmark): eval mode, no grad,
a warm-up (cudnn autotuning, allocator, caches), then `reps` repetitions in which the models are
timed in turn (interleaved, so a load change on a shared machine hits all of them alike); each
repetition times `iters` forward passes with CUDA events on a GPU and perf_counter on a CPU. The
result is the median per forward pass and the spread (max - min of the repetitions) / median.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from collections.abc import Mapping

import torch
from torch import nn

LARGE_BATCH = 256  # the batch of latency_ms_b256 (the CIFAR recipe's training batch)

# Final-metric names this module adds to a trial (orchestrator/results_schema.py lists them in one block);
# like wall_time_s they are measured, so they differ between otherwise identical runs.
LATENCY_METRICS = ("latency_ms", "latency_ms_b256", "latency_speedup_b256", "latency_device")
TIMING_METRICS = frozenset({"wall_time_s", *LATENCY_METRICS})


@dataclass(frozen=True)
class Latency:
    median_ms: float
    spread: float  # (max - min) / median over the repetitions
    samples_ms: tuple[float, ...]


def _timer(device: torch.device):
    """start() / stop() -> elapsed ms; CUDA events on a GPU (no host sync until read), perf_counter else."""
    if device.type == "cuda":

        def run(fn, iters: int) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(iters):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)

        return run

    def run_cpu(fn, iters: int) -> float:
        began = time.perf_counter()
        for _ in range(iters):
            fn()
        return (time.perf_counter() - began) * 1000.0

    return run_cpu


@torch.no_grad()
def measure(
    models: Mapping[str, nn.Module], input_shape: tuple[int, ...], batch: int, device: torch.device | str,
    *, warmup: int = 2, reps: int = 5, iters: int = 0, channels_last: bool = False,
) -> dict[str, Latency]:
    """Per model: median ms per forward pass of a `batch` of zeros shaped `input_shape`, interleaved.

    `iters` 0 picks the passes per repetition so that one repetition of the first model takes about
    10 ms (at least 1), which keeps timer resolution out of the figure at batch 1.
    """
    device = torch.device(device)
    x = torch.zeros((batch, *input_shape), device=device)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    was_training = {name: m.training for name, m in models.items()}
    for m in models.values():
        m.eval()
    run = _timer(device)
    try:
        calls = {name: (lambda m=m: m(x)) for name, m in models.items()}
        for fn in calls.values():
            for _ in range(warmup):
                fn()
        if iters <= 0:
            first = next(iter(calls.values()))
            one = max(run(first, 1), 1e-3)
            iters = max(1, min(100, int(10.0 / one)))
        samples: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(reps):
            for name, fn in calls.items():
                samples[name].append(run(fn, iters) / iters)
    finally:
        for name, m in models.items():
            m.train(was_training[name])
    out = {}
    for name, values in samples.items():
        med = statistics.median(values)
        out[name] = Latency(med, (max(values) - min(values)) / med if med > 0 else 0.0, tuple(values))
    return out


def ticket_latency(ticket: nn.Module, dense: nn.Module, input_shape: tuple[int, ...], device: torch.device | str) -> dict[str, object]:
    """The trial's latency metrics: the ticket at batch 1 and at LARGE_BATCH, and its speed-up over
    the unpruned model at LARGE_BATCH (timed interleaved with it on the same device)."""
    device = torch.device(device)
    dense = dense.to(device)
    ticket = ticket.to(device)
    b1 = measure({"ticket": ticket}, input_shape, 1, device)["ticket"]
    big = measure({"ticket": ticket, "dense": dense}, input_shape, LARGE_BATCH, device, reps=3, iters=1 if device.type == "cpu" else 0)
    return {
        "latency_ms": b1.median_ms,
        "latency_ms_b256": big["ticket"].median_ms,
        "latency_speedup_b256": big["dense"].median_ms / big["ticket"].median_ms,
        "latency_device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
    }
