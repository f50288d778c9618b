"""Robust tickets end to end: the digits preset (shrunk) through a real local Ray, MLflow SQLite,
Optuna and Parquet, then `tickets analyze`."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest

from orchestrator.commands import analyze_command
from orchestrator.config import load_configs
from orchestrator.sweep import run_sweep
from trainables.ticket_trainable import CRASH_ONCE_ENV

pytestmark = pytest.mark.slow


def test_robust_sweep_records_every_stage_and_analyze_compares_to_vanilla(tmp_path: Path, capsys) -> None:
    cfg, sweep = load_configs(
        Path(__file__).parents[1] / "configs" / "robust-digits.yaml",
        [f"sweep.results_dir={tmp_path}", "sweep.name=robust-e2e", "sweep.num_trials=2", "sweep.sampler=random",
         "model.name=vgg_tiny", "train.epochs=2", "method.finetune_epochs=1", "method.eval_pgd_steps=3",
         "method.downstream=digits[5-9]"],
    )
    marker = tmp_path / "crashed"
    os.environ[CRASH_ONCE_ENV] = f"{marker}:3"  # one trial dies in its 3rd epoch report and is restored
    try:
        summary = run_sweep(cfg, sweep)
    finally:
        os.environ.pop(CRASH_ONCE_ENV, None)
    assert marker.exists(), "the injected crash did not happen"
    trials = pd.read_parquet(summary.paths.root / "trials")
    epochs = pd.read_parquet(summary.paths.root / "epochs")
    assert len(trials) == 2 and set(trials["status"]) == {"completed"}
    for row in trials.itertuples():
        rows = epochs[epochs["trial_id"] == row.trial_id].sort_values("epoch")
        assert list(rows["epoch"]) == list(range(1, row.epochs_trained + 1))
        robust_phases = ["source"] * 2 + ["transfer:digits[5-9]"]
        has_reference = trials.loc[trials["trial_id"] == row.trial_id, "method.epsilon"].item() > 0
        expected = (["vanilla_" + p for p in robust_phases] if has_reference else []) + robust_phases
        assert list(rows["phase"]) == expected
        assert json.loads(row.transfer_accuracies) == {"digits[5-9]": pytest.approx(row.transfer_accuracy)}
        assert math.isclose(row.transfer_gap, row.transfer_accuracy - row.vanilla_transfer_accuracy)
        assert 0.0 <= row.source_robust_accuracy <= row.source_clean_accuracy
        assert row.test_accuracy == pytest.approx(row.transfer_accuracy)  # one downstream: the saved ticket's
    client = mlflow.MlflowClient(summary.tracking_uri)
    experiment = client.get_experiment_by_name(summary.experiment_name)
    children = [r for r in client.search_runs([experiment.experiment_id]) if "tickets.trial_id" in r.data.tags]
    assert len(children) == 2
    for child in children:
        row = trials.set_index("trial_id").loc[child.data.tags["tickets.trial_id"]]
        assert math.isclose(float(child.data.tags["result.transfer_accuracy"]), row["transfer_accuracy"], rel_tol=1e-5)
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")]
        assert sorted(steps) == list(range(1, int(row["epochs_trained"]) + 1))  # each stage's epochs, once
    study = optuna.load_study(study_name=sweep.name, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(summary.paths.journal))))
    by_number = trials.set_index("optuna_trial_number")
    assert sorted(t.values for t in study.trials) == sorted(
        [by_number.loc[t.number, "transfer_val_accuracy"], by_number.loc[t.number, "sparse_flops"]] for t in study.trials)
    assert analyze_command(summary.paths.root) == 0
    out = capsys.readouterr().out
    assert "robust tickets: transfer accuracy" in out and "per downstream task" in out
    assert (summary.paths.report / "robust_transfer.png").stat().st_size > 10_000
