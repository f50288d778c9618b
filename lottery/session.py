"""The Session protocol (a method's only view of its host) and the Session that runs a method
without Ray: in memory (tests) or checkpointing to a folder (`tickets run`).

A Session hands back the last checkpointed state and receives per-epoch reports with the state to
checkpoint, so every method can resume mid-trial without knowing who runs it: the Ray trainable,
`LocalSession`, or a test's crashing session.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol
from collections.abc import Callable

import torch

from lottery.damaged import warn_damaged

CHECKPOINT_FILE = "state.pt"


class Session(Protocol):
    """What a running method may ask of its host."""

    def resume_state(self) -> dict[str, Any] | None:
        """The state passed with the last `report_epoch`, or None on a fresh start."""

    def report_epoch(self, metrics: dict[str, Any], state: dict[str, Any]) -> None:
        """Record one epoch's metrics (with `epoch`) and checkpoint `state` atomically with them."""

    def report_final(self, metrics: dict[str, Any], ticket_dir: Path) -> None:
        """Record the final metrics and the ticket folder (architecture + weights)."""


class LocalSession:
    """Keeps every report; optionally checkpoints to `checkpoint_dir` and copies the ticket to `ticket_out`.

    `on_epoch` / `on_final` let a caller record results (MLflow, Parquet) as they arrive.
    """

    def __init__(
        self,
        checkpoint_dir: Path | None = None,
        ticket_out: Path | None = None,
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        on_final: Callable[[dict[str, Any], Path], None] | None = None,
    ) -> None:
        self.checkpoint_dir = checkpoint_dir
        self.ticket_out = ticket_out
        self.on_epoch = on_epoch
        self.on_final = on_final
        self.epochs: list[dict[str, Any]] = []
        self.final: dict[str, Any] | None = None
        self.last_state: dict[str, Any] | None = None

    def resume_state(self) -> dict[str, Any] | None:
        if self.checkpoint_dir is not None and (self.checkpoint_dir / CHECKPOINT_FILE).exists():
            return load_checkpoint(self.checkpoint_dir / CHECKPOINT_FILE)
        return None

    def report_epoch(self, metrics: dict[str, Any], state: dict[str, Any]) -> None:
        self.epochs.append(dict(metrics))
        self.last_state = state
        if self.checkpoint_dir is not None:
            save_atomic(state, self.checkpoint_dir / CHECKPOINT_FILE)
        if self.on_epoch is not None:
            self.on_epoch(metrics)

    def report_final(self, metrics: dict[str, Any], ticket_dir: Path) -> None:
        self.final = dict(metrics)
        if self.ticket_out is not None:
            if self.ticket_out.exists():
                shutil.rmtree(self.ticket_out)
            shutil.copytree(ticket_dir, self.ticket_out)
        if self.on_final is not None:
            self.on_final(metrics, self.ticket_out or ticket_dir)


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """A trial's checkpointed state, or None (start from scratch) if the file cannot be loaded.

    Loading a damaged file fails the same way every time, so it is not raised for the host to retry:
    the trial restarts from its first epoch instead. Training is deterministic under the trial's
    seed, so the replayed epochs equal the lost ones (their rows and MLflow steps are kept once).
    """
    try:
        state = torch.load(path, weights_only=True)
    except Exception as err:  # noqa: BLE001  (zip, pickle, EOF and OS errors all mean: unusable)
        warn_damaged("checkpoint", path, err, "the trial restarts from its first epoch")
        return None
    if not isinstance(state, dict):
        warn_damaged("checkpoint", path, TypeError(f"holds a {type(state).__name__}, not a state dict"),
                     "the trial restarts from its first epoch")
        return None
    return state


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save to a temp file in the same folder, then rename: a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
