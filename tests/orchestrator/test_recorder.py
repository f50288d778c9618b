"""TrialRecorder over a real MlflowTracker (SQLite store) and Parquet: runs, metrics, artifacts, restarts."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from lottery.codec import config_hash, to_flat_dict, with_overrides
from orchestrator.config import load_configs
from orchestrator.parquet_store import ParquetResults
from orchestrator.recorder import TrialRecorder
from orchestrator.layout import default_tracking_uri
from orchestrator.tracking import PARENT_TAG, MlflowTracker

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs" / "demo.yaml"
SWEEP = "unit"
EXPERIMENT = "tickets/unit"


@pytest.fixture(scope="module")
def mlflow_env(tmp_path_factory):
    """One SQLite store (slow to create) for the module: (uri, artifact root, parent run id)."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = default_tracking_uri(root)
    assert uri == f"sqlite:///{root.resolve() / 'mlflow.db'}"
    tracker = MlflowTracker(uri, EXPERIMENT, root / "mlartifacts")
    parent = tracker.parent_run(SWEEP, {"sweep.num_trials": 8})
    return uri, root / "mlartifacts", parent


def new_recorder(mlflow_env, sweep_dir: Path) -> TrialRecorder:
    """A fresh recorder and tracker, as a (re)started driver builds them."""
    uri, artifacts, parent = mlflow_env
    return TrialRecorder(SWEEP, ParquetResults(sweep_dir), MlflowTracker(uri, EXPERIMENT, artifacts), parent)


def client(mlflow_env) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_env[0])


def epoch_metrics(epoch: int, acc: float) -> dict:
    return {
        "epoch": epoch, "phase": "search", "phase_epoch": epoch, "train_loss": 2.0 / epoch, "val_accuracy": acc,
        "flops": 1000, "mask_distance": float("nan") if epoch == 1 else 0.5 / epoch, "eb_drawn": False,
    }


FINAL = {
    "val_accuracy": 0.91, "test_accuracy": 0.9, "flops": 400, "params": 1234, "dense_flops": 1000,
    "dense_params": 5000, "flops_ratio": 0.4, "epochs_trained": 3, "train_flops_total": 1.5e9,
    "wall_time_s": 1.25, "eb_epoch": 2, "eb_detected": True,
}


def test_parent_run_is_reattached(mlflow_env):
    uri, artifacts, parent = mlflow_env
    again = MlflowTracker(uri, EXPERIMENT, artifacts).parent_run(SWEEP, {})
    assert again == parent
    run = client(mlflow_env).get_run(parent)
    assert run.data.tags["tickets.role"] == "parent" and run.data.tags["tickets.sweep"] == SWEEP
    assert run.data.params == {"sweep.num_trials": "8"}
    assert run.info.status == "RUNNING"


def test_start_epoch_complete(mlflow_env, tmp_path):
    cfg, _ = load_configs(DEMO, ["method.prune_ratio=0.6"])
    chash = config_hash(cfg)
    recorder = new_recorder(mlflow_env, tmp_path / "sweep")
    record = recorder.start("trial-a", cfg, chash, "search", 3)
    assert recorder.start("trial-a", cfg, chash, "search", 3) is record  # idempotent in one driver
    for epoch, acc in ((1, 0.3), (2, 0.5), (3, 0.7)):
        recorder.epoch("trial-a", epoch_metrics(epoch, acc))
    ticket = tmp_path / "ticket"
    ticket.mkdir()
    (ticket / "arch.json").write_text('{"channels": [4, 8]}')
    (ticket / "weights.pt").write_bytes(b"\0" * 64)
    row = recorder.complete("trial-a", FINAL, ticket)

    c = client(mlflow_env)
    run = c.get_run(record.run_id)
    tags = run.data.tags
    assert tags[PARENT_TAG] == mlflow_env[2]
    assert tags["tickets.trial_id"] == "trial-a"
    assert tags["tickets.config_hash"] == chash
    assert tags["tickets.method"] == "earlybird" and tags["tickets.arm"] == "search"
    assert tags["tickets.sweep"] == SWEEP and tags["tickets.role"] == "trial"
    assert run.info.run_name == "earlybird-trial-a"
    assert run.info.experiment_id == c.get_experiment_by_name(EXPERIMENT).experiment_id
    assert run.info.status == "FINISHED"
    assert run.data.params == {k: str(v) for k, v in to_flat_dict(cfg).items()}
    assert run.data.params["method.prune_ratio"] == "0.6"

    history = c.get_metric_history(record.run_id, "val_accuracy")
    assert sorted((m.step, m.value) for m in history) == [(1, 0.3), (2, 0.5), (3, 0.7), (3, 0.91)]  # the final value last
    masks = c.get_metric_history(record.run_id, "mask_distance")
    by_step = {m.step: m.value for m in masks}
    assert sorted(by_step) == [1, 2, 3] and math.isnan(by_step[1])  # a NaN is logged as NaN, not dropped
    assert "phase" not in run.data.metrics  # strings are not metrics
    metrics = run.data.metrics
    # final values end the epoch curves of the same name (no final_* charts) ...
    assert metrics["val_accuracy"] == 0.91 and metrics["flops"] == 400.0
    assert sorted((m.step, m.value) for m in c.get_metric_history(record.run_id, "val_accuracy"))[-1] == (3, 0.91)
    assert not [k for k in metrics if k.startswith("final_")]
    # ... and the rest are result.* tags: runs-table columns without a one-point chart
    assert "flops_ratio" not in metrics and "eb_detected" not in metrics
    assert tags["result.flops_ratio"] == "0.4" and tags["result.eb_detected"] == "True"
    assert run.data.tags["tickets.final_logged"] == "1"

    artifacts = sorted(a.path for a in c.list_artifacts(record.run_id, "ticket"))
    assert artifacts == ["ticket/arch.json", "ticket/weights.pt"]
    local = Path(c.download_artifacts(record.run_id, "ticket/arch.json", str(tmp_path / "dl")))
    assert local.read_text() == '{"channels": [4, 8]}'

    store = ParquetResults(tmp_path / "sweep")
    trials = store.read_trials()
    assert len(trials) == 1
    t = trials.iloc[0]
    assert (t["trial_id"], t["status"], t["error"], t["arm"]) == ("trial-a", "completed", "", "search")
    assert t["optuna_trial_number"] == 3 and t["mlflow_run_id"] == record.run_id
    assert t["config_hash"] == chash and t["method"] == "earlybird" and t["sweep"] == SWEEP
    assert t["val_accuracy"] == 0.91 and t["flops"] == 400 and t["eb_epoch"] == 2 and bool(t["eb_detected"])
    assert t["method.prune_ratio"] == 0.6 and t["ticket_path"] == str(ticket)
    assert row["status"] == "completed" and row["mlflow_run_id"] == record.run_id
    epochs = store.read_epochs().sort_values("epoch")
    assert epochs["epoch"].tolist() == [1, 2, 3]
    assert epochs["val_accuracy"].tolist() == [0.3, 0.5, 0.7]
    assert (epochs["trial_id"] == "trial-a").all() and (epochs["config_hash"] == chash).all()
    assert pd.isna(epochs["mask_distance"].iloc[0])


def test_restarted_driver_reattaches_and_keeps_epochs(mlflow_env, tmp_path):
    base, _ = load_configs(DEMO)
    cfg = with_overrides(base, {"method.name": "dense"})
    chash = config_hash(cfg)
    sweep_dir = tmp_path / "sweep"
    first = new_recorder(mlflow_env, sweep_dir)
    run_id = first.start("trial-b", cfg, chash, "baseline", -1).run_id
    first.epoch("trial-b", epoch_metrics(1, 0.2))
    first.epoch("trial-b", epoch_metrics(2, 0.4))
    # the driver dies here; a new one rebuilds its recorder and sees the trial again
    second = new_recorder(mlflow_env, sweep_dir)
    record = second.start("trial-b", cfg, chash, "baseline", -1)
    assert record.run_id == run_id
    assert sorted(record.epochs) == [1, 2]
    assert record.epochs[2]["val_accuracy"] == 0.4
    second.epoch("trial-b", epoch_metrics(2, 0.45))  # the trial replays epoch 2 from its checkpoint
    second.epoch("trial-b", epoch_metrics(3, 0.6))
    second.complete("trial-b", FINAL, None)

    store = ParquetResults(sweep_dir)
    epochs = store.read_epochs().sort_values("epoch")
    assert epochs["epoch"].tolist() == [1, 2, 3]  # no duplicate row for epoch 2
    assert epochs["val_accuracy"].tolist() == [0.2, 0.45, 0.6]
    trials = store.read_trials()
    assert trials["trial_id"].tolist() == ["trial-b"] and trials["mlflow_run_id"].tolist() == [run_id]
    assert trials["arm"].tolist() == ["baseline"] and trials["optuna_trial_number"].tolist() == [-1]
    assert pd.isna(trials["method.prune_ratio"].iloc[0])

    c = client(mlflow_env)
    runs = c.search_runs([c.get_experiment_by_name(EXPERIMENT).experiment_id],
                         filter_string="tags.`tickets.trial_id` = 'trial-b'")
    assert [r.info.run_id for r in runs] == [run_id]  # one run, not one per driver
    assert runs[0].info.status == "FINISHED"
    assert runs[0].data.tags["tickets.method"] == "dense"
    assert "method.prune_ratio" not in runs[0].data.params
    assert runs[0].data.metrics["val_accuracy"] == 0.91  # the final value, logged last at the last step
    history = c.get_metric_history(run_id, "val_accuracy")
    assert sorted(m.step for m in history) == [1, 2, 3, 3]  # the replayed epoch 2 is not logged twice; 3: epoch, final


def test_fail_records_error(mlflow_env, tmp_path):
    cfg, _ = load_configs(DEMO)
    recorder = new_recorder(mlflow_env, tmp_path / "sweep")
    record = recorder.start("trial-c", cfg, config_hash(cfg), "search", 5)
    recorder.epoch("trial-c", epoch_metrics(1, 0.1))
    row = recorder.fail("trial-c", "RuntimeError: loss is NaN")
    assert row["status"] == "failed" and row["error"] == "RuntimeError: loss is NaN"

    run = client(mlflow_env).get_run(record.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["tickets.error"] == "RuntimeError: loss is NaN"
    assert not any(k.startswith("final_") for k in run.data.metrics)

    trials = ParquetResults(tmp_path / "sweep").read_trials()
    assert len(trials) == 1
    t = trials.iloc[0]
    assert t["status"] == "failed" and t["error"] == "RuntimeError: loss is NaN"
    assert t["optuna_trial_number"] == 5 and t["mlflow_run_id"] == record.run_id
    assert pd.isna(t["val_accuracy"]) and pd.isna(t["flops"]) and pd.isna(t["ticket_path"])
    assert t["method.prune_ratio"] == 0.5  # the config is still recorded


def test_long_error_text_is_truncated_for_the_tag(mlflow_env, tmp_path):
    cfg, _ = load_configs(DEMO, ["seed=3"])
    recorder = new_recorder(mlflow_env, tmp_path / "sweep")
    record = recorder.start("trial-d", cfg, config_hash(cfg), "search", 6)
    text = "x" * 6000
    recorder.fail("trial-d", text)
    assert client(mlflow_env).get_run(record.run_id).data.tags["tickets.error"] == "x" * 5000
    assert ParquetResults(tmp_path / "sweep").read_trials().iloc[0]["error"] == text  # Parquet keeps it all


def test_a_finished_trial_replayed_after_restart_is_recorded_once(mlflow_env, tmp_path):
    """Tune may rerun a trial that finished just after its last experiment snapshot: the replayed
    final (or a failure of the replay) must not rewrite the row or log the final metrics twice."""
    base, _ = load_configs(DEMO)
    cfg = with_overrides(base, {"method.name": "dense"})
    chash = config_hash(cfg)
    sweep_dir = tmp_path / "sweep"
    first = new_recorder(mlflow_env, sweep_dir)
    run_id = first.start("trial-c", cfg, chash, "baseline", -1).run_id
    first.epoch("trial-c", epoch_metrics(1, 0.3))
    first.complete("trial-c", FINAL, None)
    row_file = sweep_dir / "trials" / "trial-c.parquet"
    written = row_file.stat().st_mtime_ns

    second = new_recorder(mlflow_env, sweep_dir)
    second.start("trial-c", cfg, chash, "baseline", -1)
    row = second.complete("trial-c", {**FINAL, "val_accuracy": 0.5}, None)
    assert row["val_accuracy"] == 0.91 and row["mlflow_run_id"] == run_id
    assert second.fail("trial-c", "replay crashed")["status"] == "completed"
    assert row_file.stat().st_mtime_ns == written
    assert ParquetResults(sweep_dir).read_trials()["val_accuracy"].tolist() == [0.91]
    history = client(mlflow_env).get_metric_history(run_id, "val_accuracy")
    assert [m.value for m in history].count(0.91) == 1  # the final value, logged once


def test_an_epoch_in_mlflow_but_not_yet_in_parquet_is_not_logged_twice(mlflow_env, tmp_path):
    """MLflow is written before Parquet: a driver killed in between leaves the step in MLflow only,
    and the re-attached driver must learn that from MLflow, not from the Parquet rows."""
    base, _ = load_configs(DEMO)
    cfg = with_overrides(base, {"method.name": "dense"})
    chash = config_hash(cfg)
    sweep_dir = tmp_path / "sweep"
    first = new_recorder(mlflow_env, sweep_dir)
    run_id = first.start("trial-d", cfg, chash, "baseline", -1).run_id
    first.epoch("trial-d", epoch_metrics(1, 0.3))
    first.epoch("trial-d", epoch_metrics(2, 0.5))
    (sweep_dir / "epochs" / "trial-d.parquet").unlink()  # as if killed before the Parquet write

    second = new_recorder(mlflow_env, sweep_dir)
    assert second.start("trial-d", cfg, chash, "baseline", -1).mlflow_steps == {1, 2}
    second.epoch("trial-d", epoch_metrics(1, 0.3))
    second.epoch("trial-d", epoch_metrics(2, 0.5))
    second.epoch("trial-d", epoch_metrics(3, 0.7))
    assert sorted(m.step for m in client(mlflow_env).get_metric_history(run_id, "val_accuracy")) == [1, 2, 3]
    assert ParquetResults(sweep_dir).read_epochs()["epoch"].sort_values().tolist() == [1, 2, 3]
