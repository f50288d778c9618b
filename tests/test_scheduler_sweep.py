"""Multi-fidelity: ASHA over the global epoch stops a weak trial, and its row says so (real Ray).

Dense VGG on digits, 3 epochs, max_concurrent 1 so the order is fixed: the dense baseline (lr 0.05)
reaches epoch 1 first, then the grid's two learning rates; lr 1e-7 cannot learn, falls below the
rung's cutoff at epoch 1 (grace period 1) and is stopped there.
"""
from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from orchestrator.config import load_configs
from search_spaces import SEARCH_SPACES, Choice, SearchSpace

pytestmark = pytest.mark.slow

SPACE = "test-lr-fidelity"
BAD_LR = 1e-7
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory):
    from orchestrator.sweep import run_sweep

    SEARCH_SPACES.register(SPACE)(SearchSpace(method="dense", dimensions={"train.lr": Choice((0.05, BAD_LR))}))
    try:
        cfg, sweep = load_configs(REPO / "configs" / "demo.yaml", [
            f"sweep.results_dir={tmp_path_factory.mktemp('asha') / 'results'}", "sweep.name=asha",
            f"sweep.search_space={SPACE}", "sweep.sampler=grid", "sweep.num_trials=2", "sweep.baselines=[dense]",
            "method.name=dense", "model.name=vgg_tiny", "model.width=2", "train.epochs=3", "sweep.max_concurrent=1",
            "sweep.scheduler=asha", "sweep.grace_period=1", "sweep.reduction_factor=2",
        ])
        yield run_sweep(cfg, sweep)
    finally:
        SEARCH_SPACES._items.pop(SPACE)
        SEARCH_SPACES._help.pop(SPACE)


def test_stopped_trial_row_has_its_fidelity_and_optuna_was_told_pruned(summary) -> None:
    trials = pd.read_parquet(summary.paths.trials)
    assert len(trials) == 3 and not summary.interrupted
    bad = trials[trials["train.lr"] == BAD_LR]
    assert bad["status"].item() == "stopped"
    assert bad["stopped_epoch"].item() == 1 and bad["epochs_trained"].item() == 1
    assert bad["error"].item() == "stopped by the asha scheduler at epoch 1"
    assert pd.isna(bad["val_accuracy"].item())  # a half-trained accuracy is not a final one
    assert bad["train_flops_total"].item() > 0  # what it cost before it was stopped
    epochs = pd.read_parquet(summary.paths.epochs)
    assert list(epochs.loc[epochs["trial_id"] == bad["trial_id"].item(), "epoch"]) == [1]
    dense = trials[trials["arm"] == "baseline"]
    assert dense["status"].item() == "completed" and dense["epochs_trained"].item() == 3
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(summary.paths.journal)))
    study = optuna.load_study(study_name="asha", storage=storage)
    states = {t.params["train.lr"]: t.state for t in study.trials}
    assert states[BAD_LR] == TrialState.PRUNED
    assert "stopped early by the scheduler" in summary.front_text
