"""Figure 5: trials per hour with 1 vs 2 Ray nodes (ray.cluster_utils on one machine, one CPU per
node and per trial) and, on a GPU, with 1 vs 4 trials sharing it (separate processes).

The trial is the same small dense training each time (lottery, in the Ray worker); throughput is
trials finished / wall time of the batch of trials, so scheduling and start-up costs count."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]


def _train_trial(epochs: int) -> float:
    """One dense digits trial in-process (what a Ray worker runs); returns its training seconds."""
    from lottery.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
    from lottery.methods import METHODS
    from lottery.methods.dense import DenseParams
    from lottery.session import LocalSession

    cfg = ExperimentConfig(data=DataConfig(name="digits"), model=ModelConfig(name="vgg11", width=0.25),
                           train=TrainConfig(epochs=epochs, device="cpu", threads=1), method=DenseParams())
    return float(METHODS.get("dense")().run(cfg, LocalSession())["wall_time_s"])


def ray_nodes(smoke: bool) -> dict[str, Any]:
    import ray
    from ray.cluster_utils import Cluster

    epochs, trials = (1, 2) if smoke else (8, 6)
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        ray.init(address=cluster.address, logging_level=logging.WARNING)
        task = ray.remote(num_cpus=1)(_train_trial)
        ray.get(task.remote(1))  # worker start-up and imports, outside the timing

        def batch() -> float:
            began = time.perf_counter()
            ray.get([task.remote(epochs) for _ in range(trials)])
            return time.perf_counter() - began

        one = batch()
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.get([task.remote(1) for _ in range(2)])  # warm the new node's worker
        two = batch()
    finally:
        ray.shutdown()
        cluster.shutdown()
    return {"trials": trials, "epochs": epochs, "one_node_trials_per_hour": trials / one * 3600,
            "two_nodes_trials_per_hour": trials / two * 3600, "two_vs_one_nodes": one / two}


GPU_WORKER = """
import sys, time, torch
from bench.loop_ratio import cifar_shaped
from lottery.models import create_model
from lottery.training.loop import train_one_epoch
dev = torch.device('cuda'); torch.backends.cudnn.benchmark = True
data = cifar_shaped(int(sys.argv[1]), 256, dev)
m = create_model('resnet56', in_channels=3, num_classes=10, input_size=32).to(dev)
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
train_one_epoch(m, data, opt, dev)
print('ready', flush=True); sys.stdin.readline()
for _ in range(int(sys.argv[2])): train_one_epoch(m, data, opt, dev)
torch.cuda.synchronize(); print('done', flush=True)
"""


def gpu_packing(smoke: bool) -> dict[str, Any]:
    """k processes train ResNet-56 on one GPU at once, started together after their warm-up."""
    n, epochs = (2048, 1) if smoke else (25600, 3)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def batch(k: int) -> float:
        procs = [subprocess.Popen([sys.executable, "-c", GPU_WORKER, str(n), str(epochs)], env=env, cwd=ROOT,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(k)]
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        began = time.perf_counter()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "done"
            p.wait()
        return time.perf_counter() - began

    one, four = batch(1), batch(4)
    return {"samples_per_trial": n * epochs, "one_trial_per_hour": 1 / one * 3600, "four_trials_per_hour": 4 / four * 3600,
            "four_vs_one": 4 * one / four}


def run(smoke: bool, with_ray: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["ray_nodes"] = ray_nodes(smoke) if with_ray else {"skipped": "not asked (smoke test)"}
    out["gpu_packing"] = gpu_packing(smoke) if torch.cuda.is_available() else {"skipped": "no CUDA device on this machine"}
    return out
