"""The one Ray Tune trainable: rebuild the config, run the registered method through a Ray session.

Each epoch is reported together with a checkpoint of the method's state, so a trial restarted by
Tune's FailureConfig resumes from its last epoch. The final report carries the ticket folder in its
checkpoint, which lands in the sweep's storage (shared storage on a cluster) for the driver to log.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from ray import tune

from lottery.methods import METHODS
from lottery.session import CHECKPOINT_FILE, load_checkpoint
from lottery.codec import experiment_from_flat
from lottery.training.divergence import TrialDiverged
from trainables.placement import placement
from trainables.protocol import DIVERGED, FINAL_FILE, PRESET, RECORD_FILE, TICKET_SUBDIR, epoch_result, final_result
# Fault injection for tests of fault tolerance: "MARKER_FILE:EPOCH" makes the first trial that
# reports EPOCH crash right after its checkpoint is saved (once: the marker file records it).
CRASH_ONCE_ENV = "TICKETS_CRASH_ONCE"


class RayTuneSession:
    """Session backed by tune.report / tune.get_checkpoint."""

    def __init__(self) -> None:
        self._last_state: dict[str, Any] | None = None

    def resume_state(self) -> dict[str, Any] | None:
        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as folder:
            path = Path(folder) / CHECKPOINT_FILE
            return load_checkpoint(path) if path.exists() else None

    def report_epoch(self, metrics: dict[str, Any], state: dict[str, Any]) -> None:
        self._last_state = state
        with tempfile.TemporaryDirectory(prefix="tickets-ckpt-") as folder:
            torch.save(state, Path(folder) / CHECKPOINT_FILE)
            tune.report(epoch_result(metrics), checkpoint=tune.Checkpoint.from_directory(folder))
        _maybe_crash(int(metrics["epoch"]))

    def report_final(self, metrics: dict[str, Any], ticket_dir: Path) -> None:
        metrics = {**metrics, **placement()}
        with tempfile.TemporaryDirectory(prefix="tickets-final-") as folder:
            shutil.copytree(ticket_dir, Path(folder) / TICKET_SUBDIR)
            (Path(folder) / FINAL_FILE).write_text(json.dumps(metrics, default=str))
            if self._last_state is not None:
                torch.save(self._last_state, Path(folder) / CHECKPOINT_FILE)
            tune.report(final_result(metrics), checkpoint=tune.Checkpoint.from_directory(folder))


def ticket_trainable(config: dict[str, Any]) -> None:
    """Run one trial: `config['experiment']` is the flat experiment config chosen by the searcher."""
    if _replay_recorded_final(config):
        return
    preset = config.get(PRESET)
    if preset:  # rejected before training, or a result reused from an earlier trial: nothing to train
        tune.report({**final_result(dict(preset["final"])), PRESET: str(preset["status"])})
        return
    cfg = experiment_from_flat(config["experiment"])
    try:
        METHODS.get(cfg.method.name)().run(cfg, RayTuneSession())
    except TrialDiverged as diverged:
        # Deterministic, so not raised to Tune (which would retry it max_failures times): the epoch is
        # reported without a checkpoint, and the driver records the trial failed, Optuna told FAIL.
        tune.report({**epoch_result(diverged.metrics), DIVERGED: str(diverged)})


def _replay_recorded_final(config: dict[str, Any]) -> bool:
    """A trial the sweep's Parquet already records as completed is not trained again: Tune replays
    trials that finished after its last experiment snapshot, and the project's own record decides.
    Its final metrics are re-reported (no checkpoint) so the driver's searcher and callback close it."""
    record = config.get(RECORD_FILE)
    row = _recorded_row(Path(record)) if record else None
    if row is None or row.get("status") != "completed":
        return False
    tune.report(final_result({k: v for k, v in row.items() if isinstance(v, (int, float)) and "." not in k}))
    return True


def _recorded_row(path: Path) -> dict[str, Any] | None:
    """The trial's Parquet row, if the driver wrote one; a damaged file counts as none."""
    if not path.exists():
        return None
    import pyarrow.parquet as pq  # lazy: only a replayed trial needs it

    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, ValueError):  # pyarrow's errors for a truncated or foreign file
        return None
    return rows[0] if rows else None


def _maybe_crash(epoch: int) -> None:
    spec = os.environ.get(CRASH_ONCE_ENV)
    if not spec:
        return
    marker, _, at = spec.rpartition(":")
    if epoch == int(at):
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # atomic: only one trial crashes
        except FileExistsError:
            return
        os.close(fd)
        raise RuntimeError(f"injected crash after epoch {epoch} ({CRASH_ONCE_ENV})")
