"""The whole search's training budget (`sweep.max_train_hours`): "the best ticket for 10 GPU-hours of
search". The searcher adds up the training time of every trial that ends (the trial's own
`wall_time_s`, times `resources.gpu` on GPUs) and proposes no new configuration once the budget is
spent; trials already running finish, and the sweep ends as finished, not interrupted."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainables.protocol import FINAL_PREFIX, PRESET

SECONDS_PER_HOUR = 3600.0


def training_seconds(result: dict[str, Any] | None) -> float:
    """Seconds a trial trained, from its last result: the final report's wall time, or the last epoch's
    for a trial that stopped, failed or diverged; 0 for one that trained nothing (reused, rejected)."""
    if not result or result.get(PRESET):
        return 0.0
    value = result.get(FINAL_PREFIX + "wall_time_s", result.get("wall_time_s"))
    return float(value) if isinstance(value, (int, float)) else 0.0


@dataclass
class TrainingBudget:
    """Hours spent so far against `max_hours` (0: no limit); `scale` turns wall hours into the budget's
    unit (resources.gpu on GPUs: GPU-hours; 1 on CPUs)."""

    max_hours: float
    scale: float
    marker: Path
    spent_s: float = 0.0

    @classmethod
    def for_sweep(cls, max_hours: float, gpu: float, marker: Path) -> TrainingBudget:
        return cls(max_hours, gpu if gpu > 0 else 1.0, marker)

    @property
    def spent_hours(self) -> float:
        return self.spent_s / SECONDS_PER_HOUR * self.scale

    def add(self, result: dict[str, Any] | None) -> None:
        self.spent_s += training_seconds(result)

    def exhausted(self) -> bool:
        return self.max_hours > 0 and self.spent_hours >= self.max_hours

    def mark_spent(self) -> None:
        """Record on disk that the sweep ended at its budget (once)."""
        if not self.marker.exists():
            self.marker.write_text(json.dumps({"max_train_hours": self.max_hours, "spent_hours": self.spent_hours}))


def budget_spent_line(marker: Path, trials_run: int, trials_planned: int) -> str:
    """The summary line of a sweep that ended at its training budget; '' for one that did not."""
    if not marker.exists():
        return ""
    spent = json.loads(marker.read_text())
    return (f"search budget spent: {spent['spent_hours']:.3g} of {spent['max_train_hours']:g} training hours "
            f"(sweep.max_train_hours); no configuration proposed after that: {trials_run} of {trials_planned} trials run")
