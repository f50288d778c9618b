"""Pareto filtering (max accuracy, min FLOPs), the printed front and the plot."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.pareto import pareto_front, pareto_mask
from analysis.report import format_front, front_table, plot_front

OBJECTIVES = [("val_accuracy", "max"), ("flops", "min")]


def test_mask_two_objectives():
    values = np.array([
        [0.90, 100.0],  # front: best accuracy
        [0.80, 50.0],   # front
        [0.70, 60.0],   # dominated by row 1 (lower accuracy, more FLOPs)
        [0.60, 10.0],   # front: fewest FLOPs
        [0.80, 80.0],   # dominated by row 1 (equal accuracy, more FLOPs)
    ])
    mask = pareto_mask(values, [True, False])
    assert mask.tolist() == [True, True, False, True, False]


def test_mask_keeps_exact_ties():
    values = np.array([[0.8, 50.0], [0.8, 50.0], [0.7, 50.0]])
    assert pareto_mask(values, [True, False]).tolist() == [True, True, False]


def test_mask_direction_matters():
    values = np.array([[1.0, 1.0], [2.0, 2.0]])
    assert pareto_mask(values, [True, True]).tolist() == [False, True]
    assert pareto_mask(values, [False, False]).tolist() == [True, False]
    assert pareto_mask(values, [True, False]).tolist() == [True, True]


def test_mask_single_row_and_single_objective():
    assert pareto_mask(np.array([[0.5, 3.0]]), [True, False]).tolist() == [True]
    assert pareto_mask(np.array([[1.0], [3.0], [3.0], [2.0]]), [True]).tolist() == [False, True, True, False]


def _trials() -> pd.DataFrame:
    rows = [
        # trial, method, status, val_acc, test_acc, flops, prune_ratio
        ("t-dense", "dense", "completed", 0.95, 0.94, 1000, None),
        ("t-a", "earlybird", "completed", 0.93, 0.92, 400, 0.5),
        ("t-b", "earlybird", "completed", 0.90, 0.90, 450, 0.4),  # dominated by t-a
        ("t-c", "earlybird", "completed", 0.85, 0.84, 200, 0.8),
        ("t-d", "earlybird", "completed", 0.85, 0.86, 200, 0.8),  # tie with t-c: both kept
        ("t-fail", "earlybird", "failed", 0.99, np.nan, 10, 0.9),  # would dominate everything
        ("t-nan", "earlybird", "completed", np.nan, np.nan, 100, 0.85),  # no accuracy: excluded
    ]
    df = pd.DataFrame(rows, columns=["trial_id", "method", "status", "val_accuracy", "test_accuracy", "flops",
                                     "method.prune_ratio"])
    df["sweep"] = "unit"
    df["arm"] = np.where(df["method"] == "dense", "baseline", "search")
    df["error"] = np.where(df["status"] == "failed", "RuntimeError: boom", "")
    df["train_flops_total"] = 1e9
    df["flops_ratio"] = df["flops"] / 1000
    return df


def test_front_excludes_failed_and_dominated_and_sorts_by_flops():
    front = pareto_front(_trials(), OBJECTIVES)
    ids = front["trial_id"].tolist()
    assert sorted(ids[:2]) == ["t-c", "t-d"]  # the tie, in either order
    assert ids[2:] == ["t-a", "t-dense"]
    assert front["flops"].tolist() == [200, 200, 400, 1000]
    assert (front["status"] == "completed").all()


def test_front_of_only_failed_trials_is_empty():
    df = _trials()
    df["status"] = "failed"
    assert pareto_front(df, OBJECTIVES).empty


def test_front_with_other_objectives():
    front = pareto_front(_trials(), [("test_accuracy", "max"), ("flops", "min")])
    # t-d beats its FLOPs-twin t-c on test accuracy, so t-c drops out.
    assert sorted(front["trial_id"]) == ["t-a", "t-d", "t-dense"]


def test_format_front_mentions_counts_dense_and_failures():
    text = format_front(_trials(), OBJECTIVES)
    lines = text.splitlines()
    assert lines[0] == "Pareto front (val_accuracy max, flops min): 4 of 6 completed trials"
    dense_line = next(line for line in lines if line.startswith("dense baseline:"))
    assert dense_line == "dense baseline: val_accuracy 0.9500, test_accuracy 0.9400, flops 1000, train_flops_total 1e+09"
    assert "1 trial(s) failed: t-fail: RuntimeError: boom" in lines[-1]
    assert "t-b" not in text and "t-nan" not in text
    for trial in ("t-a", "t-c", "t-d", "t-dense"):
        assert trial in text


def test_format_front_without_dense_or_completed():
    df = _trials()
    df = df[df["method"] != "dense"]
    assert "dense baseline" not in format_front(df, OBJECTIVES)
    df = df.assign(status="failed")
    text = format_front(df, OBJECTIVES)
    assert "0 of 0 completed trials" in text and "(empty)" in text


def test_front_table_columns():
    table = front_table(_trials(), OBJECTIVES)
    assert list(table.columns) == ["trial_id", "method", "arm", "method.prune_ratio", "val_accuracy", "test_accuracy",
                                   "flops", "flops_ratio", "train_flops_total"]
    assert table["method.prune_ratio"].isna().tolist() == [False, False, False, True]


def test_plot_front_writes_png(tmp_path):
    path = plot_front(_trials(), tmp_path / "sub" / "pareto.png")
    assert path == tmp_path / "sub" / "pareto.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 1024


@pytest.mark.filterwarnings("error")
def test_plot_front_all_failed_still_writes(tmp_path):
    path = plot_front(_trials().assign(status="failed"), tmp_path / "empty.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("n", [50])
def test_mask_matches_brute_force(n):
    rng = np.random.default_rng(0)
    values = np.round(rng.random((n, 2)), 1)  # coarse grid: many ties
    mask = pareto_mask(values, [True, False])
    for i in range(n):
        dominated = any(
            values[j, 0] >= values[i, 0] and values[j, 1] <= values[i, 1]
            and (values[j, 0] > values[i, 0] or values[j, 1] < values[i, 1])
            for j in range(n) if j != i
        )
        assert mask[i] == (not dominated)
    assert 0 < mask.sum() < n


def test_tables_fit_120_columns_and_leave_out_empty_columns():
    from analysis.report import fit, format_front

    wide = _trials().assign(**{f"method.extra_setting_{i}": 0.123456 for i in range(12)}, empty_column=float("nan"))
    text = fit(wide)
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "empty_column" not in text and "trial" in text.splitlines()[0] and "val_acc" in text.splitlines()[0]
    compact = format_front(_trials(), OBJECTIVES)
    assert all(len(line) <= 120 for line in compact.splitlines() if not line.startswith(("dense baseline", "best ticket")))
