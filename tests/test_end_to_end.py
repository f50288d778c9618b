"""End to end through a real local Ray, a real MLflow SQLite store and real Parquet files.

One small sweep (digits, tiny VGG, 2 search trials + the dense baseline) with one injected worker
crash, then everything a user would look at is checked against everything else.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest
import torch

from lottery.data import load_dataset
from lottery.ticket import load_ticket
from lottery.training.loop import evaluate
from orchestrator.commands import analyze_command
from orchestrator.config import load_configs
from orchestrator.sweep import run_sweep
from trainables.ticket_trainable import CRASH_ONCE_ENV

pytestmark = pytest.mark.slow

EPOCHS = 4


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("e2e")
    cfg, sweep = load_configs(
        Path(__file__).parents[1] / "configs" / "demo.yaml",
        [
            f"sweep.results_dir={tmp / 'results'}",
            "sweep.name=e2e",
            "sweep.num_trials=2",
            "model.name=vgg_tiny",
            f"train.epochs={EPOCHS}",
            "method.eb_queue=3",
            "method.retrain_epochs=2",
        ],
    )
    marker = tmp / "crashed"
    os.environ[CRASH_ONCE_ENV] = f"{marker}:2"
    try:
        summary = run_sweep(cfg, sweep)
    finally:
        os.environ.pop(CRASH_ONCE_ENV, None)
    return cfg, sweep, summary, marker


def test_every_trial_lands_once_in_parquet(sweep_run):
    _, _, summary, marker = sweep_run
    trials = pd.read_parquet(summary.paths.root / "trials")
    epochs = pd.read_parquet(summary.paths.root / "epochs")
    assert marker.exists(), "the injected crash did not happen"
    assert len(trials) == 3 and set(trials["status"]) == {"completed"}
    assert sorted(trials["arm"]) == ["baseline", "search", "search"]
    assert trials.loc[trials["arm"] == "baseline", "method"].item() == "dense"
    assert trials["trial_id"].is_unique and trials["config_hash"].is_unique
    for row in trials.itertuples():
        rows = epochs[epochs["trial_id"] == row.trial_id]
        # one row per epoch, 1..N, even for the trial that crashed and resumed from its checkpoint
        assert sorted(rows["epoch"]) == list(range(1, row.epochs_trained + 1))
        assert (rows["config_hash"] == row.config_hash).all()
    dense = trials[trials["method"] == "dense"].iloc[0]
    assert dense["epochs_trained"] == EPOCHS and dense["flops_ratio"] == 1.0
    for row in trials[trials["method"] == "earlybird"].itertuples():
        assert row.flops < dense["flops"]
        assert row.epochs_trained == row.search_epochs + 2
    search = trials[trials["arm"] == "search"]
    assert search["method.prune_ratio"].between(0.3, 0.85).all()


def test_mlflow_has_parent_children_metrics_and_tickets(sweep_run):
    _, _, summary, _ = sweep_run
    client = mlflow.MlflowClient(summary.tracking_uri)
    experiment = client.get_experiment_by_name(summary.experiment_name)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id])
    parent = [r for r in runs if r.info.run_id == summary.parent_run_id][0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 3
    assert "pareto.png" in [a.path for a in client.list_artifacts(parent.info.run_id)]
    report = [a.path for a in client.list_artifacts(parent.info.run_id, "report")]
    assert {"report/index.html", "report/fronts.png", "report/earlybird_mask_distance.png"} <= set(report)
    assert "hypervolume reference point" in (summary.paths.report / "index.html").read_text()
    trials = pd.read_parquet(summary.paths.root / "trials").set_index("trial_id")
    for child in children:
        trial_id = child.data.tags["tickets.trial_id"]
        row = trials.loc[trial_id]
        assert child.info.status == "FINISHED"
        assert child.data.tags["tickets.config_hash"] == row["config_hash"]
        assert child.data.params["method.name"] == row["method"]
        assert float(child.data.params["train.lr"]) == row["train.lr"]
        history = client.get_metric_history(child.info.run_id, "val_accuracy")
        assert sorted(m.step for m in history) == list(range(1, int(row["epochs_trained"]) + 1))  # no duplicates
        assert math.isclose(child.data.metrics["val_accuracy"], row["val_accuracy"])
        assert {"ticket/arch.json", "ticket/weights.pt", "ticket/ticket.json"} <= {
            a.path for a in client.list_artifacts(child.info.run_id, "ticket")
        }


def test_only_declared_metrics_reach_mlflow(sweep_run):
    """No orchestration key (should_checkpoint, epoch, Tune's bookkeeping) is charted: every metric of
    a trial's run is a declared epoch column or a long-table column; the other final values are
    result.* tags (columns in the runs table, no one-point charts)."""
    from lottery.methods import METHODS, all_epoch_columns, all_final_columns

    _, _, summary, _ = sweep_run
    client = mlflow.MlflowClient(summary.tracking_uri)
    experiment = client.get_experiment_by_name(summary.experiment_name)
    tables = {f"{name}_{c.name}" for n in METHODS.names() for name, cols in METHODS.get(n).tables.items() for c in cols}
    allowed = (set(all_epoch_columns()) - {"epoch", "phase_epoch"}) | tables
    seen: set[str] = set()
    result_tags: set[str] = set()
    for run in client.search_runs([experiment.experiment_id]):
        if "tickets.trial_id" in run.data.tags:
            seen |= set(run.data.metrics)
            result_tags |= {k.removeprefix("result.") for k in run.data.tags if k.startswith("result.")}
    assert seen and seen <= allowed, sorted(seen - allowed)
    assert {"flops_ratio", "epochs_trained", "latency_ms"} <= result_tags <= set(all_final_columns())
    assert not {"epoch", "should_checkpoint", "training_iteration", "time_total_s"} & seen


def test_saved_ticket_reproduces_reported_accuracy(sweep_run):
    cfg, _, summary, _ = sweep_run
    trials = pd.read_parquet(summary.paths.root / "trials")
    data = load_dataset("digits", batch_size=256)
    for row in trials.itertuples():
        model = load_ticket(Path(row.ticket_path))
        assert evaluate(model, data.test, torch.device("cpu")) == pytest.approx(row.test_accuracy)


def test_optuna_saw_only_search_trials_with_their_results(sweep_run):
    _, sweep, summary, _ = sweep_run
    study = optuna.load_study(
        study_name=sweep.name,
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(summary.paths.journal))),
    )
    trials = pd.read_parquet(summary.paths.root / "trials")
    search = trials[trials["arm"] == "search"].set_index("optuna_trial_number")
    assert len(study.trials) == 2
    for t in study.trials:
        assert t.state == optuna.trial.TrialState.COMPLETE
        assert t.values == [search.loc[t.number, "val_accuracy"], search.loc[t.number, "flops"]]
        assert t.params["method.prune_ratio"] == search.loc[t.number, "method.prune_ratio"]


def test_front_printed_and_analyze_reads_it(sweep_run, capsys):
    _, _, summary, _ = sweep_run
    assert "Pareto front" in summary.front_text and "dense baseline" in summary.front_text
    assert summary.paths.plot("pareto").stat().st_size > 1000
    assert analyze_command(summary.paths.root) == 0
    out = capsys.readouterr().out
    assert "Pareto front (val_accuracy max, flops min)" in out
