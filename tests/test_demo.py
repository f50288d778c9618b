"""The promise of `make demo`: >= 8 trials and a ticket at <= half the dense FLOPs within 2 points; and
`make demo` run twice in a row succeeds (a fresh sweep name each time; the second reuses the first's
trials by config hash instead of training them again)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from analysis.report import best_ticket_under

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[1]


def make_demo(name: str, results: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "demo", f"DEMO_NAME={name}", f"DEMO_ARGS=--set sweep.results_dir={results}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)


def test_make_demo_twice_finds_a_small_ticket_then_reuses_it(tmp_path: Path) -> None:
    first = make_demo("demo-first", tmp_path)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    trials = pd.read_parquet(tmp_path / "demo-first" / "trials")
    assert (trials["status"] == "completed").sum() >= 9  # 8 searched + the dense baseline
    dense = trials[trials["method"] == "dense"].iloc[0]
    best = best_ticket_under(trials, max_flops_ratio=0.5)
    assert best is not None
    assert best["flops"] <= 0.5 * dense["flops"]
    assert best["val_accuracy"] >= dense["val_accuracy"] - 0.02
    assert best["test_accuracy"] >= dense["test_accuracy"] - 0.02

    second = make_demo("demo-second", tmp_path)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    again = pd.read_parquet(tmp_path / "demo-second" / "trials")
    assert len(again) == len(trials) and again["reused_from"].notna().all()  # nothing trained twice
    assert set(again["reused_from"]) == {f"demo-first/{t}" for t in trials["trial_id"]}
    assert f"{len(trials)} reused" in second.stdout
