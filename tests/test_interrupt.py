"""Ctrl-C during a sweep: it stops cleanly, says how to resume, exits non-zero and leaves the MLflow
parent run KILLED; `tickets resume` then finishes it, and resuming a finished sweep changes nothing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
TICKETS = [sys.executable, "-c", "from orchestrator.cli import main; raise SystemExit(main())"]
NAME = "stopped"


def _parent(results: Path) -> mlflow.entities.Run:
    client = mlflow.MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"tickets/{NAME}")
    (parent,) = [r for r in client.search_runs([experiment.experiment_id]) if r.data.tags.get("tickets.role") == "parent"]
    return parent


def test_sigint_stops_the_sweep_and_points_to_resume(tmp_path: Path) -> None:
    results = tmp_path / "results"
    overrides = [f"sweep.results_dir={results}", f"sweep.name={NAME}", "sweep.num_trials=3", "sweep.max_concurrent=1",
                 "model.name=vgg_tiny", "train.epochs=6", "method.retrain_epochs=3"]
    args = [*TICKETS, "sweep", str(ROOT / "configs" / "demo.yaml")] + [a for o in overrides for a in ("--set", o)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 400
    while not list((results / NAME / "trials").glob("*.parquet")):
        assert proc.poll() is None and time.monotonic() < deadline, "no trial finished before the interrupt"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
    output, _ = proc.communicate(timeout=300)

    assert proc.returncode == 130, output[-3000:]
    assert f"interrupted: resume with `tickets resume {NAME}`" in output
    assert "Tuner.restore" not in output
    assert _parent(results).info.status == "KILLED"

    resumed = subprocess.run([*TICKETS, "resume", NAME, "--results-dir", str(results)], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    finished = _parent(results)
    assert finished.info.status == "FINISHED"

    again = subprocess.run([*TICKETS, "resume", NAME, "--results-dir", str(results)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "already finished" in again.stdout, again.stdout + again.stderr
    after = _parent(results)
    assert (after.info.status, after.info.end_time) == ("FINISHED", finished.info.end_time)  # not re-opened
