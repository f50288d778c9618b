"""Multi-node: `tickets sweep --address` against a `ray.cluster_utils.Cluster` of three nodes on this
machine, a CPU-only head and two workers that declare one (fake) GPU each.

Trials ask for half a GPU, so they are scheduled through Ray's GPU path on the workers (Ray sets
CUDA_VISIBLE_DEVICES; with no CUDA here `train.device: auto` falls back to the CPU). One worker is
removed while its trial is mid-way; that trial must resume from its last checkpoint on the other node,
and the sweep must end with every trial recorded exactly once in Parquet and in MLflow.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import mlflow
import pandas as pd
import pyarrow.parquet as pq
import pytest
from ray._private import ray_constants
from ray.cluster_utils import Cluster

from tests.cluster_helpers import TICKETS, ROOT, private_ray_tmpdir, sweep_args, tiny_overrides

pytestmark = pytest.mark.slow

NAME = "multinode"
EPOCHS = 6


@pytest.fixture(scope="module")
def cluster():
    with private_ray_tmpdir():
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "num_gpus": 0, "include_dashboard": False})
        workers = [cluster.add_node(num_cpus=1, num_gpus=1) for _ in range(2)]
        cluster.wait_for_nodes()
        try:
            yield cluster, workers
        finally:
            cluster.shutdown()


def _epochs_done(sweep_dir: Path) -> list[int]:
    """Epoch rows recorded so far, per trial with any."""
    counts = []
    for path in (sweep_dir / "epochs").glob("*.parquet"):
        with contextlib.suppress(OSError):  # being replaced right now
            counts.append(pq.read_metadata(path).num_rows)
    return counts


def _remove_worker_mid_trial(cluster: Cluster, worker, sweep_dir: Path, proc: subprocess.Popen, removed: list) -> None:
    """Once both running trials (one per worker) have checkpointed >= 2 epochs, remove one worker."""
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and proc.poll() is None:
        if not list((sweep_dir / "trials").glob("*.parquet")) and sum(n >= 2 for n in _epochs_done(sweep_dir)) >= 2:
            _lose_node(cluster, worker)
            removed.append(time.monotonic())
            return
        time.sleep(0.2)


def _lose_node(cluster: Cluster, node) -> None:
    """A lost machine: its raylet and every worker process it started die at once (a removed node's
    orphaned workers would otherwise go on reporting for a while)."""
    raylet = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid
    workers = [pid for pid in _pids() if _parent(pid) == raylet]
    cluster.remove_node(node, allow_graceful=False)
    for pid in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state letter


def _restores(trial_dir: Path) -> list[int]:
    """Epochs at which the trial continued after a restart (Tune restarts `iterations_since_restore`)."""
    rows = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines() if line.strip()]
    return [r["epoch"] for r in rows if r.get("report_kind") == "epoch" and r["iterations_since_restore"] == 1 and r["training_iteration"] > 1]


def test_sweep_on_a_cluster_survives_a_lost_worker(cluster, tmp_path: Path) -> None:
    ray_cluster, workers = cluster
    results = tmp_path / "results"
    overrides = tiny_overrides(results, NAME, trials=2, epochs=EPOCHS) + [
        "method.retrain_epochs=2", "method.eb_queue=5", "sweep.max_concurrent=2", "sweep.resources.cpu=1", "sweep.resources.gpu=0.5",
        "sweep.max_failures=3",
    ]
    removed: list[float] = []
    with open(tmp_path / "sweep.log", "w") as log:
        proc = subprocess.Popen(
            [*TICKETS, *sweep_args(overrides, "--address", ray_cluster.address)], cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT,
        )
        watcher = threading.Thread(target=_remove_worker_mid_trial, args=(ray_cluster, workers[0], results / NAME, proc, removed))
        watcher.start()
        rc = proc.wait(timeout=600)
        watcher.join()
    log_text = (tmp_path / "sweep.log").read_text()
    assert rc == 0, log_text[-4000:]
    assert removed, "no worker was removed mid-trial"

    sweep_dir = results / NAME
    trials = pd.read_parquet(sweep_dir / "trials")
    epochs = pd.read_parquet(sweep_dir / "epochs")
    assert len(trials) == 2 and set(trials["status"]) == {"completed"} and trials["trial_id"].is_unique
    for row in trials.itertuples():
        assert sorted(epochs.loc[epochs["trial_id"] == row.trial_id, "epoch"]) == list(range(1, row.epochs_trained + 1))

    # the trial on the lost node went on from its checkpoint (epoch >= 3), not from scratch
    trial_dirs = [d for d in (sweep_dir / "ray" / NAME).iterdir() if (d / "result.json").exists()]
    assert len(trial_dirs) == 2
    restores = [epoch for d in trial_dirs for epoch in _restores(d)]
    assert restores and min(restores) >= 3, restores

    client = mlflow.MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"tickets/{NAME}")
    children = [r for r in client.search_runs([experiment.experiment_id]) if "tickets.trial_id" in r.data.tags]
    assert sorted(r.data.tags["tickets.trial_id"] for r in children) == sorted(trials["trial_id"])
    by_trial = trials.set_index("trial_id")
    for child in children:
        assert child.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")]
        assert sorted(steps) == list(range(1, int(by_trial.loc[child.data.tags["tickets.trial_id"], "epochs_trained"]) + 1))
