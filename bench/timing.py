"""Side-by-side timing: two (or more) callables run interleaved, median of repetitions, spread."""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(fns: Mapping[str, Callable[[], object]], device: torch.device, reps: int, warmup: int = 1) -> dict[str, dict]:
    """Seconds per call of each fn: warm-up, then `reps` rounds calling each in turn (rotating the
    order each round), synchronising the device around each call; median and (max-min)/median."""
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
        sync(device)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            sync(device)
            began = time.perf_counter()
            fns[name]()
            sync(device)
            samples[name].append(time.perf_counter() - began)
    out = {}
    for name, values in samples.items():
        med = statistics.median(values)
        out[name] = {"median_s": med, "spread": (max(values) - min(values)) / med if med else 0.0, "samples_s": values}
    return out
