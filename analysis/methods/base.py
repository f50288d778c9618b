"""The registry of per-method reports (see analysis/methods/__init__.py)."""
from __future__ import annotations

from pathlib import Path
from collections.abc import Callable

import pandas as pd

from lottery.registry import Registry

# report(trials of the whole sweep, plot_path(name) -> where to save a figure) -> lines to print
MethodReport = Callable[[pd.DataFrame, Callable[[str], Path]], list[str]]
METHOD_REPORTS: Registry[MethodReport] = Registry("method report")


def method_reports(trials: pd.DataFrame, plot_path: Callable[[str], Path]) -> list[str]:
    """The registered reports of every method that has trials in `trials`, in name order."""
    present = set(trials["method"].dropna()) if "method" in trials else set()
    lines: list[str] = []
    for method in METHOD_REPORTS.names():
        if method in present:
            lines += METHOD_REPORTS.get(method)(trials, plot_path)
    return lines
