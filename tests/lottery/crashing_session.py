"""A LocalSession that dies right after its N-th epoch report: how tests simulate a killed trial."""
from __future__ import annotations

from typing import Any

from lottery.session import LocalSession


class Crash(RuntimeError):
    pass


class CrashingSession(LocalSession):
    """Checkpoints like LocalSession, then raises Crash right after the `crash_after`-th epoch report."""

    def __init__(self, crash_after: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.crash_after = crash_after

    def report_epoch(self, metrics: dict[str, Any], state: dict[str, Any]) -> None:
        super().report_epoch(metrics, state)
        if len(self.epochs) == self.crash_after:
            raise Crash(f"killed after epoch {metrics['epoch']}")
