"""Adapter from Ray Tune's driver-side callback events to the TrialRecorder."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray.tune import Callback

from lottery.codec import experiment_from_flat
from lottery.damaged import warn_damaged
from orchestrator.budgets import parse_budget
from orchestrator.config import objective_metrics
from orchestrator.layout import SweepLayout
from orchestrator.parquet_store import ParquetResults
from orchestrator.recorder import TrialRecorder
from orchestrator.tracking import MlflowTracker
from trainables.protocol import DIVERGED, EPOCH, FINAL, FINAL_FILE, PRESET, REPORT_KIND, TICKET_SUBDIR, final_metrics


@dataclass(frozen=True)
class RecorderSpec:
    """Plain values from which the driver rebuilds its recorder (Tune pickles callbacks for resume)."""

    results_dir: str
    sweep: str
    tracking_uri: str
    parent_run_id: str
    budgets: tuple[str, ...] = ()  # the sweep's budget strings (each completed row is judged against them)
    scheduler: str = "none"  # a Tune scheduler that may stop trials early (their rows say `stopped`)

    @property
    def layout(self) -> SweepLayout:
        return SweepLayout.of(self.results_dir, self.sweep)

    def build(self) -> TrialRecorder:
        layout = self.layout
        tracker = MlflowTracker(self.tracking_uri, layout.experiment_name, layout.artifacts)
        budgets = [parse_budget(b, objective_metrics()) for b in getattr(self, "budgets", ())]  # older pickles lack it
        return TrialRecorder(self.sweep, ParquetResults(layout.root), tracker, self.parent_run_id, budgets)


class RecorderCallback(Callback):
    """Starts a record when a trial starts, logs each epoch, writes the trial row at the end.

    The ticket is copied from the trial's final checkpoint (in the sweep's storage) into
    `<sweep_dir>/tickets/<trial_id>` so the results folder holds every ticket next to the tables.
    """

    def __init__(self, spec: RecorderSpec) -> None:
        self.spec = spec
        self.layout = spec.layout
        self.finals: dict[str, dict[str, Any]] = {}
        self.diverged: dict[str, str] = {}  # trial id -> "diverged at epoch N (...)"
        self._recorder: TrialRecorder | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"spec": self.spec, "layout": self.layout, "finals": self.finals, "diverged": self.diverged, "_recorder": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"diverged": {}, **state})  # experiment states pickled before `diverged` existed

    @property
    def recorder(self) -> TrialRecorder:
        if self._recorder is None:
            self._recorder = self.spec.build()
        return self._recorder

    def _ensure_started(self, trial: Any) -> None:
        config = trial.config
        self.recorder.start(
            trial.trial_id,
            experiment_from_flat(config["experiment"]),
            config["config_hash"],
            config["arm"],
            int(config["optuna_trial_number"]),
        )

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ensure_started(trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._ensure_started(trial)
        kind = result.get(REPORT_KIND)
        if kind == EPOCH:
            metrics = {k: v for k, v in result.items() if k not in _TUNE_KEYS and k not in (REPORT_KIND, DIVERGED)}
            self.recorder.epoch(trial.trial_id, metrics)
            if result.get(DIVERGED):
                self.diverged[trial.trial_id] = str(result[DIVERGED])
        elif kind == FINAL:
            self.finals[trial.trial_id] = final_metrics(result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ensure_started(trial)
        if trial.trial_id in self.diverged:
            self.recorder.fail(trial.trial_id, self.diverged.pop(trial.trial_id))
            return
        preset = trial.config.get(PRESET)
        if preset:  # rejected or reused: decided by the searcher, nothing was trained
            self.finals.pop(trial.trial_id, None)
            self.recorder.preset(trial.trial_id, preset)
            return
        final = self.finals.pop(trial.trial_id, None)
        scheduler = getattr(self.spec, "scheduler", "none")
        if final is None and scheduler != "none" and (trial.last_result or {}).get(REPORT_KIND) == EPOCH:
            self.recorder.stop(trial.trial_id, scheduler)  # the scheduler ended it between two epochs
            return
        ticket = self._copy_ticket(trial)
        if final is None:
            final = self._final_from_checkpoint(trial)
        if final is None:
            self.recorder.fail(trial.trial_id, "trial ended without a final report")
        else:
            self.recorder.complete(trial.trial_id, final, ticket)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ensure_started(trial)
        self.recorder.fail(trial.trial_id, _error_text(trial))

    def _copy_ticket(self, trial: Any) -> Path | None:
        """The trial's ticket folder under the sweep; a trial already recorded complete keeps the copy
        it has (a replayed trial never deletes and re-copies a finished ticket)."""
        target = self.layout.ticket(trial.trial_id)
        if self.recorder.trials[trial.trial_id].completed_row is not None:
            return target if target.is_dir() else None
        checkpoint = trial.checkpoint
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as folder:
            source = Path(folder) / TICKET_SUBDIR
            if not source.is_dir():
                return None
            if target.exists():
                shutil.rmtree(target)
            try:
                shutil.copytree(source, target)
            except OSError as err:
                warn_damaged("ticket", source, err, f"trial {trial.trial_id} is recorded without its ticket")
                return None
        return target

    def _final_from_checkpoint(self, trial: Any) -> dict[str, Any] | None:
        checkpoint = trial.checkpoint
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as folder:
            path = Path(folder) / FINAL_FILE
            if not path.exists():
                return None
            try:
                return json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                warn_damaged("final report", path, err, f"trial {trial.trial_id} is recorded failed")
                return None


def _error_text(trial: Any) -> str:
    path = getattr(trial, "error_file", None)
    if path and Path(path).exists():
        lines = Path(path).read_text().strip().splitlines()
        return lines[-1] if lines else "trial errored"
    return "trial errored"


# Keys Tune adds to every result; they are not our metrics.
_TUNE_KEYS = {
    "timestamp", "checkpoint_dir_name", "done", "training_iteration", "trial_id", "date", "time_this_iter_s",
    "time_total_s", "pid", "hostname", "node_ip", "config", "time_since_restore", "iterations_since_restore",
    "experiment_tag", "should_checkpoint",
}
