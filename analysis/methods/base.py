"""The registry of per-method reports (see analysis/methods/__init__.py)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lottery.registry import Registry


@dataclass
class Figure:
    path: Path
    question: str  # the one line the report page shows under the figure: what it answers


@dataclass
class ReportContext:
    """What a report may read and where it draws: every figure asked for through `figure` is listed
    (with the question it answers) on the report page."""

    out_dir: Path
    table: Callable[[str], pd.DataFrame] = lambda name: pd.DataFrame()  # `epochs` or a declared long table
    figures: list[Figure] = field(default_factory=list)

    def figure(self, name: str, question: str) -> Path:
        path = self.out_dir / f"{name}.png"
        self.figures.append(Figure(path, question))
        return path

    def plot_path(self, name: str) -> Path:
        """A figure path without a question (listed with its file name only)."""
        return self.figure(name, "")


# report(trials of the analysed sweeps, context) -> lines to print
MethodReport = Callable[[pd.DataFrame, ReportContext], list[str]]
METHOD_REPORTS: Registry[MethodReport] = Registry("method report")


def method_reports(trials: pd.DataFrame, context: ReportContext) -> list[str]:
    """The registered reports of every method that has trials in `trials`, in name order."""
    present = set(trials["method"].dropna()) if "method" in trials else set()
    lines: list[str] = []
    for method in METHOD_REPORTS.names():
        if method in present:
            lines += METHOD_REPORTS.get(method)(trials, context)
    return lines
