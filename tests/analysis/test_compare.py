"""Fronts, hypervolume, seed intervals, fidelity groups and budgets on hand-made tables whose answers
are worked out by hand in the comments; loading goes through real Parquet sweep folders."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from analysis.compare import analyze, format_analysis, resolve_axis, X_CHOICES
from analysis.fronts import (
    ReferencePoint, best_under, front, hypervolume, hypervolume_by, interval, parse_budget, reference_point, seed_points,
)
from analysis.results import MixedFidelityError, comparable_groups, load_results, load_table, select_fidelity, with_seedless_hash
from lottery.codec import config_hash, to_flat_dict
from lottery.config import ExperimentConfig, ModelConfig, TrainConfig
from lottery.errors import ConfigError
from lottery.methods.earlybird import EarlyBirdParams
from orchestrator.parquet_store import ParquetResults

X, Y = "flops", "val_accuracy"


def _rows(*specs: tuple) -> pd.DataFrame:
    """(trial_id, method, seed, config key, val_accuracy, flops[, status]) -> a trials-like table."""
    rows = []
    for spec in specs:
        tid, method, seed, key, acc, flops, *rest = spec
        rows.append({"trial_id": tid, "method": method, "seed": seed, "seedless_hash": key, Y: acc, X: flops,
                     "status": rest[0] if rest else "completed", "error": "boom" if rest else "", "sweep": "s",
                     "data.name": "digits", "model.name": "vgg11", "model.width": 0.25, "train.epochs": 30})
    return pd.DataFrame(rows)


def test_front_keeps_ties_and_drops_nan_and_dominated():
    df = _rows(("a", "eb", 0, "a", 0.8, 5.0), ("b", "eb", 0, "b", 0.8, 5.0), ("c", "eb", 0, "c", 0.7, 6.0),
               ("d", "eb", 0, "d", np.nan, 1.0), ("e", "eb", 0, "e", 0.9, 9.0))
    assert front(df, X, Y)["trial_id"].tolist() == ["a", "b", "e"]  # tie a/b kept; c dominated; d has no accuracy


def test_hypervolume_by_hand_single_point_ties_and_outside_the_box():
    ref = ReferencePoint(10.0, 0.0, "test")
    one = _rows(("a", "eb", 0, "a", 0.5, 4.0))
    assert hypervolume(one, X, Y, ref) == pytest.approx((10 - 4) * 0.5)  # 3.0
    tied = _rows(("a", "eb", 0, "a", 0.5, 4.0), ("b", "eb", 0, "b", 0.5, 4.0))
    assert hypervolume(tied, X, Y, ref) == pytest.approx(3.0)  # a tie adds nothing
    # (4, 0.5) and (8, 0.9): 6 x 0.5 + 2 x (0.9 - 0.5) = 3.8; a point costlier than the reference adds nothing
    two = _rows(("a", "eb", 0, "a", 0.5, 4.0), ("b", "eb", 0, "b", 0.9, 8.0), ("c", "eb", 0, "c", 1.0, 12.0))
    assert hypervolume(two, X, Y, ref) == pytest.approx(3.8)
    assert hypervolume(_rows(("a", "eb", 0, "a", np.nan, 4.0)), X, Y, ref) == 0.0


def test_reference_point_is_dense_times_1_1_else_max_observed():
    df = _rows(("d", "dense", 0, "d", 0.9, 100.0), ("a", "earlybird", 0, "a", 0.8, 200.0))
    ref = reference_point(df, X)
    assert (ref.x, ref.y) == (pytest.approx(110.0), 0.0) and "dense" in ref.why
    ref = reference_point(df[df["method"] != "dense"], X)
    assert ref.x == pytest.approx(220.0) and "largest" in ref.why
    assert "flops = 220" in ref.describe(X, Y)


def test_all_points_dominated_by_dense():
    df = _rows(("d", "dense", 0, "d", 0.95, 10.0), ("a", "earlybird", 0, "a", 0.9, 10.0), ("b", "earlybird", 0, "b", 0.5, 12.0))
    (g,) = analyze(df, X, Y)
    assert g.front["trial_id"].tolist() == ["d"]
    # ref x = 11: dense 1 x 0.95; earlybird's own front is (10, 0.9): 1 x 0.9; (12, .5) is outside the box
    hv = g.hypervolumes.set_index("method")["hypervolume"]
    assert hv["dense"] == pytest.approx(0.95) and hv["earlybird"] == pytest.approx(0.9)


def test_seed_mean_and_t_interval_by_hand():
    df = _rows(("a0", "eb", 0, "A", 0.8, 5.0), ("a1", "eb", 1, "A", 0.9, 5.0), ("a2", "eb", 2, "A", 1.0, 5.0),
               ("b0", "eb", 0, "B", 0.7, 3.0), ("f", "eb", 3, "A", 0.1, 5.0, "failed"))
    points = seed_points(df, X, Y).set_index("seedless_hash")
    # A: mean 0.9, sd 0.1, t_{0.975, 2} = 4.302653, half width 4.302653 x 0.1 / sqrt(3) = 0.248414; the failed seed is left out
    assert points.loc["A", Y] == pytest.approx(0.9)
    assert points.loc["A", f"{Y}_low"] == pytest.approx(0.9 - 0.248414, abs=1e-6)
    assert points.loc["A", f"{Y}_high"] == pytest.approx(0.9 + 0.248414, abs=1e-6)
    assert points.loc["A", "seeds"] == 3 and points.loc["A", "seed_list"] == "0,1,2"
    assert points.loc["B", "seeds"] == 1 and math.isnan(points.loc["B", f"{Y}_low"])  # one seed: no interval


def test_repeats_of_one_seed_are_one_sample():
    # seed 0 run twice (0.8, 0.6 -> 0.7) and seed 1 once (0.9): mean of (0.7, 0.9) = 0.8 over 2 seeds
    df = _rows(("a", "eb", 0, "A", 0.8, 5.0), ("b", "eb", 0, "A", 0.6, 5.0), ("c", "eb", 1, "A", 0.9, 5.0))
    (point,) = seed_points(df, X, Y).to_dict("records")
    assert point[Y] == pytest.approx(0.8) and point["seeds"] == 2 and point["trial_ids"] == "a,b,c"
    assert point[f"{Y}_high"] - 0.8 == pytest.approx(12.706205 * math.sqrt(0.02) / math.sqrt(2), rel=1e-6)


def test_interval_edge_cases():
    mean, low, high, n = interval(pd.Series([0.5]))
    assert (mean, n) == (0.5, 1) and math.isnan(low) and math.isnan(high)  # one value: no interval
    # 1 and 3 (the NaN is dropped): sd sqrt(2), half width t_{0.975, 1} x sqrt(2) / sqrt(2) = 12.706205
    mean, low, high, n = interval(pd.Series([1.0, np.nan, 3.0]))
    assert (mean, n) == (2.0, 2) and high - mean == pytest.approx(12.706205, rel=1e-6) and mean - low == pytest.approx(12.706205, rel=1e-6)
    assert interval(pd.Series([], dtype=float))[3] == 0


def test_hypervolume_per_method_spread_over_seeds():
    # ref x = 11 (dense 10 x 1.1); earlybird seed 0: (5, .8) -> 6 x .8 = 4.8; seed 1: (5, .7) -> 4.2
    df = _rows(("d", "dense", 0, "d", 0.9, 10.0), ("a0", "earlybird", 0, "A", 0.8, 5.0), ("a1", "earlybird", 1, "A", 0.7, 5.0))
    ref = reference_point(df, X)
    hv = hypervolume_by(df, X, Y, ref, ["method"]).set_index("method")
    assert hv.loc["earlybird", "hv_seed_mean"] == pytest.approx(4.5)
    assert hv.loc["earlybird", "hv_seed_high"] - 4.5 == pytest.approx(12.706205 * 0.424264 / math.sqrt(2), rel=1e-5)
    assert hv.loc["earlybird", "hypervolume"] == pytest.approx(6 * 0.75)  # front of the seed mean (5, 0.75)
    assert hv.loc["earlybird", "hypervolume_share"] == pytest.approx(4.5 / 11)
    assert hv.loc["dense", "seeds"] == 1


def test_front_refuses_to_mix_fidelities_and_says_so():
    df = _rows(("a", "eb", 0, "a", 0.8, 5.0), ("b", "eb", 0, "b", 0.9, 6.0))
    df.loc[1, "train.epochs"] = 10
    with pytest.raises(MixedFidelityError, match=r"mix fidelities \(train.epochs = 10, 30\).*--fidelity"):
        analyze(df, X, Y)
    assert [len(g.trials) for g in analyze(df, X, Y, fidelity="all")] == [2]
    assert analyze(df, X, Y, fidelity=10)[0].trials["trial_id"].tolist() == ["b"]
    with pytest.raises(ConfigError, match="valid: 10, 30, each, all"):
        select_fidelity(df, 20)
    with pytest.raises(ConfigError, match="valid: 10, 30, each, all"):
        analyze(df, X, Y, fidelity=20)
    assert [(g.key["train.epochs"], len(g.trials)) for g in analyze(df, X, Y, fidelity="each")] == [(10, 1), (30, 1)]


def test_groups_split_by_dataset_and_model():
    df = _rows(("a", "eb", 0, "a", 0.8, 5.0), ("b", "eb", 0, "b", 0.9, 6.0))
    df.loc[1, "model.name"] = "resnet20"
    keys = [(k["model.name"], k["train.epochs"]) for k, _ in comparable_groups(df)]
    assert keys == [("resnet20", 30), ("vgg11", 30)]


def test_budget_best_and_errors():
    df = _rows(("a", "eb", 0, "a", 0.8, 5.0), ("b", "eb", 0, "b", 0.9, 6.0), ("c", "eb", 0, "c", 0.9, 5.5))
    points = seed_points(df, X, Y)
    assert best_under(points, parse_budget("flops<=5.9", list(df.columns)), Y)["trial_id"] == "c"
    assert best_under(points, parse_budget("flops <= 6", list(df.columns)), Y)["trial_id"] == "c"  # tie on y: cheaper
    assert best_under(points, parse_budget("flops<1", list(df.columns)), Y) is None
    with pytest.raises(ConfigError, match="valid: .*flops"):
        parse_budget("nope<=1", ["flops", "params"])
    with pytest.raises(ConfigError, match="COLUMN<=NUMBER"):
        parse_budget("flops=1", ["flops"])
    text = format_analysis(analyze(df, X, Y, budgets=[parse_budget("flops<=5.9", list(df.columns))]))
    assert "best under flops<=5.9: eb val_accuracy=0.9" in text


def test_axis_names_map_to_columns_and_unknown_names_list_choices():
    df = _rows(("a", "eb", 0, "a", 0.8, 5.0)).assign(train_flops_total=1e9, latency_ms=np.nan)
    assert resolve_axis("train_flops", X_CHOICES, "--x", df) == "train_flops_total"
    with pytest.raises(ConfigError, match="invalid value 'watts' for --x; valid: flops, sparse_flops, params, latency, train_flops"):
        resolve_axis("watts", X_CHOICES, "--x", df)
    with pytest.raises(ConfigError, match="no values for --x latency"):
        resolve_axis("latency", X_CHOICES, "--x", df)


def _trial_row(sweep: str, tid: str, cfg: ExperimentConfig, acc: float, flops: int, status: str = "completed") -> dict:
    return {**to_flat_dict(cfg), "sweep": sweep, "trial_id": tid, "config_hash": config_hash(cfg), "method": cfg.method.name,
            "seed": cfg.seed, "status": status, "val_accuracy": acc, "flops": flops, "sparse_flops": flops, "epochs_trained": 3}


def test_load_results_over_sweeps_and_seedless_hash(tmp_path):
    base = ExperimentConfig(model=ModelConfig(width=0.25), train=TrainConfig(epochs=3), method=EarlyBirdParams(prune_ratio=0.3))
    ParquetResults(tmp_path / "results" / "s1").write_trial(_trial_row("s1", "a", base, 0.8, 100))
    ParquetResults(tmp_path / "results" / "s2").write_trial(_trial_row("s2", "b", dataclasses.replace(base, seed=1), 0.9, 100))
    other = dataclasses.replace(base, train=TrainConfig(epochs=3, lr=0.01))
    ParquetResults(tmp_path / "results" / "s2").write_trial(_trial_row("s2", "c", other, 0.7, 100))
    trials = load_results(tmp_path / "results")
    assert sorted(trials["sweep"]) == ["s1", "s2", "s2"]
    by_id = trials.set_index("trial_id")["seedless_hash"]
    assert by_id["a"] == by_id["b"] == config_hash(base) and by_id["c"] != by_id["a"]
    assert load_results(tmp_path / "results" / "s1", tmp_path / "results" / "s2")["trial_id"].nunique() == 3
    assert load_table("epochs", tmp_path / "results").empty
    (g,) = analyze(trials, "flops", Y)
    assert g.points.set_index("seedless_hash").loc[config_hash(base), Y] == pytest.approx(0.85)
    with pytest.raises(ConfigError, match="no sweep results"):
        load_results(tmp_path)
    assert with_seedless_hash(trials.iloc[0:0]).empty
