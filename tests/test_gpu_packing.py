"""Trials packed per GPU: a real `tickets sweep` with `sweep.resources.gpu: 0.25` on a Ray cluster
that declares one GPU (ray.cluster_utils on this CPU machine) holds all four trials on that GPU at
once, and every trial records the GPU id Ray assigned it. Without CUDA the trials still train on
the CPU (`train.device: auto`), which the results say too."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
TICKETS = [sys.executable, "-c", "from orchestrator.cli import main; raise SystemExit(main())"]


def test_four_trials_share_one_declared_gpu(tmp_path: Path, monkeypatch) -> None:
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 4, "num_gpus": 1, "include_dashboard": False})
    try:
        ray.init(address=cluster.address, logging_level="WARNING")
        results = tmp_path / "results"
        overrides = [
            f"sweep.results_dir={results}", "sweep.name=packed", "sweep.num_trials=4", "sweep.max_concurrent=4",
            "sweep.baselines=[]", "sweep.resources.cpu=1", "sweep.resources.gpu=0.25", "sweep.sampler=random",
            "model.name=vgg_tiny", "train.epochs=4", "method.retrain_epochs=2", "method.eb_epsilon=0.0",
        ]
        args = [*TICKETS, "sweep", str(ROOT / "configs" / "demo.yaml"), "--address", cluster.address]
        args += [a for o in overrides for a in ("--set", o)]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(tmp_path / "sweep.log", "w") as log:
            proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
            least_gpu_free = 1.0
            while proc.poll() is None:
                least_gpu_free = min(least_gpu_free, ray.available_resources().get("GPU", 0.0))
                time.sleep(0.1)
        assert proc.returncode == 0, (tmp_path / "sweep.log").read_text()[-3000:]
        assert least_gpu_free == 0.0  # 4 x 0.25 of the one GPU were held at the same time
        assert ray.available_resources().get("GPU") == 1.0  # and all given back
    finally:
        ray.shutdown()
        cluster.shutdown()
    trials = pd.read_parquet(results / "packed" / "trials")
    assert len(trials) == 4 and set(trials["status"]) == {"completed"}
    assert set(trials["ray_gpu_ids"]) == {'["0"]'}  # every trial was placed on GPU 0
    assert set(trials["train_device"]) == {"cpu"}  # no CUDA here: device auto trained on the CPU
    assert (trials["latency_ms"] > 0).all() and set(trials["latency_device"]) == {"cpu"}
