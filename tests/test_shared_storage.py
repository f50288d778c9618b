"""Ray's storage on S3 (`sweep.storage_path: s3://...`), against a local S3-compatible server (moto).

What a cluster relies on: checkpoints land in the bucket, a crashed trial resumes from its checkpoint
there, the final checkpoints carry the tickets, and `tickets resume` finds the Tune state in the bucket
with nothing of it on local disk. The S3 client (pyarrow, boto3) is pointed at the server with the
standard AWS_ENDPOINT_URL variable, which Ray's workers inherit.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

import pandas as pd
import pytest

from lottery.errors import ConfigError
from orchestrator.config import load_configs
from orchestrator.sweep import resume_sweep, run_sweep
from tests.cluster_helpers import DEMO, free_port, tiny_overrides
from trainables.ticket_trainable import CRASH_ONCE_ENV

pytestmark = pytest.mark.slow

MOTO = Path(sys.executable).with_name("moto_server")
BUCKET = "tickets-storage"


@pytest.fixture()
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    if not MOTO.exists() and shutil.which("moto_server") is None:
        pytest.skip("needs moto[server] (dev extra)")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with open(tmp_path / "moto.log", "w") as log:
        proc = subprocess.Popen([str(MOTO if MOTO.exists() else "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            with suppress(OSError):
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).close()
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("moto_server did not start: " + (tmp_path / "moto.log").read_text()[-2000:])
            time.sleep(0.3)
        for key, value in {
            "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(key, value)
        import boto3

        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_checkpoints_and_tickets_live_in_s3_and_a_crashed_trial_resumes_from_there(s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "results"
    name = "s3sweep"
    cfg, sweep = load_configs(DEMO, tiny_overrides(results, name, epochs=4) + [f"sweep.storage_path=s3://{BUCKET}/ray"])
    marker = tmp_path / "crashed"
    monkeypatch.setenv(CRASH_ONCE_ENV, f"{marker}:2")
    summary = run_sweep(cfg, sweep)
    monkeypatch.delenv(CRASH_ONCE_ENV)
    assert marker.exists(), "the injected crash did not happen"

    trials = pd.read_parquet(summary.paths.root / "trials")
    epochs = pd.read_parquet(summary.paths.root / "epochs")
    assert list(trials["status"]) == ["completed"]
    trial_id = trials["trial_id"].item()
    assert sorted(epochs["epoch"]) == list(range(1, int(trials["epochs_trained"].item()) + 1))
    assert not (summary.paths.root / "ray").exists()  # nothing of Ray's storage on local disk

    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET) for o in page.get("Contents", [])]
    trial_keys = [k for k in keys if k.startswith(f"ray/{name}/") and f"_{trial_id}/" in k]
    assert any(k.endswith("/ticket/weights.pt") for k in trial_keys), keys[:50]
    assert any(k.endswith("/state.pt") or "checkpoint_" in k for k in trial_keys)
    # the crashed trial went on from its checkpoint in the bucket (epoch 3 first after the restart)
    result_key = next(k for k in trial_keys if k.endswith("/result.json"))
    rows = [json.loads(line) for line in s3.get_object(Bucket=BUCKET, Key=result_key)["Body"].read().decode().splitlines() if line.strip()]
    restarts = [r["epoch"] for r in rows if r.get("report_kind") == "epoch" and r["iterations_since_restore"] == 1]
    assert restarts == [1, 3], restarts
    ticket = Path(trials["ticket_path"].item())
    assert (ticket / "weights.pt").exists()  # copied from the final checkpoint in S3 into the results folder

    # a restarted head: the Tune state comes back from the bucket; nothing is recorded twice
    written = (summary.paths.root / "trials" / f"{trial_id}.parquet").stat().st_mtime_ns
    resumed = resume_sweep(name, results)
    assert len(resumed.trials) == 1 and resumed.trials["status"].item() == "completed"
    assert (summary.paths.root / "trials" / f"{trial_id}.parquet").stat().st_mtime_ns == written


def test_a_missing_bucket_stops_the_sweep_before_anything(s3, tmp_path: Path) -> None:
    results = tmp_path / "results"
    cfg, sweep = load_configs(DEMO, tiny_overrides(results, "nobucket") + ["sweep.storage_path=s3://YOUR-BUCKET/ray"])
    with pytest.raises(ConfigError, match="bucket 'YOUR-BUCKET' does not exist"):
        run_sweep(cfg, sweep)
    assert not results.exists()
