"""Every preset in configs/ loads, validates, and its search space fits its method's parameters."""
from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import load_configs
from orchestrator.searcher import check_space
from search_spaces import SEARCH_SPACES

PRESETS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def test_the_robust_presets_exist() -> None:
    names = {p.name for p in PRESETS}
    assert {"robust-digits.yaml", "robust-cifar10.yaml", "robust-imagefolder.yaml"} <= names


@pytest.mark.parametrize("preset", PRESETS, ids=[p.stem for p in PRESETS])
def test_preset_loads_and_its_space_fits(preset: Path) -> None:
    cfg, sweep = load_configs(preset)
    space = SEARCH_SPACES.get(sweep.search_space)
    assert cfg.method.name in space.methods() or sweep.search_space == "compare"
    check_space(cfg, space)  # every bound of every dimension builds a valid config


def test_robust_digits_preset_is_offline_and_compares_to_vanilla() -> None:
    cfg, sweep = load_configs(Path(__file__).parents[2] / "configs" / "robust-digits.yaml")
    assert cfg.data.name == "digits[0-4]" and cfg.method.downstream == ("digits[5-9]", "digits_invert[5-9]")
    assert cfg.method.vanilla_reference and sweep.sampler == "grid" and sweep.num_trials == 24
    assert ("transfer_val_accuracy", "max") in sweep.objective_pairs()
