"""The claims table from hand-made result tables whose means, intervals and verdicts are known by hand."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.claims import FAILS, HOLDS, NO_DATA, NOT_SHOWN, Estimate, claims_table


def row(method: str, seed: int, **values: object) -> dict[str, object]:
    return {"method": method, "seed": seed, "status": "completed", **values}


def test_estimate_mean_and_t_interval() -> None:
    e = Estimate.of([0.1, 0.2, 0.3])
    half = 4.302652729911275 * 0.1 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert (e.mean, e.n) == (pytest.approx(0.2), 3)
    assert e.low == pytest.approx(0.2 - half) and e.high == pytest.approx(0.2 + half)
    single = Estimate.of([0.5, float("nan")])  # NaN rows are ignored; one seed has no interval
    assert (single.mean, single.n, single.low) == (0.5, 1, None)


def _earlybird_rows(eb_acc: list[float], ns_acc: list[float], ratio: float = 0.3) -> list[dict[str, object]]:
    rows = []
    for seed, (a, b) in enumerate(zip(eb_acc, ns_acc)):
        rows.append(row("earlybird", seed, **{"method.prune_ratio": ratio, "method.max_search_epochs": 0, "train.epochs": 40,
                                              "eb_epoch": 4 + seed, "eb_detected": True, "test_accuracy": a,
                                              "train_flops_total": 2.0 + seed}))
        rows.append(row("slimming", seed, **{"method.prune_ratio": ratio, "test_accuracy": b, "train_flops_total": 8.0}))
    rows.append({**row("earlybird", 9, **{"method.prune_ratio": ratio, "test_accuracy": 0.0}), "status": "failed"})  # ignored
    return rows


def test_earlybird_claims() -> None:
    table = claims_table(pd.DataFrame(_earlybird_rows([0.90, 0.92, 0.94], [0.89, 0.90, 0.91])))
    draw = table.iloc[0]
    assert draw["verdict"] == HOLDS and "0.125" in draw["ours"]  # epochs 4, 5, 6 of 40: mean 0.125, interval below 0.25
    p3 = table[table["claim"].str.contains("p=0.3")].iloc[0]
    assert "2 pts" in p3["ours"] and p3["verdict"] == HOLDS  # differences 1, 2, 3 points: interval [-0.48, 4.48] > -1
    assert table[table["claim"].str.contains("p=0.5")].iloc[0]["verdict"] == NO_DATA
    cost = table[table["claim"].str.contains("training FLOPs")].iloc[0]  # ratios 2/8, 3/8, 4/8: mean 0.375
    assert "0.375" in cost["ours"] and cost["verdict"] == HOLDS
    worse = claims_table(pd.DataFrame(_earlybird_rows([0.80, 0.81, 0.82], [0.90, 0.91, 0.92])))
    assert worse[worse["claim"].str.contains("p=0.3")].iloc[0]["verdict"] == FAILS


def test_supertickets_and_robust_claims() -> None:
    rows = []
    for seed, (st, stp) in enumerate([(0.86, 0.47), (0.83, 0.41), (0.89, 0.51)]):
        common = {"method.target_sparsity": 0.7, "test_accuracy": 0.88}
        rows.append(row("supertickets", seed, noretrain_test_accuracy=st, **common))
        rows.append(row("search_then_prune", seed, noretrain_test_accuracy=stp, **{"method.criterion": "magnitude", **common}))
    for seed, gap in enumerate([0.02, -0.01, 0.03]):  # mean +1.33 pts, interval includes 0
        rows.append(row("robust_ticket", seed, **{"method.epsilon": 0.1, "method.pattern": "channel", "method.sparsity": 0.5,
                                                  "transfer_val_accuracy": 0.9, "transfer_gap": gap}))
    table = claims_table(pd.DataFrame(rows)).set_index("claim")
    noretrain = table.loc[[c for c in table.index if "without retraining" in c][0]]
    assert noretrain["verdict"] == HOLDS and "39.7 pts" in noretrain["ours"]  # (39 + 42 + 38) / 3
    retrained = table.loc[[c for c in table.index if "after retraining" in c][0]]
    assert retrained["verdict"] == HOLDS  # equal after retraining (0 pts, no spread): within the 1-point margin
    robust = table.loc[[c for c in table.index if c.startswith("Robust")][0]]
    assert robust["verdict"] == NOT_SHOWN and "1.33 pts" in robust["ours"]
