"""Local and cluster modes never mix.

On a machine where `ray start --head` runs (it records its address in RAY_TMPDIR/ray/
ray_current_cluster, and users often export RAY_ADDRESS), a sweep without `--address` must still
start its own local Ray; with `--address` it must refuse, before writing anything, a cluster with no
node that can host a trial.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import ray

from orchestrator.sweep import _init_ray
from tests.cluster_helpers import private_ray_tmpdir, ray_head, sweep_args, tickets_cli, tiny_overrides

pytestmark = pytest.mark.slow  # starts a real `ray start --head`


@pytest.fixture(scope="module")
def head():
    with private_ray_tmpdir() as tmpdir, ray_head(num_cpus=1) as address:
        assert (tmpdir / "ray" / "ray_current_cluster").exists()  # what a plain ray.init() would join
        yield address


def test_without_address_a_local_ray_starts_despite_ray_address(head: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", head)
    _init_ray(None)
    try:
        assert ray.get_runtime_context().gcs_address != head
        assert ray.cluster_resources()["CPU"] == os.cpu_count()  # the local node, not the 1-CPU head
    finally:
        ray.shutdown()


def test_plain_sweep_runs_locally_where_a_cluster_is_recorded(head: str, tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = tickets_cli(sweep_args(tiny_overrides(results, "local")), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    trials = pd.read_parquet(results / "local" / "trials")
    assert list(trials["status"]) == ["completed"]


def test_address_refuses_a_cluster_without_gpus_before_writing(head: str, tmp_path: Path) -> None:
    results = tmp_path / "results"
    overrides = tiny_overrides(results, "needs-gpu") + ["sweep.resources.gpu=1"]
    done = tickets_cli(sweep_args(overrides, "--address", head), cwd=tmp_path, timeout_s=180)
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("tickets: error:")]
    assert len(errors) == 1 and "gpu=1" in errors[0] and "GPU: 0" in errors[0], done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert not results.exists()
