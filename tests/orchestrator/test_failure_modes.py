"""Failure semantics at the CLI: a diverged `tickets run`, a dead tracking server, damaged files.

Each case runs the real CLI in a fresh interpreter (or the command function in-process) against
real MLflow (SQLite) and Parquet files.
"""
from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs" / "demo.yaml"
TIMEOUT_S = 180


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)


def test_run_with_a_huge_learning_rate_is_recorded_diverged(tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = _cli(["run", str(DEMO), "--set", "train.lr=1e4", "--set", "model.name=vgg_tiny", "--set", "train.epochs=3",
                 "--set", f"sweep.results_dir={results}"], tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    failure = [line for line in proc.stderr.splitlines() if line.startswith("tickets: ")]
    assert len(failure) == 1 and "diverged at epoch 1 (" in failure[0], proc.stderr
    trials = pd.read_parquet(results / "runs" / "trials")
    assert list(trials["status"]) == ["failed"] and trials["error"].item().startswith("diverged at epoch 1 (")
    epochs = pd.read_parquet(results / "runs" / "epochs")
    assert list(epochs["epoch"]) == [1]
    client = mlflow.MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    run = client.get_run(trials["mlflow_run_id"].item())
    assert run.info.status == "FAILED" and run.data.tags["tickets.error"] == trials["error"].item()
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [1]
    loss = epochs["train_loss"].item()
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1]
    assert math.isfinite(loss) or math.isnan(client.get_metric_history(run.info.run_id, "train_loss")[0].value)


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound once by us, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dead_tracking_server_is_one_line_exit_2_in_seconds_and_writes_nothing(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{_closed_port()}"
    for command in ("sweep", "run"):
        cwd = tmp_path / command
        cwd.mkdir()
        began = time.monotonic()
        proc = _cli([command, str(DEMO), "--set", f"sweep.mlflow_uri={uri}", "--set", f"sweep.results_dir={cwd / 'results'}"], cwd)
        elapsed = time.monotonic() - began
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("tickets: error: "), proc.stderr
        assert uri in lines[0] and "sweep.mlflow_uri" in lines[0] and "not reachable" in lines[0]
        assert elapsed < 15, f"{command} took {elapsed:.1f} s to give up"
        assert list(cwd.iterdir()) == []  # no results/, sweep.yaml, mlflow.db or data/
