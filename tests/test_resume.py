"""`tickets resume` after the driver is killed: nothing lost, nothing recorded twice.

A real `tickets sweep` runs in its own process group (its local Ray shares the driver's fate); once
one trial has finished and another has checkpointed epochs, the whole group gets SIGKILL. `tickets
resume` must then finish the sweep with one Parquet row per trial, one epoch row per (trial, epoch),
one MLflow run per trial (re-attached, not recreated) and no metric step logged twice. With a
seeded sampler it proposes no configuration twice (each proposal is the one an uninterrupted sweep
makes for that trial number), leaves no Optuna trial RUNNING, and finished tickets stay untouched.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest

from orchestrator.searcher import trial_seed
from search_spaces import SEARCH_SPACES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
TICKETS = [sys.executable, "-c", "from orchestrator.cli import main; raise SystemExit(main())"]
NAME = "killed"
SEARCH_TRIALS = 3
EPOCHS = 8
SAMPLER_SEED = 11


def _parquet_count(folder: Path) -> int:
    return len(list(folder.glob("*.parquet"))) if folder.is_dir() else 0


def _kill_when_partly_done(proc: subprocess.Popen, sweep_dir: Path, timeout_s: float = 240) -> int:
    """SIGKILL the sweep's process group once a trial is finished and another has epochs on disk."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended (rc={proc.returncode}) before it could be interrupted")
        done = _parquet_count(sweep_dir / "trials")
        if done >= 1 and _parquet_count(sweep_dir / "epochs") > done:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return done
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("no trial finished in time")


def test_resume_after_the_driver_is_killed(tmp_path: Path) -> None:
    results = tmp_path / "results"
    overrides = [
        f"sweep.results_dir={results}", f"sweep.name={NAME}", f"sweep.num_trials={SEARCH_TRIALS}",
        "sweep.max_concurrent=2", "model.name=vgg_tiny", f"train.epochs={EPOCHS}", "method.retrain_epochs=4",
        "sweep.sampler=random", f"sweep.sampler_seed={SAMPLER_SEED}",
    ]
    args = [*TICKETS, "sweep", str(ROOT / "configs" / "demo.yaml")] + [a for o in overrides for a in ("--set", o)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sweep_dir = results / NAME
    with open(tmp_path / "sweep.log", "w") as log:
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        finished_before_kill = _kill_when_partly_done(proc, sweep_dir)
    assert finished_before_kill < SEARCH_TRIALS + 1
    finished = {p.name: p.stat().st_mtime_ns for p in (sweep_dir / "trials").glob("*.parquet")}
    tickets = {p: p.stat().st_mtime_ns for name in finished for p in (sweep_dir / "tickets" / Path(name).stem).rglob("*")}
    assert tickets, "a finished trial has no ticket folder"

    resumed = subprocess.run(
        [*TICKETS, "resume", NAME, "--results-dir", str(results)], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=600,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]

    trials = pd.read_parquet(sweep_dir / "trials")
    epochs = pd.read_parquet(sweep_dir / "epochs")
    assert len(trials) == SEARCH_TRIALS + 1 and set(trials["status"]) == {"completed"}
    assert trials["trial_id"].is_unique
    # trials finished before the kill are not rerun: their result files and tickets are untouched
    assert {name: (sweep_dir / "trials" / name).stat().st_mtime_ns for name in finished} == finished
    assert {p: p.stat().st_mtime_ns for p in tickets} == tickets
    search = trials[trials["arm"] == "search"]
    assert search["config_hash"].is_unique, search[["trial_id", "config_hash"]]  # no proposal repeated

    study = optuna.load_study(study_name=NAME, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(sweep_dir / "optuna.journal"))))
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states  # orphans closed
    complete = {t.number for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE}
    assert complete == set(search["optuna_trial_number"])  # each recorded search trial told once, with its result
    space = SEARCH_SPACES.get("earlybird")
    for t in study.trials:  # the n-th proposal is the one an uninterrupted sweep makes: a function of (seed, n)
        fresh = optuna.create_study(directions=["maximize", "minimize"],
                                    sampler=optuna.samplers.RandomSampler(seed=trial_seed(SAMPLER_SEED, t.number)))
        expected = space.sample(fresh.ask())
        # a driver killed while Optuna wrote a proposal's parameters leaves the first ones only (closed FAIL)
        assert t.params and {k: expected[k] for k in t.params} == t.params, t.number
    for row in trials.itertuples():
        rows = epochs[epochs["trial_id"] == row.trial_id]
        assert sorted(rows["epoch"]) == list(range(1, row.epochs_trained + 1)), row.trial_id

    client = mlflow.MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"tickets/{NAME}")
    runs = client.search_runs([experiment.experiment_id])
    children = [r for r in runs if "tickets.trial_id" in r.data.tags]
    assert sorted(r.data.tags["tickets.trial_id"] for r in children) == sorted(trials["trial_id"])  # no recreated runs
    by_trial = trials.set_index("trial_id")
    for child in children:
        assert child.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")]
        assert sorted(steps) == list(range(1, int(by_trial.loc[child.data.tags["tickets.trial_id"], "epochs_trained"]) + 1))
