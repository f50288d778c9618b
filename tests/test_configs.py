"""Every preset in configs/ loads and validates (baselines and search space included) and never
downloads data; the issue presets keep the promises their issues make."""
from __future__ import annotations

from pathlib import Path

import pytest

from lottery.errors import ConfigError
from lottery.codec import with_overrides
from orchestrator.config import baseline_overrides, load_configs
from orchestrator.searcher import check_space
from search_spaces import SEARCH_SPACES

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_preset_loads_and_never_downloads(path: Path) -> None:
    cfg, sweep = load_configs(path)
    assert cfg.data.download is False
    for baseline in sweep.baselines:
        arm = with_overrides(cfg, baseline_overrides(baseline))
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
    arms = [with_overrides(cfg, baseline_overrides(b)).method for b in sweep.baselines]
    assert {a.criterion for a in arms} == {"magnitude", "random", "snip", "grasp", "synflow"}
    assert all(a.rho == cfg.method.rho and a.shrink_threshold == cfg.method.shrink_threshold for a in arms)


def test_baseline_with_params() -> None:
    assert baseline_overrides("search_then_prune:criterion=snip, target_sparsity=0.7") == {
        "method.name": "search_then_prune", "method.criterion": "snip", "method.target_sparsity": 0.7}
    assert baseline_overrides("dense") == {"method.name": "dense"}
    with pytest.raises(ConfigError, match="valid form: METHOD or METHOD:key=value"):
        baseline_overrides("search_then_prune:criterion")
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        baseline_overrides("nope:x=1")
