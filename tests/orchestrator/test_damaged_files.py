"""Damaged files are one trial's problem: named in one line each, the other trials go on.

Real files, damaged the way a full disk or a killed copy leaves them: truncated Parquet, a
truncated checkpoint, a ticket whose weights are cut short or hold pickled objects.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from lottery.errors import ConfigError
from lottery.session import CHECKPOINT_FILE, LocalSession, load_checkpoint
from lottery.ticket import ARCH_FILE, WEIGHTS_FILE, load_ticket, save_ticket
from lottery.models import create_model
from orchestrator.commands import analyze_command, run_command
from lottery.codec import config_hash
from orchestrator.config import load_configs
from orchestrator.parquet_store import ParquetResults
from orchestrator.recorder import TrialRecorder
from orchestrator.layout import default_tracking_uri
from orchestrator.tracking import MlflowTracker

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs" / "demo.yaml"


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("tickets: warning: damaged")]


@pytest.fixture
def three_trials(tmp_path: Path):
    """A sweep folder with three recorded trials (real recorder, SQLite MLflow, Parquet)."""
    cfg, _ = load_configs(DEMO, ["model.name=vgg_tiny"])
    store = ParquetResults(tmp_path / "sweep")
    uri = default_tracking_uri(tmp_path)
    tracker = MlflowTracker(uri, "tickets/sweep", tmp_path / "mlartifacts")
    recorder = TrialRecorder("sweep", store, tracker, tracker.parent_run("sweep", {}))
    for i, trial in enumerate(("t0", "t1", "t2")):
        recorder.start(trial, cfg, config_hash(cfg), "search", i)
        for epoch in (1, 2):
            recorder.epoch(trial, {"epoch": epoch, "phase": "train", "train_loss": 1.0 / epoch, "val_accuracy": 0.5 + i / 10})
        recorder.complete(trial, {"val_accuracy": 0.5 + i / 10, "flops": 100.0 * (3 - i), "epochs_trained": 2}, None)
    return store, tracker, recorder, cfg


def test_truncated_trial_and_epoch_files_are_left_out_with_one_line_each(three_trials, capsys) -> None:
    store, *_ = three_trials
    _truncate(store.trials_dir / "t1.parquet")
    _truncate(store.epochs_dir / "t2.parquet")
    trials, epochs = store.read_trials(), store.read_epochs()
    assert sorted(trials["trial_id"]) == ["t0", "t2"]
    assert sorted(set(epochs["trial_id"])) == ["t0", "t1"] and len(epochs) == 4
    trials, epochs = store.read_trials(), store.read_epochs()  # read again: no second warning
    lines = _warnings(capsys.readouterr().err)
    assert len(lines) == 2, lines
    assert "t1.parquet" in lines[0] and "trial t1" in lines[0]
    assert "t2.parquet" in lines[1] and "trial t2" in lines[1]


def test_analyze_goes_on_past_a_damaged_trial_file(three_trials, capsys) -> None:
    store, *_ = three_trials
    _truncate(store.trials_dir / "t0.parquet", keep=0.3)
    assert analyze_command(store.sweep_dir) == 0
    captured = capsys.readouterr()
    assert "(2 trials)" in captured.out and "Pareto front" in captured.out
    lines = _warnings(captured.err)
    assert len(lines) == 1 and "t0.parquet" in lines[0]
    assert "Traceback" not in captured.err


def test_a_resumed_driver_treats_damaged_rows_as_not_recorded(three_trials, capsys) -> None:
    """What `tickets resume` does per trial: re-attach; a damaged file neither stops it nor counts as done."""
    store, tracker, recorder, cfg = three_trials
    _truncate(store.trials_dir / "t1.parquet")
    _truncate(store.epochs_dir / "t1.parquet")
    again = TrialRecorder("sweep", store, tracker, recorder.parent_run_id)
    record = again.start("t1", cfg, config_hash(cfg), "search", 1)
    assert record.completed_row is None and record.epochs == {}
    assert again.start("t0", cfg, config_hash(cfg), "search", 0).completed_row is not None  # the others are intact
    again.epoch("t1", {"epoch": 1, "phase": "train", "train_loss": 1.0, "val_accuracy": 0.6})
    again.complete("t1", {"val_accuracy": 0.6, "flops": 200.0, "epochs_trained": 1}, None)
    assert store.read_trial("t1")["status"] == "completed"  # rewritten whole
    assert len(_warnings(capsys.readouterr().err)) == 2


def test_truncated_checkpoint_restarts_the_trial_once_not_retried(tmp_path: Path, capsys) -> None:
    path = tmp_path / CHECKPOINT_FILE
    torch.save({"phase": "train", "model": {"w": torch.ones(100)}}, path)
    assert load_checkpoint(path)["phase"] == "train"
    _truncate(path)
    assert load_checkpoint(path) is None
    assert LocalSession(checkpoint_dir=tmp_path).resume_state() is None
    lines = _warnings(capsys.readouterr().err)
    assert len(lines) == 1 and CHECKPOINT_FILE in lines[0] and "restarts from its first epoch" in lines[0]


def test_tickets_run_with_a_truncated_checkpoint_trains_from_scratch(tmp_path: Path, capsys) -> None:
    overrides = [f"sweep.results_dir={tmp_path / 'results'}", "model.name=vgg_tiny", "train.epochs=2",
                 "method.name=dense"]
    assert run_command(str(DEMO), overrides, "runs") == 0
    first = capsys.readouterr().out
    checkpoint = next((tmp_path / "results" / "runs" / "checkpoints").glob(f"*/{CHECKPOINT_FILE}"))
    _truncate(checkpoint)
    assert run_command(str(DEMO), overrides, "runs") == 0
    captured = capsys.readouterr()
    assert "epoch=1" in captured.out and "epoch=2" in captured.out  # retrained from epoch 1
    def accuracies(out: str) -> list[str]:
        return [line.split(", flops=")[0] for line in out.splitlines() if line.startswith("final:")]

    assert accuracies(captured.out) and accuracies(captured.out) == accuracies(first)  # same seed, same result
    lines = _warnings(captured.err)
    assert len(lines) == 1 and str(checkpoint) in lines[0]


def test_damaged_or_pickled_ticket_is_refused_with_one_line(tmp_path: Path) -> None:
    model = create_model("vgg_tiny", num_classes=10, in_channels=1, input_size=8)
    folder = save_ticket(model, tmp_path / "ticket", {})
    assert isinstance(load_ticket(folder), torch.nn.Module)
    weights = folder / WEIGHTS_FILE
    _truncate(weights)
    with pytest.raises(ConfigError, match=r"ticket file .*weights.pt' is damaged \("):
        load_ticket(folder)
    torch.save({"features.0.weight": torch.ones(1), "payload": sys.modules[__name__].Payload()}, weights)
    with pytest.raises(ConfigError, match="holds objects other than tensors; refused") as caught:
        load_ticket(folder)
    assert "\n" not in str(caught.value) and "weights_only=False" not in str(caught.value)
    (folder / ARCH_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read arch.json"):
        load_ticket(folder)


class Payload:
    """Stands for any pickled object a foreign ticket could smuggle in."""
