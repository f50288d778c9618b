"""The promise of `make demo`: >= 8 trials and a ticket at <= half the dense FLOPs within 2 points."""
from __future__ import annotations

from pathlib import Path

import pytest

from analysis.report import best_ticket_under
from orchestrator.config import load_configs
from orchestrator.sweep import run_sweep

pytestmark = pytest.mark.slow


def test_demo_sweep_finds_a_small_ticket_close_to_dense(tmp_path: Path) -> None:
    cfg, sweep = load_configs(Path(__file__).parents[1] / "configs" / "demo.yaml", [f"sweep.results_dir={tmp_path}"])
    trials = run_sweep(cfg, sweep).trials
    assert (trials["status"] == "completed").sum() >= 9  # 8 searched + the dense baseline
    dense = trials[trials["method"] == "dense"].iloc[0]
    best = best_ticket_under(trials, max_flops_ratio=0.5)
    assert best is not None
    assert best["flops"] <= 0.5 * dense["flops"]
    assert best["val_accuracy"] >= dense["val_accuracy"] - 0.02
    assert best["test_accuracy"] >= dense["test_accuracy"] - 0.02
