"""A trial whose loss or weights stop being finite ends at that epoch with TrialDiverged."""
from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from lottery.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lottery.methods import METHODS
from lottery.session import LocalSession
from lottery.training.divergence import TrialDiverged, non_finite


class PoisoningSession(LocalSession):
    """After its `after`-th epoch report, writes NaN into the live model (the reported state_dict
    shares the parameters' storage), as an exploding update would."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def report_epoch(self, metrics: dict[str, Any], state: dict[str, Any]) -> None:
        super().report_epoch(metrics, state)
        if len(self.epochs) == self.after:
            weights = next(v for k, v in state["model"].items() if k.endswith("weight"))
            weights.fill_(float("nan"))


def _cfg(**train: Any) -> ExperimentConfig:
    return ExperimentConfig(
        data=DataConfig(name="digits", batch_size=128),
        model=ModelConfig(name="vgg_tiny"),
        train=TrainConfig(**{"epochs": 4, "lr": 0.05, "device": "cpu", **train}),
        method=METHODS.get("dense").Params(name="dense"),
    )


def test_nan_weights_stop_the_trial_at_that_epoch_and_earlier_epochs_stay_reported() -> None:
    session = PoisoningSession(after=2)
    with pytest.raises(TrialDiverged) as caught:
        METHODS.get("dense")().run(_cfg(), session)
    assert [m["epoch"] for m in session.epochs] == [1, 2]  # the epochs before are reported
    assert all(math.isfinite(m["train_loss"]) for m in session.epochs)
    assert caught.value.epoch == 3 and str(caught.value).startswith("diverged at epoch 3 (")
    assert caught.value.metrics["epoch"] == 3 and math.isnan(caught.value.metrics["train_loss"])
    assert session.final is None  # no final report, no ticket


def test_huge_learning_rate_diverges_in_the_first_epoch() -> None:
    session = LocalSession()
    with pytest.raises(TrialDiverged, match=r"^diverged at epoch 1 \("):
        METHODS.get("dense")().run(_cfg(lr=1e4), session)
    assert session.epochs == []


def test_non_finite_names_the_problem() -> None:
    model = torch.nn.Linear(2, 2)
    assert non_finite(0.5, model) is None
    assert non_finite(float("inf"), model) == "train_loss=inf"
    with torch.no_grad():
        model.bias[0] = float("inf")
    assert non_finite(0.5, model) == "non-finite values in bias"
