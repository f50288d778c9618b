"""TicketSearcher: baseline arms first (never told to Optuna), seeded Optuna proposals, tell on completion."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from optuna.trial import TrialState

from lottery.errors import ConfigError
from lottery.codec import config_hash, experiment_from_flat, with_overrides
from orchestrator.config import load_configs
from orchestrator.searcher import TicketSearcher, check_space, make_sampler, objective_values
from search_spaces import SEARCH_SPACES, FloatRange, SearchSpace

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs" / "demo.yaml"
SPACE = SEARCH_SPACES.get("earlybird")


def make(tmp_path: Path, *overrides: str, journal: str = "optuna.journal") -> TicketSearcher:
    cfg, sweep = load_configs(DEMO, list(overrides))
    return TicketSearcher(cfg, SEARCH_SPACES.get(sweep.search_space), sweep, tmp_path / journal)


def good(acc: float = 0.9, flops: int = 1000) -> dict:
    return {"final_val_accuracy": acc, "final_flops": flops, "final_test_accuracy": 0.5}


def test_baseline_arms_come_first_and_are_not_told(tmp_path):
    searcher = make(tmp_path)
    base, _ = load_configs(DEMO)
    first = searcher.suggest("t0")
    assert first["arm"] == "baseline"
    assert first["optuna_trial_number"] == -1
    assert first["experiment"]["method.name"] == "dense"
    assert "method.prune_ratio" not in first["experiment"]
    dense = experiment_from_flat(first["experiment"])
    assert (dense.data, dense.model, dense.train, dense.seed) == (base.data, base.model, base.train, base.seed)
    assert first["config_hash"] == config_hash(with_overrides(base, {"method.name": "dense"}))
    assert len(searcher.study.trials) == 0  # no Optuna trial was asked for the baseline

    second = searcher.suggest("t1")
    assert second["arm"] == "search" and second["optuna_trial_number"] == 0
    assert second["experiment"]["method.name"] == "earlybird"

    searcher.on_trial_complete("t0", good())  # the baseline's result
    trials = searcher.study.trials
    assert len(trials) == 1 and trials[0].state == TrialState.RUNNING  # only the search trial, untouched


def test_several_baselines_in_order(tmp_path):
    searcher = make(tmp_path, "sweep.baselines=[dense, earlybird]")
    arms = [searcher.suggest(f"t{i}") for i in range(3)]
    assert [a["arm"] for a in arms] == ["baseline", "baseline", "search"]
    assert [a["experiment"]["method.name"] for a in arms] == ["dense", "earlybird", "earlybird"]
    assert arms[1]["experiment"]["method.prune_ratio"] == 0.5  # the preset's own earlybird config
    assert [a["optuna_trial_number"] for a in arms] == [-1, -1, 0]


def test_search_suggestions_within_space_bounds(tmp_path):
    searcher = make(tmp_path, "sweep.baselines=[]")
    seen = []
    for i in range(6):
        s = searcher.suggest(f"t{i}")
        assert s["arm"] == "search" and s["optuna_trial_number"] == i
        exp = s["experiment"]
        assert 0.3 <= exp["method.prune_ratio"] <= 0.85
        assert 1e-5 <= exp["method.bn_l1"] <= 1e-3
        assert 0.05 <= exp["method.eb_epsilon"] <= 0.2
        # everything outside the space stays as in the preset
        assert exp["model.width"] == 0.25 and exp["train.epochs"] == 30 and exp["method.eb_queue"] == 5
        assert s["config_hash"] == config_hash(experiment_from_flat(exp))
        seen.append(exp["method.prune_ratio"])
    assert len(set(seen)) == 6  # actually sampled, not a constant
    params = searcher.study.trials[0].params
    assert set(params) == {"method.prune_ratio", "method.bn_l1", "method.eb_epsilon"}


def test_same_seed_same_proposals(tmp_path):
    a = make(tmp_path, "sweep.baselines=[]", journal="a.journal")
    b = make(tmp_path, "sweep.baselines=[]", journal="b.journal")
    c = make(tmp_path, "sweep.baselines=[]", "sweep.sampler_seed=1", journal="c.journal")
    sa = [a.suggest(f"t{i}")["experiment"] for i in range(2)]
    sb = [b.suggest(f"t{i}")["experiment"] for i in range(2)]
    sc = [c.suggest(f"t{i}")["experiment"] for i in range(2)]
    assert sa == sb
    assert sa[0]["method.prune_ratio"] != sc[0]["method.prune_ratio"]


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "random"])
def test_each_sampler_works(tmp_path, sampler):
    searcher = make(tmp_path, "sweep.baselines=[]", f"sweep.sampler={sampler}")
    s = searcher.suggest("t0")
    assert 0.3 <= s["experiment"]["method.prune_ratio"] <= 0.85
    searcher.on_trial_complete("t0", good(0.8, 500))
    assert searcher.study.trials[0].values == [0.8, 500.0]


def test_unknown_sampler():
    with pytest.raises(ConfigError, match="unknown sampler 'annealing'; valid choices: tpe, nsga2, random, grid"):
        make_sampler("annealing", 0)


def test_grid_sampler_needs_a_space_of_choices():
    with pytest.raises(ConfigError, match="sampler 'grid' needs"):
        make_sampler("grid", 0)


def test_complete_with_finite_values_is_told(tmp_path):
    searcher = make(tmp_path, "sweep.baselines=[]")
    s = searcher.suggest("t0")
    searcher.on_trial_complete("t0", good(0.875, 12345))
    trial = searcher.study.trials[s["optuna_trial_number"]]
    assert trial.state == TrialState.COMPLETE
    assert trial.values == [0.875, 12345.0]
    assert searcher.live == {}
    assert [d.name for d in searcher.study.directions] == ["MAXIMIZE", "MINIMIZE"]


@pytest.mark.parametrize("result,error", [
    ({"final_val_accuracy": float("nan"), "final_flops": 100}, False),
    ({"final_val_accuracy": 0.9, "final_flops": float("inf")}, False),
    ({"final_val_accuracy": 0.9}, False),  # flops missing
    ({"val_accuracy": 0.9, "flops": 100}, False),  # an epoch report, not a final one
    ({"final_val_accuracy": "0.9", "final_flops": 100}, False),
    (None, False),
    ({}, False),
    ({"final_val_accuracy": 0.9, "final_flops": 100}, True),  # errored trial
], ids=["nan", "inf", "missing", "not-final", "string", "none", "empty", "error"])
def test_bad_result_is_told_fail(tmp_path, result, error):
    searcher = make(tmp_path, "sweep.baselines=[]")
    searcher.suggest("t0")
    searcher.on_trial_complete("t0", result, error=error)
    trial = searcher.study.trials[0]
    assert trial.state == TrialState.FAIL
    assert trial.values is None
    assert searcher.live == {}


def test_unknown_trial_id_is_ignored(tmp_path):
    searcher = make(tmp_path, "sweep.baselines=[]")
    searcher.suggest("t0")
    searcher.on_trial_complete("someone-else", good())
    assert searcher.study.trials[0].state == TrialState.RUNNING
    assert searcher.live == {"t0": 0}


def test_objective_values_order_follows_sweep(tmp_path):
    _, sweep = load_configs(DEMO, ["sweep.objectives=[flops:min, test_accuracy:max]"])
    assert objective_values({"final_flops": 7, "final_test_accuracy": 0.5, "final_val_accuracy": 1.0}, sweep) == [7.0, 0.5]
    assert objective_values({"final_flops": 7}, sweep) is None


def test_pickle_reopens_study_from_journal(tmp_path):
    searcher = make(tmp_path)
    searcher.suggest("base")  # the dense arm
    for i in range(3):
        searcher.suggest(f"t{i}")
    searcher.on_trial_complete("t0", good(0.9, 900))
    searcher.on_trial_complete("t1", {"final_val_accuracy": float("nan"), "final_flops": 1})
    # t2 stays running

    blob = pickle.dumps(searcher)
    clone = pickle.loads(blob)
    assert clone.study is not searcher.study
    assert clone.pending_baselines == [] and clone.live == {"t2": 2}
    before = [(t.number, t.state, t.values, t.params) for t in searcher.study.trials]
    after = [(t.number, t.state, t.values, t.params) for t in clone.study.trials]
    assert after == before
    assert [t.state for t in clone.study.trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.RUNNING]

    # the clone goes on where the original stopped, in the same journal
    clone.on_trial_complete("t2", good(0.7, 300))
    nxt = clone.suggest("t3")
    assert nxt["arm"] == "search" and nxt["optuna_trial_number"] == 3
    reopened = make(tmp_path)  # a third handle on the journal sees everything
    assert [t.state for t in reopened.study.trials] == [
        TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE, TrialState.RUNNING,
    ]
    assert reopened.study.trials[2].values == [0.7, 300.0]


def test_pickle_before_any_suggestion_keeps_baselines(tmp_path):
    clone = pickle.loads(pickle.dumps(make(tmp_path)))
    assert clone.pending_baselines == ["dense"]
    assert clone.suggest("t0")["arm"] == "baseline"


def test_save_restore_state(tmp_path):
    searcher = make(tmp_path, "sweep.baselines=[dense, dense]")
    searcher.suggest("b0")
    searcher.suggest("b1")
    searcher.suggest("s0")
    path = tmp_path / "searcher.json"
    searcher.save(str(path))
    fresh = make(tmp_path, "sweep.baselines=[dense, dense]")
    assert fresh.pending_baselines == ["dense", "dense"]
    fresh.restore(str(path))
    assert fresh.pending_baselines == [] and fresh.live == {"s0": 0}
    fresh.on_trial_complete("s0", good(0.6, 10))
    assert fresh.study.trials[0].values == [0.6, 10.0]


def test_invalid_sampled_config_fails_the_optuna_trial(tmp_path):
    cfg, sweep = load_configs(DEMO, ["sweep.baselines=[]"])
    bad_space = SearchSpace("earlybird", {"method.prune_ratio": FloatRange(1.0, 2.0)})
    searcher = TicketSearcher(cfg, bad_space, sweep, tmp_path / "j.journal")
    with pytest.raises(ConfigError, match=r"method.prune_ratio.*\(0, 1\)"):
        searcher.suggest("t0")
    assert searcher.study.trials[0].state == TrialState.FAIL
    assert searcher.live == {}


def test_check_space():
    cfg, _ = load_configs(DEMO)
    check_space(cfg, SPACE)  # the registered space fits the demo
    with pytest.raises(ConfigError, match=r"method.prune_ratio.*\(0, 1\)"):
        check_space(cfg, SearchSpace("earlybird", {"method.prune_ratio": FloatRange(0.2, 1.0)}))
    dense = with_overrides(cfg, {"method.name": "dense"})
    with pytest.raises(ConfigError, match="does not match method.name 'dense'"):
        check_space(dense, SPACE)


def test_grid_sampler_walks_the_whole_compare_grid_through_ask_and_tell(tmp_path):
    searcher = make(tmp_path, "sweep.baselines=[]", "sweep.sampler=grid", "sweep.search_space=compare", "sweep.num_trials=12")
    seen = set()
    for i in range(12):
        s = searcher.suggest(f"t{i}")
        method = s["experiment"]["method.name"]
        level = searcher.study.trials[-1].params["target_sparsity"]
        seen.add((method, level))
        searcher.on_trial_complete(f"t{i}", good(0.9, 1000 + i))  # the last tell used to raise in Study.stop
    assert len(seen) == 12  # every (method, level) point exactly once
    assert all(t.state.name == "COMPLETE" for t in searcher.study.trials)
    imp = [t for t in searcher.study.trials if t.params["method.name"] == "imp"]
    assert len(imp) == 3


def test_seeds_run_each_configuration_n_times_and_tell_the_mean_once(tmp_path):
    searcher = make(tmp_path, "sweep.seeds=3", "seed=5")
    arms = [searcher.suggest(f"t{i}") for i in range(6)]
    assert [a["arm"] for a in arms] == ["baseline"] * 3 + ["search"] * 3
    assert [a["experiment"]["seed"] for a in arms] == [5, 6, 7, 5, 6, 7]
    search = arms[3:]
    assert {a["optuna_trial_number"] for a in search} == {0}
    assert len({a["config_hash"] for a in search}) == 3  # three identities ...
    same = [{k: v for k, v in a["experiment"].items() if k != "seed"} for a in search]
    assert same[0] == same[1] == same[2]  # ... of one configuration
    assert len({a["record_file"] for a in arms}) == 6  # each trial has its own record
    searcher.on_trial_complete("t3", good(0.8, 1000))
    searcher.on_trial_complete("t4", good(0.9, 1000))
    assert searcher.study.trials[0].state == TrialState.RUNNING  # one seed still running
    restored = pickle.loads(pickle.dumps(searcher))  # a driver restart in between keeps the partial results
    restored.set_state(searcher.get_state())
    restored.on_trial_complete("t5", good(1.0, 1000))
    told = restored.study.trials[0]
    assert told.state == TrialState.COMPLETE and told.values == pytest.approx([0.9, 1000.0])
    assert len(restored.study.trials) == 1  # one Optuna trial per configuration, not per seed


def test_a_failed_seed_fails_the_configuration(tmp_path):
    searcher = make(tmp_path, "sweep.seeds=2", "sweep.baselines=[]")
    for i in range(2):
        searcher.suggest(f"t{i}")
    searcher.on_trial_complete("t0", good())
    searcher.on_trial_complete("t1", None, error=True)
    assert searcher.study.trials[0].state == TrialState.FAIL
