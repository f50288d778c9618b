"""Records trials as they run into MLflow (child runs) and Parquet (trials and epochs tables).

Independent of Ray: the Tune callback and the in-process `tickets run` both drive it. Epoch rows
are keyed by (trial, epoch) so a trial replaying epochs after a restart never duplicates a row.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lottery.codec import to_flat_dict
from lottery.config import ExperimentConfig
from lottery.methods import METHODS, all_epoch_columns
from orchestrator.budgets import Budget, feasible
from orchestrator.parquet_store import ParquetResults
from orchestrator.tracking import RESULT_TAG_PREFIX, TAG_FEASIBLE, TAG_FINAL_LOGGED, TAG_HASH, TAG_METHOD, MlflowTracker
from trainables.protocol import REJECTED



@dataclass
class TrialRecord:
    trial_id: str
    cfg: ExperimentConfig
    config_hash: str
    arm: str
    optuna_trial_number: int
    run_id: str
    epochs: dict[int, dict[str, Any]] = field(default_factory=dict)
    completed_row: dict[str, Any] | None = None  # set once the trial's final result is recorded
    mlflow_steps: set[int] = field(default_factory=set)  # epochs already in MLflow
    final_logged: bool = False  # final metrics already in MLflow


def mlflow_epoch_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """What MLflow charts per epoch: the declared epoch columns, minus `epoch` itself (it is the step)."""
    declared = all_epoch_columns()
    return {k: v for k, v in metrics.items() if k in declared and k not in ("epoch", "phase_epoch")}


def mlflow_final_values(final: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(metrics, tags) for a trial's final values in MLflow. A value with a per-epoch curve of the same
    name (val_accuracy, flops, ...) ends that curve (logged at the last epoch's step when it differs
    from that epoch's point), so the runs table's metric column shows the final value and no extra
    chart appears; every other final value is a `result.<name>` tag (a column in the runs table, not
    a one-point chart)."""
    curves = mlflow_epoch_metrics(final)
    tags = {RESULT_TAG_PREFIX + k: _tag_text(v) for k, v in final.items() if k not in curves and v is not None}
    return curves, tags


def _tag_text(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def split_tables(method: str, final: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """(final metrics without the method's long tables, table name -> rows)."""
    declared = METHODS.get(method).tables if method in METHODS else {}
    tables = {name: list(final[name]) for name in declared if isinstance(final.get(name), list)}
    return {k: v for k, v in final.items() if k not in tables}, tables


class TrialRecorder:
    """One per sweep; every write goes through here."""

    def __init__(self, sweep: str, store: ParquetResults, tracker: MlflowTracker, parent_run_id: str,
                 budgets: list[Budget] | None = None) -> None:
        self.sweep = sweep
        self.store = store
        self.tracker = tracker
        self.parent_run_id = parent_run_id
        self.budgets = list(budgets or [])  # the sweep's budgets: each completed row says if it meets them
        self.trials: dict[str, TrialRecord] = {}

    def start(self, trial_id: str, cfg: ExperimentConfig, config_hash: str, arm: str, optuna_trial_number: int) -> TrialRecord:
        if trial_id in self.trials:
            return self.trials[trial_id]
        name = f"{cfg.method.name}-{trial_id}"
        tags = {TAG_HASH: config_hash, TAG_METHOD: cfg.method.name, "tickets.arm": arm}
        run_id = self.tracker.trial_run(self.sweep, self.parent_run_id, trial_id, name, tags, to_flat_dict(cfg))
        record = TrialRecord(trial_id, cfg, config_hash, arm, optuna_trial_number, run_id)
        for row in self.store.read_trial_epochs(trial_id):  # a resumed driver keeps earlier epochs
            record.epochs[int(row["epoch"])] = row
        # MLflow is written before Parquet, so a driver killed in between left steps in MLflow only.
        record.mlflow_steps = self.tracker.logged_steps(run_id, "val_accuracy") | set(record.epochs)
        record.final_logged = TAG_FINAL_LOGGED in self.tracker.run_tags(run_id)
        earlier = self.store.read_trial(trial_id)
        if earlier is not None and earlier["status"] in ("completed", REJECTED, "stopped"):
            record.completed_row = earlier
        self.trials[trial_id] = record
        return record

    def _ids(self, record: TrialRecord) -> dict[str, Any]:
        return {
            "sweep": self.sweep,
            "trial_id": record.trial_id,
            "config_hash": record.config_hash,
            "method": record.cfg.method.name,
            "seed": record.cfg.seed,
        }

    def epoch(self, trial_id: str, metrics: dict[str, Any]) -> None:
        record = self.trials[trial_id]
        step = int(metrics["epoch"])
        if step not in record.mlflow_steps:  # an epoch replayed after a restart is logged to MLflow once
            self.tracker.log_metrics(record.run_id, mlflow_epoch_metrics(metrics), step=step)
            record.mlflow_steps.add(step)
        record.epochs[step] = {**self._ids(record), **metrics}
        self.store.write_epochs(trial_id, [record.epochs[k] for k in sorted(record.epochs)])

    def complete(self, trial_id: str, final: dict[str, Any], ticket_dir: Path | None) -> dict[str, Any]:
        """Record the final result once: a trial that Tune replays after a driver restart (it had
        finished, but Tune's last experiment snapshot predates that) keeps its first record."""
        record = self.trials[trial_id]
        if record.completed_row is not None:
            return record.completed_row
        final, tables = split_tables(record.cfg.method.name, final)
        step = int(final.get("epochs_trained", 0))
        if not record.final_logged:
            curves, tags = mlflow_final_values(final)
            last = record.epochs.get(max(record.epochs), {}) if record.epochs else {}
            ends = {k: v for k, v in curves.items() if last.get(k) != v}  # what the last epoch's point does not already say
            self.tracker.log_metrics(record.run_id, ends, step=step)
            for table, rows in tables.items():  # one metric per column, its step the row's index
                for i, table_row in enumerate(rows):
                    self.tracker.log_metrics(record.run_id, {f"{table}_{k}": v for k, v in table_row.items()}, step=i)
            if self.budgets:  # the Parquet column's twin, to filter the runs table on
                tags[TAG_FEASIBLE] = str(feasible(self.budgets, final))
            self.tracker.set_tags(record.run_id, {**tags, TAG_FINAL_LOGGED: "1"})
            record.final_logged = True
        for table, rows in tables.items():
            self.store.write_table(table, trial_id, [{**self._ids(record), **r} for r in rows])
        if ticket_dir is not None and ticket_dir.is_dir():
            self.tracker.log_artifacts(record.run_id, ticket_dir, "ticket")
        self.tracker.finish(record.run_id, ok=True)
        row = self._trial_row(record, "completed", "", final, ticket_dir)
        self.store.write_trial(row)
        record.completed_row = row
        return row

    def preset(self, trial_id: str, preset: dict[str, Any]) -> dict[str, Any]:
        """A trial decided without training: `rejected` (its known costs break a budget; recorded with
        those figures, infeasible) or `reused` (a completed trial with the same config hash; its final
        metrics, ticket and MLflow run are the original's, and this row and run point at it)."""
        record = self.trials[trial_id]
        if record.completed_row is not None:
            return record.completed_row
        final = {k: v for k, v in dict(preset["final"]).items() if not isinstance(v, list)}
        rejected = preset["status"] == REJECTED
        if not record.final_logged:
            curves, tags = mlflow_final_values(final)
            self.tracker.log_metrics(record.run_id, curves, step=0)
            self.tracker.set_tags(record.run_id, {**tags, TAG_FINAL_LOGGED: "1"})
            record.final_logged = True
        extra: dict[str, Any] = {}
        if rejected:
            self.tracker.set_tag(record.run_id, "tickets.rejected", str(preset.get("reason", "")))
        else:
            extra = {"reused_from": preset["reused_from"], "origin_run_id": preset["origin_run_id"]}
            self.tracker.set_tag(record.run_id, "tickets.reused_from", str(preset["reused_from"]))
            self.tracker.set_tag(record.run_id, "tickets.origin_run_id", str(preset["origin_run_id"]))
        self.tracker.finish(record.run_id, ok=True)
        ticket = preset.get("ticket_path")
        row = {**self._trial_row(record, REJECTED if rejected else "completed", str(preset.get("reason", "")), final,
                                 Path(ticket) if ticket else None), **extra}
        if rejected:
            row["feasible"] = False
        if row["feasible"] is not None:
            self.tracker.set_tag(record.run_id, TAG_FEASIBLE, str(bool(row["feasible"])))
        self.store.write_trial(row)
        record.completed_row = row
        return row

    def stop(self, trial_id: str, scheduler: str) -> dict[str, Any]:
        """A trial a Tune scheduler stopped early: status `stopped`, the epoch it reached, and its cost so
        far. Its last accuracy is in the epochs table only: it is not a final result."""
        record = self.trials[trial_id]
        if record.completed_row is not None:
            return record.completed_row
        last = record.epochs[max(record.epochs)] if record.epochs else {}
        epoch = int(last["epoch"]) if last else 0
        self.tracker.set_tag(record.run_id, "tickets.stopped_epoch", str(epoch))
        self.tracker.finish(record.run_id, ok=True)
        cost = {"epochs_trained": epoch, "flops": last.get("flops"), "params": last.get("params"),
                "train_flops_total": last.get("train_flops_cumulative"), "wall_time_s": last.get("wall_time_s")}
        row = {**self._trial_row(record, "stopped", f"stopped by the {scheduler} scheduler at epoch {epoch}", cost, None),
               "stopped_epoch": epoch}
        self.store.write_trial(row)
        record.completed_row = row
        return row

    def fail(self, trial_id: str, error: str) -> dict[str, Any]:
        record = self.trials[trial_id]
        if record.completed_row is not None:  # a replay of a finished trial failed: the result stands
            return record.completed_row
        self.tracker.set_tag(record.run_id, "tickets.error", error[:5000])
        self.tracker.finish(record.run_id, ok=False)
        row = self._trial_row(record, "failed", error, {}, None)
        self.store.write_trial(row)
        return row

    def _trial_row(self, record: TrialRecord, status: str, error: str, final: dict[str, Any], ticket_dir: Path | None) -> dict[str, Any]:
        return {
            **to_flat_dict(record.cfg),
            **final,
            **self._ids(record),
            "status": status,
            "error": error,
            "arm": record.arm,
            "optuna_trial_number": record.optuna_trial_number,
            "mlflow_run_id": record.run_id,
            "ticket_path": str(ticket_dir) if ticket_dir is not None else None,
            # judged only against budgets: a sweep without any (or `tickets run`) leaves it null
            "feasible": feasible(self.budgets, final) if status == "completed" and self.budgets else None,
        }
