"""The ticket-method contract: a method trains, draws and reports through a `Session`.

A Session is the only thing a method knows about the outside world (Ray Tune, the in-process
runner, tests). It hands back the last checkpointed state and receives per-epoch reports with the
state to checkpoint, so every method can resume mid-trial without knowing who runs it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Protocol

from lottery.config import ExperimentConfig, MethodParams
from lottery.registry import Registry


class Session(Protocol):
    """What a running method may ask of its host."""

    def resume_state(self) -> dict[str, Any] | None:
        """The state passed with the last `report_epoch`, or None on a fresh start."""

    def report_epoch(self, metrics: dict[str, Any], state: dict[str, Any]) -> None:
        """Record one epoch's metrics (with `epoch`) and checkpoint `state` atomically with them."""

    def report_final(self, metrics: dict[str, Any], ticket_dir: Path) -> None:
        """Record the final metrics and the ticket folder (architecture + weights)."""


class TicketMethod(Protocol):
    """A registered way of drawing (or not drawing) a ticket."""

    Params: ClassVar[type[MethodParams]]

    def run(self, cfg: ExperimentConfig, session: Session) -> dict[str, Any]:
        """Run the whole trial; returns the final metrics also given to `session.report_final`."""


METHODS: Registry[type[TicketMethod]] = Registry("method")
