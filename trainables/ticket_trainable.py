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
from lottery.session import CHECKPOINT_FILE
from orchestrator.config import experiment_from_flat
from orchestrator.searcher import FINAL_PREFIX
from trainables.placement import placement

TICKET_SUBDIR = "ticket"
FINAL_FILE = "final.json"
REPORT_KIND = "report_kind"  # "epoch" or "final" in every result
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
            return torch.load(path, weights_only=True) if path.exists() else None

    def report_epoch(self, metrics: dict[str, Any], state: dict[str, Any]) -> None:
        self._last_state = state
        with tempfile.TemporaryDirectory(prefix="tickets-ckpt-") as folder:
            torch.save(state, Path(folder) / CHECKPOINT_FILE)
            tune.report({**metrics, REPORT_KIND: "epoch"}, checkpoint=tune.Checkpoint.from_directory(folder))
        _maybe_crash(int(metrics["epoch"]))

    def report_final(self, metrics: dict[str, Any], ticket_dir: Path) -> None:
        metrics = {**metrics, **placement()}
        with tempfile.TemporaryDirectory(prefix="tickets-final-") as folder:
            shutil.copytree(ticket_dir, Path(folder) / TICKET_SUBDIR)
            (Path(folder) / FINAL_FILE).write_text(json.dumps(metrics, default=str))
            if self._last_state is not None:
                torch.save(self._last_state, Path(folder) / CHECKPOINT_FILE)
            final = {FINAL_PREFIX + k: v for k, v in metrics.items()}
            tune.report({**final, REPORT_KIND: "final"}, checkpoint=tune.Checkpoint.from_directory(folder))


def ticket_trainable(config: dict[str, Any]) -> None:
    """Run one trial: `config['experiment']` is the flat experiment config chosen by the searcher."""
    cfg = experiment_from_flat(config["experiment"])
    METHODS.get(cfg.method.name)().run(cfg, RayTuneSession())


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
