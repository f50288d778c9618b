"""ParquetResults: one file per trial with the full schema, atomic replace, readable as a folder."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lottery.codec import config_hash, to_flat_dict, with_overrides
from orchestrator.config import load_configs
from orchestrator.parquet_store import ParquetResults
from orchestrator.results_schema import conform, epochs_schema, trials_schema

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs" / "demo.yaml"


def _configs():
    eb, _ = load_configs(DEMO, ["method.prune_ratio=0.7"])
    dense = with_overrides(eb, {"method.name": "dense"})
    return eb, dense


def trial_row(cfg, trial_id: str, status: str = "completed", **final) -> dict:
    return {
        **to_flat_dict(cfg),
        "val_accuracy": 0.9, "test_accuracy": 0.88, "flops": 1000, "params": 50, "epochs_trained": 12,
        **final,
        "sweep": "unit", "trial_id": trial_id, "config_hash": config_hash(cfg), "method": cfg.method.name,
        "seed": cfg.seed, "status": status, "error": "" if status == "completed" else "boom", "arm": "search",
        "optuna_trial_number": 0, "mlflow_run_id": "r" + trial_id, "ticket_path": None,
    }


def epoch_row(cfg, trial_id: str, epoch: int, acc: float) -> dict:
    return {
        "sweep": "unit", "trial_id": trial_id, "config_hash": config_hash(cfg), "method": cfg.method.name,
        "seed": cfg.seed, "epoch": epoch, "phase": "search", "phase_epoch": epoch, "train_loss": 1.0 / epoch,
        "val_accuracy": acc, "flops": 1000, "eb_drawn": False, "not_a_column": 1,
    }


def test_schemas_hold_config_and_metric_columns():
    trials = trials_schema()
    names = trials.names
    assert len(names) == len(set(names))  # no duplicated column
    for column in ("sweep", "trial_id", "config_hash", "method", "status", "error", "arm", "optuna_trial_number",
                   "mlflow_run_id", "val_accuracy", "flops", "flops_ratio", "eb_epoch", "method.name",
                   "method.prune_ratio", "method.bn_l1", "train.lr", "train.lr_milestones", "model.width", "data.name"):
        assert column in names, column
    assert trials.field("method.prune_ratio").type == pa.float64()
    assert trials.field("flops").type == pa.int64()
    assert trials.field("train.lr_milestones").type == pa.string()
    assert trials.field("data.augment").type == pa.bool_()
    epochs = epochs_schema()
    assert epochs.names[:5] == ["sweep", "trial_id", "config_hash", "method", "seed"]
    assert {"epoch", "phase", "val_accuracy", "mask_distance", "eb_drawn"} <= set(epochs.names)
    assert "method.prune_ratio" not in epochs.names


def test_conform_keeps_schema_columns_and_jsonifies_tuples():
    row = conform({"trial_id": "x", "train.lr_milestones": (0.5, 0.75), "junk": 3}, trials_schema())
    assert list(row) == trials_schema().names
    assert row["train.lr_milestones"] == "[0.5, 0.75]"
    assert row["status"] is None and "junk" not in row


def test_write_trial_full_schema_and_replace(tmp_path):
    eb, _ = _configs()
    store = ParquetResults(tmp_path / "sweep")
    assert not store.has_results()
    assert store.read_trials().empty and list(store.read_trials().columns) == trials_schema().names
    path = store.write_trial(trial_row(eb, "t1", val_accuracy=0.5))
    assert path == tmp_path / "sweep" / "trials" / "t1.parquet"
    assert pq.read_schema(path).equals(trials_schema(), check_metadata=False)
    assert store.has_results()

    store.write_trial(trial_row(eb, "t1", val_accuracy=0.75))  # same trial id: replaced
    trials = store.read_trials()
    assert len(trials) == 1
    assert trials.loc[0, "val_accuracy"] == 0.75
    assert sorted(p.name for p in (tmp_path / "sweep" / "trials").iterdir()) == ["t1.parquet"]  # no temp files left


def test_write_epochs_replace_and_read_back(tmp_path):
    eb, _ = _configs()
    store = ParquetResults(tmp_path)
    assert store.read_trial_epochs("t1") == []
    store.write_epochs("t1", [epoch_row(eb, "t1", 1, 0.3)])
    store.write_epochs("t1", [epoch_row(eb, "t1", 1, 0.3), epoch_row(eb, "t1", 2, 0.4)])
    rows = store.read_trial_epochs("t1")
    assert [(r["epoch"], r["val_accuracy"]) for r in rows] == [(1, 0.3), (2, 0.4)]
    assert set(rows[0]) == set(epochs_schema().names)
    assert rows[0]["mask_distance"] is None  # absent metric -> null
    assert pq.read_schema(tmp_path / "epochs" / "t1.parquet").equals(epochs_schema(), check_metadata=False)
    assert len(store.read_epochs()) == 2


def test_folder_read_with_pandas_mixed_methods(tmp_path):
    eb, dense = _configs()
    store = ParquetResults(tmp_path)
    store.write_trial(trial_row(dense, "t-dense", val_accuracy=0.95, flops=4000))
    store.write_trial(trial_row(eb, "t-eb", val_accuracy=0.9, flops=1500, eb_epoch=7, eb_detected=True))
    store.write_trial(trial_row(eb, "t-fail", status="failed"))
    store.write_epochs("t-dense", [epoch_row(dense, "t-dense", e, 0.1 * e) for e in (1, 2, 3)])
    store.write_epochs("t-eb", [epoch_row(eb, "t-eb", e, 0.2 * e) for e in (1, 2)])

    trials = pd.read_parquet(tmp_path / "trials").set_index("trial_id").sort_index()
    assert list(trials.index) == ["t-dense", "t-eb", "t-fail"]
    for column in ("method.prune_ratio", "val_accuracy", "config_hash", "method.name", "status"):
        assert column in trials.columns
    assert trials.loc["t-eb", "method.prune_ratio"] == 0.7
    assert pd.isna(trials.loc["t-dense", "method.prune_ratio"])
    assert pd.isna(trials.loc["t-dense", "eb_epoch"])
    assert trials.loc["t-eb", "eb_epoch"] == 7
    assert trials.loc["t-dense", "method"] == "dense" and trials.loc["t-dense", "method.name"] == "dense"
    assert trials.loc["t-dense", "config_hash"] == config_hash(dense) != config_hash(eb)
    assert trials.loc["t-fail", "status"] == "failed" and trials.loc["t-fail", "error"] == "boom"
    assert json.loads(trials.loc["t-eb", "train.lr_milestones"]) == [0.5, 0.75]
    assert trials.loc["t-eb", "model.width"] == 0.25

    epochs = pd.read_parquet(tmp_path / "epochs")
    assert len(epochs) == 5
    assert {"val_accuracy", "config_hash", "epoch", "trial_id"} <= set(epochs.columns)
    eb_epochs = epochs[epochs["trial_id"] == "t-eb"].sort_values("epoch")
    assert eb_epochs["val_accuracy"].tolist() == pytest.approx([0.2, 0.4])
    assert (eb_epochs["config_hash"] == config_hash(eb)).all()

    # the store's own reader gives the same table
    own = store.read_trials().set_index("trial_id").sort_index()
    assert own["val_accuracy"].tolist() == pytest.approx(trials["val_accuracy"].tolist())
    assert math.isclose(own.loc["t-dense", "val_accuracy"], 0.95)


def test_bad_value_type_fails_before_replacing(tmp_path):
    eb, _ = _configs()
    store = ParquetResults(tmp_path)
    store.write_trial(trial_row(eb, "t1"))
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        store.write_trial(trial_row(eb, "t1", flops="many"))
    assert store.read_trials().loc[0, "flops"] == 1000  # the earlier file is intact
    assert sorted(p.name for p in (tmp_path / "trials").iterdir()) == ["t1.parquet"]
