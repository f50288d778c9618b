"""Every preset in configs/ loads and validates (baselines and search space included) and never
downloads data; the issue presets keep the promises their issues make."""
from __future__ import annotations

from pathlib import Path

import pytest

from lottery.errors import ConfigError
from lottery.codec import arm_config
from orchestrator.config import baseline_overrides, load_configs
from orchestrator.searcher import check_space
from search_spaces import SEARCH_SPACES

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_preset_loads_and_never_downloads(path: Path) -> None:
    cfg, sweep = load_configs(path)
    assert cfg.data.download is False
    for baseline in sweep.baselines:
        arm = arm_config(cfg, baseline_overrides(baseline))
        assert arm.method.name == baseline.partition(":")[0]
    space = SEARCH_SPACES.get(sweep.search_space)
    assert cfg.method.name in space.methods() or sweep.search_space == "compare"
    check_space(cfg, space)  # every bound of every dimension builds a valid config


def test_the_issue_presets_exist() -> None:
    names = {p.name for p in CONFIGS}
    assert {"robust-digits.yaml", "robust-cifar10.yaml", "robust-imagefolder.yaml",
            "supertickets-digits.yaml", "supertickets-cifar10.yaml"} <= names


def test_robust_digits_preset_is_offline_and_compares_to_vanilla() -> None:
    cfg, sweep = load_configs(Path(__file__).parents[1] / "configs" / "robust-digits.yaml")
    assert cfg.data.name == "digits[0-4]" and cfg.method.downstream == ("digits[5-9]", "digits_invert[5-9]")
    assert cfg.method.vanilla_reference and sweep.sampler == "grid" and sweep.num_trials == 24
    assert ("transfer_val_accuracy", "max") in sweep.objective_pairs()


def test_supertickets_preset_has_a_search_then_prune_arm_per_criterion() -> None:
    cfg, sweep = load_configs(Path(__file__).parents[1] / "configs" / "supertickets-digits.yaml")
    assert cfg.method.name == "supertickets" and sweep.num_trials >= 8
    arms = [arm_config(cfg, baseline_overrides(b)).method for b in sweep.baselines]
    assert {a.criterion for a in arms} == {"magnitude", "random", "snip", "grasp", "synflow"}
    # every arm inherits the preset's shared settings, the transfer target included
    shared = ("rho", "shrink_threshold", "rho_warmup_epochs", "retrain_epochs", "transfer_dataset", "transfer_epochs")
    for arm in arms:
        assert all(getattr(arm, k) == getattr(cfg.method, k) for k in shared), arm
    assert cfg.method.transfer_dataset == "digits[5-9]"


def test_arm_inherits_what_its_method_declares_and_overrides_win() -> None:
    cfg, _ = load_configs(Path(__file__).parents[1] / "configs" / "supertickets-digits.yaml",
                          ["method.rho=0.05", "data.batch_size=32"])
    arm = arm_config(cfg, baseline_overrides("search_then_prune:criterion=snip,target_sparsity=0.9"))
    assert arm.method.name == "search_then_prune" and arm.method.criterion == "snip"
    assert arm.method.target_sparsity == 0.9 and arm.method.rho == 0.05  # override wins, the rest is inherited
    assert arm.data == cfg.data and arm.train == cfg.train and arm.seed == cfg.seed
    dense = arm_config(cfg, baseline_overrides("dense"))  # parameters dense does not declare are dropped
    assert dense.method.name == "dense" and dense.data == cfg.data


def test_baseline_with_params() -> None:
    assert baseline_overrides("search_then_prune:criterion=snip, target_sparsity=0.7") == {
        "method.name": "search_then_prune", "method.criterion": "snip", "method.target_sparsity": 0.7}
    assert baseline_overrides("dense") == {"method.name": "dense"}
    with pytest.raises(ConfigError, match="valid form: METHOD or METHOD:key=value"):
        baseline_overrides("search_then_prune:criterion")
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        baseline_overrides("nope:x=1")
