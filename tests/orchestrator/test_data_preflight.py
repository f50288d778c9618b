"""The driver's checks before a sweep: they load no data, seed nothing and leave torch's settings alone."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import lottery.data
import lottery.methods.base
from lottery.errors import DatasetNotFoundError
from lottery.methods.base import check_data_available
from orchestrator.config import load_configs
from orchestrator.sweep import validate_sweep

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


def _no_loading(*args: object, **kwargs: object) -> None:
    raise AssertionError("the pre-flight check loaded the dataset")


def test_validate_sweep_loads_nothing_seeds_nothing_and_keeps_threads(monkeypatch) -> None:
    cfg, sweep = load_configs(DEMO, ["train.threads=1"])
    monkeypatch.setattr(lottery.data, "load_dataset", _no_loading)
    monkeypatch.setattr(lottery.methods.base, "load_dataset", _no_loading)
    torch.manual_seed(12345)
    torch.set_num_threads(2)
    rng = torch.get_rng_state()
    validate_sweep(cfg, sweep)
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("name, options, fragment", [
    ("cifar10", {}, "cifar-10-batches-py"),
    ("cifar100[0-4]", {}, "cifar-100-python"),
    ("imagefolder", {"path": "nowhere"}, "no 'train' folder"),
])
def test_missing_data_is_named_without_loading(tmp_path: Path, monkeypatch, name: str, options: dict, fragment: str) -> None:
    cfg, _ = load_configs(DEMO, [f"data.name={name}", f"data.data_root={tmp_path}",
                                 *(f"data.{k}={tmp_path / v}" for k, v in options.items())])
    monkeypatch.setattr(lottery.methods.base, "load_dataset", _no_loading)
    with pytest.raises(DatasetNotFoundError, match=fragment):
        check_data_available(cfg.data)


def test_present_cifar_folder_passes(tmp_path: Path) -> None:
    (tmp_path / "cifar-10-batches-py").mkdir()
    cfg, _ = load_configs(DEMO, ["data.name=cifar10", f"data.data_root={tmp_path}"])
    check_data_available(cfg.data)
