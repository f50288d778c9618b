"""One call that writes a sweep's (or several sweeps') report folder: what `tickets analyze` and the
end of every `tickets sweep` use."""
from __future__ import annotations

from pathlib import Path

from analysis.compare import analyze
from analysis.page import build_report
from analysis.results import load_results, load_table, sweep_layouts

DEFAULT_X = "sparse_flops"
DEFAULT_Y = "val_accuracy"


def write_sweep_report(*paths: Path | str, out: Path | None = None, x: str = DEFAULT_X, y: str = DEFAULT_Y,
                       fidelity: int | str | None = "each") -> Path:
    """Analyse the sweeps under `paths` and write the report folder (default: report/ of the first);
    returns the folder. By default each training budget is its own group (a sweep may search over
    train.epochs)."""
    trials = load_results(*paths)
    layouts = sweep_layouts(*paths)
    folder = out or (layouts[0].report if len(layouts) == 1 else Path(paths[0]).resolve() / "report")
    groups = analyze(trials, x, y, fidelity=fidelity)
    heading = layouts[0].name if len(layouts) == 1 else f"{len(layouts)} sweeps"
    build_report(groups, trials, folder, lambda name: load_table(name, *paths), heading)
    return folder
