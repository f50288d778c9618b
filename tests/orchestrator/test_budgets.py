"""Budgets without Ray: parsing, exact pre-training costs, the searcher's rejection and reuse decisions,
how Optuna is told, the feasible-only summary, the training-cost line and --extend's refusals."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from optuna.trial import TrialState

from analysis.report import format_front
from lottery.codec import config_hash, to_flat_dict, with_overrides
from lottery.errors import ConfigError
from lottery.methods import METHODS
from lottery.session import LocalSession
from orchestrator.budgets import Budget, constraints, feasible, parse_budget
from orchestrator.config import load_configs, objective_metrics, save_sweep_file
from orchestrator.parquet_store import ParquetResults
from orchestrator.results_schema import trials_schema
from orchestrator.precost import check_budgets_reachable, known_costs
from orchestrator.savings import training_savings
from orchestrator.searcher import TicketSearcher
from search_spaces import SEARCH_SPACES, Choice, SearchSpace
from trainables.protocol import FINAL_PREFIX, PRESET, REJECTED, REUSED

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs" / "demo.yaml"
TINY = ["model.name=vgg_tiny", "train.epochs=1"]


def test_budget_parsing_aliases_and_violation() -> None:
    columns = objective_metrics()
    assert parse_budget("flops<=5e7", columns) == Budget("flops", "<=", 5e7)
    assert parse_budget(" train_flops <= 1e15 ", columns) == Budget("train_flops_total", "<=", 1e15)
    assert parse_budget("latency>=0.5", columns) == Budget("latency_ms", ">=", 0.5)
    b = Budget("flops", "<=", 1000)
    assert b.violation(1200) == pytest.approx(0.2) and b.violation(800) == pytest.approx(-0.2)
    assert b.met(1000) is True and b.met(1001) is False and b.met(float("nan")) is None and b.met(None) is None
    acc = Budget("val_accuracy", ">=", 0.9)
    assert acc.violation(0.8) == pytest.approx(0.1 / 0.9) and acc.met(0.95) is True
    assert constraints([b, acc], {"flops": 1200, "val_accuracy": 0.95}) == {"flops<=1000": pytest.approx(0.2),
                                                                           "val_accuracy>=0.9": pytest.approx(-0.05 / 0.9)}
    assert constraints([b], {}) is None
    assert feasible([b, acc], {"flops": 900, "val_accuracy": 0.95}) is True
    assert feasible([b, acc], {"flops": 900}) is None and feasible([b, acc], {"flops": 1100}) is False
    assert feasible([], {}) is True
    for bad, needle in (("flops=5", "COLUMN<=NUMBER"), ("flops<5", "COLUMN<=NUMBER"), ("watts<=3", "'watts'"),
                        ("flops<=lots", "'lots'"), ("flops<=inf", "finite")):
        with pytest.raises(ConfigError, match=needle):
            parse_budget(bad, columns)


@pytest.mark.parametrize("method, overrides", [("dense", {}), ("random", {"method.sparsity": 0.7})])
def test_known_costs_are_what_the_trained_trial_reports(method: str, overrides: dict) -> None:
    cfg, _ = load_configs(DEMO, [f"method.name={method}", *TINY])
    cfg = with_overrides(cfg, overrides)
    figures = known_costs(cfg)
    final = METHODS.get(method)().run(cfg, LocalSession())
    assert figures, method
    for column, value in figures.items():
        assert final[column] == pytest.approx(value), column  # exact, not an estimate
    if method == "random":
        assert figures["sparse_flops"] < figures["flops"] and figures["weight_sparsity"] == pytest.approx(0.7, abs=0.01)


def test_channel_methods_claim_no_cost_before_training() -> None:
    cfg, _ = load_configs(DEMO, TINY)  # earlybird: the ticket's size is only known once drawn
    assert set(known_costs(cfg)) == {"dense_flops", "dense_params"}


def test_provably_impossible_budget_is_refused_and_a_reachable_one_is_not() -> None:
    cfg, _ = load_configs(DEMO, ["method.name=magnitude", *TINY])
    dense_flops = known_costs(cfg)["flops"]
    expected = rf"budget flops<=1000 cannot be met: every configuration of search space 'magnitude' has flops = {dense_flops:.4g}"
    with pytest.raises(ConfigError, match=expected):
        check_budgets_reachable(cfg, SEARCH_SPACES.get("magnitude"), [Budget("flops", "<=", 1000)])
    check_budgets_reachable(cfg, SEARCH_SPACES.get("magnitude"), [Budget("sparse_flops", "<=", 1000)])  # not known before training
    random_cfg, _ = load_configs(DEMO, ["method.name=random", *TINY])
    space = SearchSpace(method="random", dimensions={"method.sparsity": Choice((0.2, 0.8))})
    check_budgets_reachable(random_cfg, space, [Budget("sparse_flops", "<=", 2000)])  # 0.8 meets it
    with pytest.raises(ConfigError, match="sparse_flops = 1272 to 4648"):
        check_budgets_reachable(random_cfg, SearchSpace("random", {"method.sparsity": Choice((0.2, 0.5, 0.8))}),
                                [Budget("sparse_flops", "<=", 1000)])


@pytest.fixture
def random_space():
    name = "test-budget-unit"
    SEARCH_SPACES.register(name)(SearchSpace(method="random", dimensions={"method.sparsity": Choice((0.2, 0.8))}))
    yield name
    SEARCH_SPACES._items.pop(name)
    SEARCH_SPACES._help.pop(name)


def _searcher(results: Path, space: str, *extra: str) -> TicketSearcher:
    cfg, sweep = load_configs(DEMO, ["method.name=random", *TINY, f"sweep.search_space={space}", "sweep.sampler=grid",
                                     "sweep.num_trials=2", "sweep.baselines=[dense]", f"sweep.results_dir={results}",
                                     "sweep.budgets=[sparse_flops<=4000]", *extra])
    return TicketSearcher(cfg, SEARCH_SPACES.get(space), sweep, results / "s" / "optuna.journal")


def test_searcher_rejects_over_budget_tells_pruned_infeasible_and_keeps_baselines(tmp_path: Path, random_space: str) -> None:
    searcher = _searcher(tmp_path, random_space)
    dense = searcher.suggest("t0")
    assert dense["arm"] == "baseline" and PRESET not in dense  # over budget, but the reference always runs
    by_id = {tid: searcher.suggest(tid) for tid in ("t1", "t2")}
    ids = {s["experiment"]["method.sparsity"]: tid for tid, s in by_id.items()}
    assert PRESET not in by_id[ids[0.8]]
    preset = by_id[ids[0.2]][PRESET]
    assert preset["status"] == REJECTED and preset["final"]["sparse_flops"] == 4648
    assert "sparse_flops = 4648 breaks sparse_flops<=4000" in preset["reason"]
    searcher.on_trial_complete(ids[0.2], {**{FINAL_PREFIX + k: v for k, v in preset["final"].items()}, PRESET: REJECTED})
    searcher.on_trial_complete(ids[0.8], {"final_val_accuracy": 0.5, "final_flops": 5840, "final_sparse_flops": 1272})
    trials = {t.params["method.sparsity"]: t for t in searcher.study.trials}
    assert trials[0.2].state == TrialState.PRUNED and trials[0.2].constraints == {"sparse_flops<=4000": pytest.approx(0.162)}
    assert trials[0.8].state == TrialState.COMPLETE and trials[0.8].constraints["sparse_flops<=4000"] == pytest.approx(-0.682)


def test_searcher_reuses_a_completed_config_of_any_sweep_in_the_folder(tmp_path: Path, random_space: str) -> None:
    cfg, _ = load_configs(DEMO, ["method.name=dense", *TINY])
    ParquetResults(tmp_path / "earlier").write_trial({
        **to_flat_dict(cfg), "sweep": "earlier", "trial_id": "abc", "config_hash": config_hash(cfg), "method": "dense",
        "seed": 0, "status": "completed", "val_accuracy": 0.77, "flops": 5840, "sparse_flops": 5840, "mlflow_run_id": "run-1",
        "ticket_path": "/somewhere/abc", "arm": "baseline",
    })
    dense = _searcher(tmp_path, random_space).suggest("t0")
    assert dense[PRESET]["status"] == REUSED
    assert dense[PRESET]["reused_from"] == "earlier/abc" and dense[PRESET]["origin_run_id"] == "run-1"
    assert dense[PRESET]["final"]["val_accuracy"] == 0.77 and dense[PRESET]["ticket_path"] == "/somewhere/abc"
    assert PRESET not in _searcher(tmp_path, random_space, "sweep.reuse=false").suggest("t0")  # reuse can be turned off


def test_scheduler_stopped_trial_is_told_pruned_not_its_half_trained_accuracy(tmp_path: Path, random_space: str) -> None:
    searcher = _searcher(tmp_path, random_space, "sweep.baselines=[]", "sweep.scheduler=asha", "sweep.budgets=[]")
    searcher.suggest("t0")
    searcher.on_trial_complete("t0", {"report_kind": "epoch", "epoch": 1, "val_accuracy": 0.4})
    trial = searcher.study.trials[0]
    assert trial.state == TrialState.PRUNED and trial.values is None


def _rows(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"trial_id": [f"t{i}" for i in range(n)], "arm": ["search"] * n, "test_accuracy": [0.5] * n}
    frame = pd.DataFrame({**base, **columns})
    return frame.reindex(columns=list(dict.fromkeys([*trials_schema().names, *frame.columns])))  # every column, as read


def test_front_uses_feasible_trials_and_says_when_none_is() -> None:
    budgets = [Budget("flops", "<=", 100)]
    trials = _rows(method=["dense", "random", "random"], status=["completed", "completed", "rejected"],
                   val_accuracy=[0.9, 0.8, None], flops=[200, 90, 300], feasible=[False, True, False],
                   train_flops_total=[10.0, 5.0, None], wall_time_s=[1.0, 1.0, None])
    text = format_front(trials, [("val_accuracy", "max"), ("flops", "min")], budgets=budgets)
    assert "of the 1 feasible trials (budgets: flops<=100)" in text
    assert "best under budgets flops<=100: t1 (random), val_accuracy 0.8000, flops 90" in text
    assert "1 trial(s) rejected before training" in text
    none = trials.assign(feasible=[False, False, False])
    text = format_front(none, [("val_accuracy", "max"), ("flops", "min")], budgets=budgets)
    assert "no feasible trial under budgets flops<=100: none of the 2 completed trials meets them" in text
    assert "1 configuration(s) were rejected before training" in text


def test_training_cost_line_counts_reused_and_rejected_as_free() -> None:
    trials = _rows(method=["dense", "random", "random", "random"], status=["completed", "completed", "rejected", "completed"],
                   reused_from=[None, None, None, "old/t9"], dense_flops=[10.0] * 4, **{"train.epochs": [2] * 4},
                   train_flops_total=[600.0, 300.0, None, 600.0], wall_time_s=[36.0, 18.0, None, 36.0], epochs_trained=[2, 2, None, 2])
    savings = training_savings(trials, num_train=10, gpu=0.5)
    assert savings.spent_flops == 900.0 and savings.dense_flops == 4 * 3 * 10 * 10 * 2
    assert (savings.trained, savings.reused, savings.rejected) == (2, 1, 1)
    assert savings.spent_hours == pytest.approx(54 / 3600 * 0.5) and savings.dense_hours == pytest.approx(18 * 8 / 3600 * 0.5)
    assert "spent 0.38x of it" in savings.text() and "GPU-hours" in savings.text()


def test_extend_refuses_a_total_not_above_what_ran(tmp_path: Path) -> None:
    from orchestrator.extend import extend_sweep

    cfg, sweep = load_configs(DEMO, [*TINY, "sweep.baselines=[]", "sweep.num_trials=1", "sweep.name=done",
                                     f"sweep.results_dir={tmp_path}"])
    layout_root = tmp_path / "done"
    layout_root.mkdir()
    save_sweep_file(layout_root / "sweep.yaml", cfg, sweep)
    ParquetResults(layout_root).write_trial({**to_flat_dict(cfg), "sweep": "done", "trial_id": "a", "config_hash": "h",
                                             "method": "earlybird", "seed": 0, "status": "completed", "arm": "search",
                                             "optuna_trial_number": 0})
    before = sorted(p.name for p in layout_root.rglob("*"))
    with pytest.raises(ConfigError, match="already ran 1 configurations; --set sweep.num_trials must be above 1"):
        extend_sweep("done", ["sweep.num_trials=1", f"sweep.results_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="--extend needs the new total"):
        extend_sweep("done", [f"sweep.results_dir={tmp_path}"])
    assert sorted(p.name for p in layout_root.rglob("*")) == before  # nothing written


def test_analysis_counts_a_reused_trial_once_when_its_original_is_loaded() -> None:
    from analysis.results import without_duplicate_reuse

    trials = pd.DataFrame({"sweep": ["a", "b", "b"], "trial_id": ["1", "2", "3"], "reused_from": [None, "a/1", "z/9"]})
    kept = without_duplicate_reuse(trials)
    assert list(kept["trial_id"]) == ["1", "3"]  # b/2 is a/1 again; b/3's original was not loaded


def test_training_budget_counts_trained_seconds_only_and_scales_to_gpu_hours(tmp_path) -> None:
    from orchestrator.search_budget import TrainingBudget, budget_spent_line
    from trainables.protocol import PRESET

    budget = TrainingBudget.for_sweep(max_hours=1.0, gpu=0.25, marker=tmp_path / "spent.json")
    budget.add({"final_wall_time_s": 7200.0})  # a finished trial: its final report
    budget.add({"wall_time_s": 3600.0, "epoch": 3})  # a stopped or failed one: its last epoch
    budget.add({"final_wall_time_s": 9e9, PRESET: "reused"})  # trained nothing here
    budget.add(None)
    assert budget.spent_hours == pytest.approx(3 * 0.25)  # wall hours x the GPU fraction each trial held
    assert not budget.exhausted()
    budget.add({"final_wall_time_s": 3600.0})
    assert budget.exhausted() and budget_spent_line(budget.marker, 4, 9) == ""
    budget.mark_spent()
    assert budget_spent_line(budget.marker, 4, 9).startswith("search budget spent: 1 of 1 training hours")
    assert not TrainingBudget.for_sweep(0.0, 0.0, tmp_path / "x").exhausted()  # 0: no limit
