"""Tracking-server mode: with `sweep.mlflow_uri=http://...` runs, metrics and tickets go through a
real `mlflow server` (proxied artifacts, `--artifacts-destination`), never to a local path the
driver picks; an unreachable server stops the sweep before anything is written or trained.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from orchestrator.config import load_configs
from orchestrator.sweep import run_sweep
from tests.cluster_helpers import DEMO, free_port, sweep_args, tickets_cli, tiny_overrides

pytestmark = pytest.mark.slow  # a real mlflow server and Ray sweeps


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """A real MLflow tracking server on 127.0.0.1 with its own SQLite store and artifact folder."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    args = [
        str(Path(sys.executable).with_name("mlflow")), "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
    ]
    with open(root / "server.log", "w") as log:
        proc = subprocess.Popen(args, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start: " + (root / "server.log").read_text()[-2000:])
            with contextlib.suppress(OSError), urllib.request.urlopen(uri + "/health", timeout=2):
                break
            time.sleep(0.5)
        yield uri, root / "artifacts"
    finally:  # the server and its workers are one process group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_runs_metrics_and_tickets_arrive_through_the_server(server, tmp_path: Path) -> None:
    uri, served_artifacts = server
    cfg, sweep = load_configs(DEMO, tiny_overrides(tmp_path / "results", "served", baselines="[dense]") + [f"sweep.mlflow_uri={uri}"])
    summary = run_sweep(cfg, sweep)
    trials = pd.read_parquet(summary.paths.root / "trials")
    assert len(trials) == 2 and set(trials["status"]) == {"completed"}

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(summary.experiment_name)
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # the server's store, not a driver path
    children = [r for r in client.search_runs([experiment.experiment_id]) if "tickets.trial_id" in r.data.tags]
    assert sorted(r.data.tags["tickets.trial_id"] for r in children) == sorted(trials["trial_id"])
    by_trial = trials.set_index("trial_id")
    for child in children:
        row = by_trial.loc[child.data.tags["tickets.trial_id"]]
        assert child.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")]
        assert sorted(steps) == list(range(1, int(row["epochs_trained"]) + 1))
        assert child.data.metrics["val_accuracy"] == pytest.approx(row["val_accuracy"])
        listed = {a.path for a in client.list_artifacts(child.info.run_id, "ticket")}
        assert {"ticket/arch.json", "ticket/weights.pt", "ticket/ticket.json"} <= listed
        # the bytes live in the server's --artifacts-destination, identical to the results folder's copy
        served = list(served_artifacts.rglob(f"{child.info.run_id}/artifacts/ticket/weights.pt"))
        assert len(served) == 1
        assert served[0].read_bytes() == (Path(row["ticket_path"]) / "weights.pt").read_bytes()
    assert not (tmp_path / "results" / "mlartifacts").exists()


def test_an_unreachable_server_stops_the_sweep_before_anything(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    results = tmp_path / "results"
    done = tickets_cli(sweep_args(tiny_overrides(results, "nowhere") + [f"sweep.mlflow_uri={dead}"]), cwd=tmp_path, timeout_s=120)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("tickets: error: MLflow tracking server") and dead in lines[0], done.stderr
    assert not results.exists()
