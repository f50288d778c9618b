"""MLflow bookkeeping: one experiment per sweep, a parent run, one child run per trial.

Runs are found again by tags (`tickets.sweep`, `tickets.trial_id`) rather than kept in memory, so a
restarted driver re-attaches to its runs instead of creating duplicates. Only the driver writes,
which keeps a local SQLite store free of concurrent writers.
"""
from __future__ import annotations

import contextlib
import fcntl
import time
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient

from orchestrator.preflight import is_server_uri

TAG_SWEEP = "tickets.sweep"
TAG_ROLE = "tickets.role"
TAG_TRIAL = "tickets.trial_id"
TAG_HASH = "tickets.config_hash"
TAG_METHOD = "tickets.method"
PARENT_TAG = "mlflow.parentRunId"
TAG_FINAL_LOGGED = "tickets.final_logged"
TAG_FEASIBLE = "tickets.feasible"  # "True" / "False" when the sweep has budgets
# A trial's final values that have no per-epoch curve are tags `result.<column>`: columns in the runs
# table without a one-point chart each (issue 14); their numbers, typed, are in Parquet.
RESULT_TAG_PREFIX = "result."
MAX_PARAMS_PER_BATCH = 100


@contextlib.contextmanager
def sqlite_init_lock(tracking_uri: str) -> Iterator[None]:
    """Serialise first use of a local SQLite store across processes: MLflow creates its tables (and
    we the experiment) on first use, and two drivers doing that at once fail ("table already exists")."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        yield
        return
    lock_path = Path(tracking_uri[len(prefix):] + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class MlflowTracker:
    """Thin, explicit wrapper over MlflowClient (no global active-run state)."""

    def __init__(self, tracking_uri: str, experiment_name: str, artifact_root: Path | None = None) -> None:
        self.tracking_uri = tracking_uri
        self._last_ms = 0  # metric timestamps strictly increase, so a final value logged at the last
        # epoch's step is the one MLflow shows as the metric's latest (it orders by step, then time)
        with sqlite_init_lock(tracking_uri):
            self.client = MlflowClient(tracking_uri=tracking_uri)
            self.experiment_id = self._experiment(experiment_name, artifact_root)

    def _experiment(self, experiment_name: str, artifact_root: Path | None) -> str:
        experiment = self.client.get_experiment_by_name(experiment_name)
        if experiment is None:
            # A tracking server keeps artifacts in its own store (proxied `mlflow-artifacts:`), so a
            # driver anywhere can log them; a local store keeps them next to the results.
            local = artifact_root is not None and not is_server_uri(self.tracking_uri)
            location = artifact_root.resolve().as_uri() if artifact_root is not None and local else None
            return self.client.create_experiment(
                experiment_name,
                artifact_location=location,
                # Opens the MLflow 3 UI on the training-runs table instead of its GenAI view.
                tags={"mlflow.experimentKind": "custom_model_development"},
            )
        return experiment.experiment_id

    def _find_run(self, filter_string: str) -> str | None:
        runs = self.client.search_runs([self.experiment_id], filter_string=filter_string, max_results=1)
        return runs[0].info.run_id if runs else None

    def parent_run(self, sweep: str, params: dict[str, Any]) -> str:
        """The sweep's parent run, re-attached if it already exists."""
        found = self._find_run(f"tags.`{TAG_SWEEP}` = '{sweep}' and tags.`{TAG_ROLE}` = 'parent'")
        if found:
            self.client.update_run(found, status="RUNNING")
            return found
        run = self.client.create_run(self.experiment_id, run_name=sweep, tags={TAG_SWEEP: sweep, TAG_ROLE: "parent"})
        self.log_params(run.info.run_id, params)
        return run.info.run_id

    def trial_run(self, sweep: str, parent_id: str, trial_id: str, name: str, tags: dict[str, str], params: dict[str, Any]) -> str:
        """The trial's child run, found by trial id or created with its flat config as params."""
        found = self._find_run(f"tags.`{TAG_TRIAL}` = '{trial_id}'")
        if found:
            return found
        all_tags = {TAG_SWEEP: sweep, TAG_ROLE: "trial", TAG_TRIAL: trial_id, PARENT_TAG: parent_id, **tags}
        run = self.client.create_run(self.experiment_id, run_name=name, tags=all_tags)
        self.log_params(run.info.run_id, params)
        return run.info.run_id

    def logged_steps(self, run_id: str, key: str) -> set[int]:
        """Steps at which `key` was already logged to the run (what a re-attached driver must not repeat)."""
        return {m.step for m in self.client.get_metric_history(run_id, key)}

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        items = [Param(k, str(v)) for k, v in sorted(params.items())]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])

    def log_metrics(self, run_id: str, metrics: dict[str, Any], step: int) -> None:
        """Numeric values only, non-finite ones included: a NaN training loss is the record of a
        diverged trial, not noise to hide (MLflow stores NaN as NaN and +-inf as +-float max)."""
        now = self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items() if isinstance(v, (int, float))]
        for i in range(0, len(batch), 1000):
            self.client.log_batch(run_id, metrics=batch[i : i + 1000])

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str) -> None:
        self.client.log_artifacts(run_id, str(local_dir), artifact_path)

    def log_artifact(self, run_id: str, local_file: Path) -> None:
        self.client.log_artifact(run_id, str(local_file))

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.client.set_tag(run_id, key, value)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        items = [RunTag(k, v) for k, v in sorted(tags.items())]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, tags=items[i : i + MAX_PARAMS_PER_BATCH])

    def run_tags(self, run_id: str) -> dict[str, str]:
        return dict(self.client.get_run(run_id).data.tags)

    def finish(self, run_id: str, ok: bool = True, killed: bool = False) -> None:
        """FINISHED, FAILED, or KILLED for a sweep stopped by the user (resumable)."""
        status = RunStatus.KILLED if killed else RunStatus.FINISHED if ok else RunStatus.FAILED
        self.client.set_terminated(run_id, RunStatus.to_string(status))

    def find_parent(self, sweep: str) -> str | None:
        """The sweep's parent run, untouched (None if there is none)."""
        return self._find_run(f"tags.`{TAG_SWEEP}` = '{sweep}' and tags.`{TAG_ROLE}` = 'parent'")
