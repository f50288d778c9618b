"""What a sweep prints while it runs: one line per trial event and a short status line.

Ray's own per-trial boxes are off by default (`tickets sweep --verbose` brings them back); this
driver-side Tune callback prints instead, for each trial: when it starts (its arm and the values
that differ from the preset), its epochs at a modest rate, when it ends (its key metrics) or fails
(its reason); after every end a status line with trials done / running / failed, elapsed and
estimated remaining time, and the best result so far by the first objective.
"""
from __future__ import annotations

import math
import time
from typing import Any

from ray.tune import Callback

from trainables.protocol import EPOCH, FINAL, REPORT_KIND, final_metrics

EPOCH_LINE_EVERY_S = 30.0  # at most one progress line per trial this often


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class ConsoleReporter(Callback):
    """Prints a compact, line-per-event view of a sweep (see the module docstring)."""

    def __init__(self, total: int, objectives: list[tuple[str, str]], base: dict[str, Any],
                 epoch_every_s: float = EPOCH_LINE_EVERY_S) -> None:
        self.total = total
        self.objectives = objectives
        self.base = base
        self.epoch_every_s = epoch_every_s
        self.started_at = time.monotonic()
        self.started: set[str] = set()
        self.done: set[str] = set()
        self.failed: set[str] = set()
        self.last_line: dict[str, float] = {}
        self.finals: dict[str, dict[str, Any]] = {}
        self.best: tuple[float, str, dict[str, Any]] | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restored with the experiment (`tickets resume`): times count from the restart."""
        self.__dict__.update(state)
        self.started_at = time.monotonic()
        self.last_line = {}

    def _print(self, text: str) -> None:
        print(f"[{_duration(time.monotonic() - self.started_at)}] {text}", flush=True)

    def _changed(self, flat: dict[str, Any]) -> str:
        keys = [k for k, v in flat.items() if k != "method.name" and self.base.get(k) != v]
        return " ".join(f"{k.removeprefix('method.')}={_fmt(flat[k])}" for k in sorted(keys))

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self.started:  # a restart after a failure or a resume
            self._print(f"restart {trial.trial_id} from its last checkpoint")
            return
        self.started.add(trial.trial_id)
        self.last_line[trial.trial_id] = time.monotonic()  # the first progress line comes after epoch_every_s
        flat = trial.config["experiment"]
        self._print(f"start   {trial.trial_id} {flat['method.name']} ({trial.config['arm']}) {self._changed(flat)}".rstrip())

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        kind = result.get(REPORT_KIND)
        if kind == FINAL:
            self.finals[trial.trial_id] = final_metrics(result)
        elif kind == EPOCH:
            now = time.monotonic()
            if now - self.last_line.get(trial.trial_id, 0.0) >= self.epoch_every_s:
                self.last_line[trial.trial_id] = now
                self._print(f"epoch   {trial.trial_id} {result.get('epoch')} {result.get('phase', '')} "
                            f"val_accuracy={_fmt(result.get('val_accuracy'))}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        final = self.finals.get(trial.trial_id, {})
        self.done.add(trial.trial_id)
        keys = [m for m, _ in self.objectives] + ["flops_ratio", "epochs_trained"]
        shown = " ".join(f"{k}={_fmt(final[k])}" for k in dict.fromkeys(keys) if k in final)
        self._print(f"done    {trial.trial_id} {shown}".rstrip())
        self._update_best(trial.trial_id, final)
        self._status(trials)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.failed.add(trial.trial_id)
        reason = "error"
        path = getattr(trial, "error_file", None)
        if path:
            try:
                with open(path) as handle:
                    lines = handle.read().strip().splitlines()
                reason = lines[-1] if lines else reason
            except OSError:
                pass
        self._print(f"failed  {trial.trial_id} {reason[:160]}")
        self._status(trials)

    def _update_best(self, trial_id: str, final: dict[str, Any]) -> None:
        if not self.objectives:
            return
        metric, direction = self.objectives[0]
        value = final.get(metric)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        score = value if direction == "max" else -value
        if self.best is None or score > self.best[0]:
            self.best = (score, trial_id, final)

    def _status(self, trials: list) -> None:
        finished = len(self.done) + len(self.failed)
        ended = self.done | self.failed
        running = sum(1 for t in trials if getattr(t, "status", "") == "RUNNING" and t.trial_id not in ended)
        elapsed = time.monotonic() - self.started_at
        left = f", ~{_duration(elapsed / finished * (self.total - finished))} left" if 0 < finished < self.total else ""
        best = ""
        if self.best is not None:
            metric = self.objectives[0][0]
            _, trial_id, final = self.best
            best = f"; best {metric} {_fmt(final[metric])} ({trial_id})"
        self._print(f"status  {len(self.done)}/{self.total} done, {running} running, {len(self.failed)} failed, "
                    f"{_duration(elapsed)} elapsed{left}{best}")
