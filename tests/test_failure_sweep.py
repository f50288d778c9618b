"""A real local sweep in which one search trial diverges next to healthy ones.

The diverged trial must be recorded failed (Parquet and MLflow, with its NaN epoch metrics), told
to Optuna as FAIL and kept off the Pareto front, while the other trials complete. The same sweep
checks that its Ray listens on loopback only.
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest

from analysis.pareto import pareto_front
from orchestrator.config import load_configs
from search_spaces import SEARCH_SPACES, Choice, SearchSpace

pytestmark = pytest.mark.slow

SPACE = "test-diverging-lr"
BAD_LR = 1e4


@pytest.fixture(scope="module")
def diverging_space():
    """A grid over the learning rate: one healthy value, one that diverges in the first epoch."""
    SEARCH_SPACES.register(SPACE)(SearchSpace(method="dense", dimensions={"train.lr": Choice((0.05, BAD_LR))}))
    yield SPACE
    SEARCH_SPACES._items.pop(SPACE)  # test-only space: leave the registry as found
    SEARCH_SPACES._help.pop(SPACE)


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def _listening(pids: set[int]) -> set[tuple[str, str]]:
    """(local address, process name) of every TCP listening socket owned by one of `pids` (ss -ltnp)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    found = set()
    for line in out.splitlines():
        owners = re.findall(r'\("([^"]+)",pid=(\d+)', line)
        if any(int(pid) in pids for _, pid in owners):
            found.add((line.split()[3], owners[0][0]))
    return found


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory: pytest.TempPathFactory, diverging_space: str):
    from orchestrator.sweep import run_sweep

    tmp = tmp_path_factory.mktemp("diverge")
    cfg, sweep = load_configs(
        Path(__file__).parents[1] / "configs" / "demo.yaml",
        [f"sweep.results_dir={tmp / 'results'}", "sweep.name=diverge", f"sweep.search_space={diverging_space}",
         "sweep.sampler=grid", "sweep.num_trials=2", "sweep.baselines=[dense]", "method.name=dense",
         "model.name=vgg_tiny", "train.epochs=3", "sweep.max_failures=2"],
    )
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(summary=run_sweep(cfg, sweep)))
    worker.start()
    sockets: set[tuple[str, str]] = set()
    while worker.is_alive():
        sockets |= _listening(_descendants(os.getpid()))
        time.sleep(0.5)
    worker.join()
    return result["summary"], sockets


def test_diverged_trial_is_failed_and_the_others_complete(sweep_run) -> None:
    summary, _ = sweep_run
    trials = pd.read_parquet(summary.paths.root / "trials")
    assert len(trials) == 3
    bad = trials[trials["train.lr"] == BAD_LR]
    good = trials[trials["train.lr"] != BAD_LR]
    assert len(bad) == 1 and bad["status"].item() == "failed"
    assert bad["error"].item().startswith("diverged at epoch 1 ("), bad["error"].item()
    assert set(good["status"]) == {"completed"} and set(good["arm"]) == {"baseline", "search"}
    epochs = pd.read_parquet(summary.paths.root / "epochs")
    bad_epochs = epochs[epochs["trial_id"] == bad["trial_id"].item()]
    assert list(bad_epochs["epoch"]) == [1]  # the diverged epoch is recorded, not dropped
    front = pareto_front(trials, summary_objectives := [("val_accuracy", "max"), ("flops", "min")])
    assert bad["trial_id"].item() not in set(front["trial_id"]) and len(front) >= 1, summary_objectives


def test_diverged_trial_is_failed_in_mlflow_with_its_metrics(sweep_run) -> None:
    summary, _ = sweep_run
    trials = pd.read_parquet(summary.paths.root / "trials").set_index("trial_id")
    client = mlflow.MlflowClient(summary.tracking_uri)
    run_id = trials.loc[trials["train.lr"] == BAD_LR, "mlflow_run_id"].item()
    run = client.get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["tickets.error"].startswith("diverged at epoch 1 (")
    assert "final_val_accuracy" not in run.data.metrics
    history = client.get_metric_history(run_id, "val_accuracy")
    assert [m.step for m in history] == [1]
    losses = client.get_metric_history(run_id, "train_loss")
    assert [m.step for m in losses] == [1]  # logged although it may be NaN


def test_optuna_was_told_fail_for_the_diverged_trial_only(sweep_run) -> None:
    summary, _ = sweep_run
    study = optuna.load_study(
        study_name="diverge",
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(summary.paths.journal))),
    )
    states = {t.params["train.lr"]: t.state for t in study.trials}
    assert states == {0.05: optuna.trial.TrialState.COMPLETE, BAD_LR: optuna.trial.TrialState.FAIL}


def test_local_ray_listens_on_loopback_only(sweep_run) -> None:
    _, sockets = sweep_run
    names = {name for _, name in sockets}
    assert {"gcs_server", "raylet"} <= names, sockets  # the poll did see Ray's servers
    exposed = {(addr, name) for addr, name in sockets if not re.match(r"^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]|\[::1\]):\d+$", addr)}
    assert not exposed, f"listening beyond loopback: {sorted(exposed)}"
