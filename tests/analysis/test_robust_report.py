"""The robust-ticket table and plot read the gap per row and unpack the per-task JSON columns."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analysis.methods.robust_ticket import format_robust, plot_robust, robust_rows


def trials() -> pd.DataFrame:
    rows = []
    for pattern in ("unstructured", "channel"):
        for sparsity in (0.5, 0.9):
            vanilla = 0.80 - 0.2 * sparsity
            for eps in (0.0, 0.1):
                acc = vanilla + (0.05 if eps else 0.0)
                rows.append({
                    "method": "robust_ticket", "status": "completed", "method.pattern": pattern, "method.sparsity": sparsity,
                    "method.epsilon": eps, "transfer_accuracy": acc, "transfer_val_accuracy": acc,
                    "vanilla_transfer_accuracy": vanilla, "transfer_gap": acc - vanilla,
                    "transfer_accuracies": json.dumps({"a": acc, "b": acc}),
                    "vanilla_transfer_accuracies": json.dumps({"a": vanilla, "b": vanilla}),
                    "source_clean_accuracy": 0.9, "source_robust_accuracy": 0.5 if eps else 0.2, "sparse_flops": 100,
                })
    rows.append({"method": "dense", "status": "completed"})
    rows.append({"method": "robust_ticket", "status": "failed", "method.pattern": "channel", "method.sparsity": 0.7, "method.epsilon": 0.1})
    return pd.DataFrame(rows)


def test_table_reads_the_gap_per_row_and_per_task() -> None:
    text = format_robust(trials())
    assert len(robust_rows(trials())) == 8  # completed robust_ticket rows only
    assert "unstructured sparsity 0.90: epsilon 0.1, transfer 0.6700 vs vanilla 0.6200 (+5.00 pts)" in text
    assert "channel      sparsity 0.50: epsilon 0.1, transfer 0.7500 vs vanilla 0.7000 (+5.00 pts)" in text
    assert "per downstream task" in text and text.count("\n") > 20


def test_plot_is_written(tmp_path: Path) -> None:
    path = plot_robust(trials(), tmp_path / "robust.png")
    assert path.stat().st_size > 10_000


def test_no_robust_rows_says_so() -> None:
    assert format_robust(pd.DataFrame([{"method": "dense", "status": "completed"}])) == "robust tickets: no completed robust_ticket trials"
