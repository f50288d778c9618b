"""Budgets, cheap rejection, reuse and extension through real sweeps (local Ray, MLflow, Parquet).

One results folder, three runs on digits with a 304-parameter VGG (1 epoch): sweep `budgeted`
(random pruning at sparsity 0.2 / 0.5 / 0.8 on a grid, 2 of the 3 points, a dense baseline, budget
sparse_flops<=4000: the 0.2 point has 4648 sparse FLOPs before training, 0.5 and 0.8 meet it, dense
does not), then `--extend budgeted` to 3 points, then a new sweep `rerun` of the same configurations
in the same folder with an extra budget nobody meets: everything is reused or rejected, nothing trained.
"""
from __future__ import annotations

import time
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from orchestrator.config import load_configs
from search_spaces import SEARCH_SPACES, Choice, SearchSpace

pytestmark = pytest.mark.slow

SPACE = "test-random-sparsity"
BUDGET = "sparse_flops<=4000"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def space():
    SEARCH_SPACES.register(SPACE)(SearchSpace(method="random", dimensions={"method.sparsity": Choice((0.2, 0.5, 0.8))}))
    yield SPACE
    SEARCH_SPACES._items.pop(SPACE)  # test-only space: leave the registry as found
    SEARCH_SPACES._help.pop(SPACE)


def _configs(results: Path, name: str, budgets: str, trials: int):
    return load_configs(REPO / "configs" / "demo.yaml", [
        f"sweep.results_dir={results}", f"sweep.name={name}", f"sweep.search_space={SPACE}", "sweep.sampler=grid",
        f"sweep.num_trials={trials}", "sweep.baselines=[dense]", "method.name=random", "model.name=vgg_tiny",
        "train.epochs=1", f"sweep.budgets={budgets}", "sweep.max_concurrent=2",
    ])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, space: str):
    from orchestrator.extend import extend_sweep
    from orchestrator.sweep import run_sweep

    results = tmp_path_factory.mktemp("budgets") / "results"
    first = run_sweep(*_configs(results, "budgeted", f"[{BUDGET}]", 2))
    first_rows = pd.read_parquet(first.paths.trials)
    extended = extend_sweep("budgeted", ["sweep.num_trials=3", f"sweep.results_dir={results}"])
    began = time.perf_counter()
    rerun = run_sweep(*_configs(results, "rerun", f"[{BUDGET}, val_accuracy>=1.01]", 3))
    return first, first_rows, extended, rerun, time.perf_counter() - began


def _study(summary) -> optuna.Study:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(summary.paths.journal)))
    return optuna.load_study(study_name=summary.paths.name, storage=storage)


def test_rejected_configuration_trains_nothing_and_front_is_feasible_only(runs) -> None:
    _, _, extended, _, _ = runs
    trials = pd.read_parquet(extended.paths.trials).set_index("method.sparsity", drop=False)
    assert len(trials) == 4  # dense + the three grid points, each once
    rejected = trials[trials["status"] == "rejected"]
    assert list(rejected["method.sparsity"]) == [0.2]
    assert rejected["sparse_flops"].item() == 4648 and rejected["flops"].item() == 5840  # its figures, computed before training
    assert rejected["feasible"].item() is False or rejected["feasible"].item() == False  # noqa: E712
    assert "sparse_flops = 4648 breaks sparse_flops<=4000" in rejected["error"].item()
    epochs = pd.read_parquet(extended.paths.epochs)
    assert rejected["trial_id"].item() not in set(epochs["trial_id"])  # not one epoch trained
    assert not (extended.paths.tickets / rejected["trial_id"].item()).exists()
    trained = trials[trials["status"] == "completed"]
    assert set(trained["trial_id"]) == set(epochs["trial_id"])
    dense = trained[trained["method"] == "dense"]
    assert dense["feasible"].item() == False and dense["sparse_flops"].item() == 5840  # noqa: E712  (run, judged, infeasible)
    searched = trained[trained["method"] == "random"]
    assert set(searched["method.sparsity"]) == {0.5, 0.8} and searched["feasible"].all()
    assert (searched["sparse_flops"] <= 4000).all()
    client = mlflow.MlflowClient(extended.tracking_uri)
    tags = {row.trial_id: client.get_run(row.mlflow_run_id).data.tags.get("tickets.feasible") for row in trials.itertuples()}
    assert tags == {row.trial_id: str(bool(row.feasible)) for row in trials.itertuples()}  # MLflow's twin of the column
    from analysis.pareto import pareto_front

    front = pareto_front(trials.reset_index(drop=True), [("val_accuracy", "max"), ("flops", "min")])
    assert not front.empty and set(front["method"]) == {"random"}  # the dense baseline breaks the budget
    assert "budgets: sparse_flops<=4000" in extended.front_text and "best under budgets" in extended.front_text
    assert "training cost:" in extended.front_text and "1 rejected before training" in extended.front_text


def test_extension_continues_the_same_study(runs) -> None:
    first, first_rows, extended, _, _ = runs
    assert len(first_rows) == 3 and not first.interrupted  # dense + 2 grid points before the extension
    rows = pd.read_parquet(extended.paths.trials)
    assert set(first_rows["trial_id"]) < set(rows["trial_id"])  # earlier rows kept, one row added, none duplicated
    assert not extended.interrupted
    study = _study(extended)
    assert [t.number for t in study.trials] == [0, 1, 2]
    assert sorted(t.params["method.sparsity"] for t in study.trials) == [0.2, 0.5, 0.8]  # the grid walk went on
    states = {t.params["method.sparsity"]: t.state for t in study.trials}
    assert states[0.2] == TrialState.PRUNED and states[0.5] == states[0.8] == TrialState.COMPLETE
    pruned = next(t for t in study.trials if t.params["method.sparsity"] == 0.2)
    assert pruned.constraints[BUDGET] == pytest.approx(648 / 4000)  # told infeasible, by how much
    assert all(t.constraints[BUDGET] <= 0 for t in study.trials if t.state == TrialState.COMPLETE)
    search = rows[rows["arm"] == "search"]
    assert sorted(search["optuna_trial_number"]) == [0, 1, 2]


def test_rerun_trains_nothing_reuses_originals_and_finds_no_feasible_trial(runs) -> None:
    _, _, extended, rerun, seconds = runs
    original = pd.read_parquet(extended.paths.trials).set_index("config_hash")
    rows = pd.read_parquet(rerun.paths.trials)
    assert len(rows) == 4
    assert not (rerun.paths.root / "epochs").exists() or pd.read_parquet(rerun.paths.epochs).empty  # nothing trained
    reused = rows[rows["reused_from"].notna()]
    assert len(reused) == 3 and set(rows.loc[rows["reused_from"].isna(), "status"]) == {"rejected"}
    for row in reused.itertuples():
        first = original.loc[row.config_hash]
        assert row.reused_from == f"budgeted/{first['trial_id']}" and row.origin_run_id == first["mlflow_run_id"]
        assert row.val_accuracy == first["val_accuracy"] and row.ticket_path == first["ticket_path"]
        assert row.feasible == False  # noqa: E712  (val_accuracy>=1.01 is out of reach)
    run = mlflow.MlflowClient(rerun.tracking_uri).get_run(reused["mlflow_run_id"].iloc[0])
    assert run.data.tags["tickets.origin_run_id"] == reused["origin_run_id"].iloc[0]
    assert run.data.tags["tickets.reused_from"].startswith("budgeted/")
    assert run.data.tags["tickets.feasible"] == "False"
    assert "no feasible trial under budgets sparse_flops<=4000, val_accuracy>=1.01" in rerun.front_text
    assert "3 reused" in rerun.front_text and "0 trained" in rerun.front_text
    print(f"re-run with nothing to train: {seconds:.1f} s")
    assert seconds < 90, f"a sweep with nothing to train took {seconds:.0f} s"  # mostly Ray's start-up


def test_a_spent_training_budget_ends_the_sweep_as_finished(tmp_path: Path, space: str) -> None:
    """sweep.max_train_hours: once the trials' training time reaches it, no new configuration is
    proposed; the sweep ends finished (not interrupted), `tickets resume` has nothing to do, and
    `--extend` is refused with the way forward."""
    from lottery.errors import ConfigError
    from orchestrator.extend import extend_sweep
    from orchestrator.sweep import resume_sweep, run_sweep

    results = tmp_path / "results"
    cfg, sweep = load_configs(REPO / "configs" / "demo.yaml", [
        f"sweep.results_dir={results}", "sweep.name=capped", f"sweep.search_space={SPACE}", "sweep.sampler=grid",
        "sweep.num_trials=3", "sweep.baselines=[dense]", "method.name=random", "model.name=vgg_tiny", "train.epochs=1",
        "sweep.max_concurrent=1", "sweep.max_train_hours=1e-9",  # spent by the first trial's training
    ])
    summary = run_sweep(cfg, sweep)
    assert len(summary.trials) == 1 and summary.trials["method"].tolist() == ["dense"]  # 1 of 4 planned
    assert summary.trials["wall_time_s"].iloc[0] > 0
    assert not summary.interrupted
    assert "search budget spent:" in summary.front_text and "1 of 4 trials run" in summary.front_text
    assert resume_sweep("capped", results).already_finished
    with pytest.raises(ConfigError, match="ended at its training budget"):
        extend_sweep("capped", ["sweep.num_trials=4", f"sweep.results_dir={results}"])
    client = mlflow.MlflowClient(summary.tracking_uri)
    assert client.get_run(summary.parent_run_id).info.status == "FINISHED"  # not KILLED: it ended by design
