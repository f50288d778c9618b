"""The robust-ticket pipeline: stages, fixed masks while fine-tuning, restarts that skip finished
stages, the vanilla reference, a loaded source, and clear errors for bad parameters."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch

from lottery.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lottery.errors import ConfigError
from lottery.methods import METHODS
from lottery.methods.robust_ticket import RobustTicketParams
from lottery.session import LocalSession
from lottery.ticket import load_ticket, load_ticket_masks
from lottery.training.loop import evaluate
from lottery.latency import TIMING_METRICS
from crashing_session import Crash, CrashingSession

FAST = dict(epsilon=0.1, attack_steps=2, eval_epsilon=0.1, eval_pgd_steps=2, finetune_epochs=2, sparsity=0.6,
            downstream=("synthetic[0-1]", "synthetic[2-3]"))


def config(**params: Any) -> ExperimentConfig:
    return ExperimentConfig(
        seed=1, data=DataConfig(name="synthetic"), model=ModelConfig(name="vgg_tiny"),
        train=TrainConfig(epochs=2, device="cpu"), method=RobustTicketParams(**{**FAST, **params}),
    )


def run(cfg: ExperimentConfig, session: LocalSession) -> dict[str, Any]:
    return METHODS.get("robust_ticket")().run(cfg, session)


def phases(session: LocalSession) -> Counter:
    return Counter(e["phase"] for e in session.epochs)


class MaskCheckingSession(LocalSession):
    """Checks at every fine-tuning epoch that the drawn ticket's pruned weights are still exactly zero."""

    def __init__(self) -> None:
        super().__init__()
        self.checked = 0

    def report_epoch(self, metrics: dict[str, Any], state: dict[str, Any]) -> None:
        super().report_epoch(metrics, state)
        if "transfer:" in metrics["phase"]:
            ticket = state["progress"]["method_state"]["vanilla_ticket" if metrics["phase"].startswith("vanilla_") else "ticket"]
            assert state["masks"] is not None and set(state["masks"]) == set(ticket["masks"])
            for name, mask in ticket["masks"].items():
                assert torch.equal(state["masks"][name], mask)
                assert (state["model"][name][~mask] == 0).all()
                assert (ticket["state"][name][~mask] == 0).all()
            self.checked += 1


def test_stages_run_in_order_and_masks_stay_fixed_while_fine_tuning() -> None:
    session = MaskCheckingSession()
    final = run(config(), session)
    assert list(phases(session).items()) == [
        ("vanilla_source", 2), ("vanilla_transfer:synthetic[0-1]", 2), ("vanilla_transfer:synthetic[2-3]", 2),
        ("source", 2), ("transfer:synthetic[0-1]", 2), ("transfer:synthetic[2-3]", 2),
    ]
    assert session.checked == 8
    per_target = json.loads(final["transfer_accuracies"])
    assert list(per_target) == ["synthetic[0-1]", "synthetic[2-3]"]
    assert final["transfer_accuracy"] == pytest.approx(sum(per_target.values()) / 2)
    assert per_target["synthetic[2-3]"] == final["test_accuracy"]  # the saved ticket is the last downstream's
    assert final["transfer_gap"] == pytest.approx(final["transfer_accuracy"] - final["vanilla_transfer_accuracy"])
    assert final["weight_sparsity"] == pytest.approx(0.6, abs=0.01)
    assert final["source_robust_accuracy"] <= final["source_clean_accuracy"]
    # PGD-2 training costs 1 + 2 passes per sample: the robust source spends 3x the vanilla one's FLOPs
    flops = {e["phase"]: e["train_flops_cumulative"] for e in session.epochs}
    vanilla_source = flops["vanilla_source"]
    robust_source = flops["source"] - flops["vanilla_transfer:synthetic[2-3]"]
    assert robust_source == pytest.approx(3 * vanilla_source)


def test_epsilon_zero_is_the_vanilla_reference() -> None:
    robust = run(config(), LocalSession())
    vanilla = run(config(epsilon=0.0), s := LocalSession())
    assert not any(p.startswith("vanilla_") for p in phases(s))  # epsilon 0 is its own reference
    for key in ("source_clean_accuracy", "source_robust_accuracy", "ticket_robust_accuracy", "transfer_accuracies"):
        assert vanilla[key] == robust["vanilla_" + key] == vanilla["vanilla_" + key]
    assert vanilla["transfer_gap"] == 0.0


@pytest.mark.parametrize("crash_phase, draw", [("transfer:synthetic[2-3]", "magnitude"), ("transfer:synthetic[0-1]", "imp")])
def test_a_restarted_trial_skips_finished_stages(tmp_path: Path, crash_phase: str, draw: str) -> None:
    cfg = config(draw=draw, imp_rounds=2, draw_epochs=1)
    uninterrupted = LocalSession()
    expected = run(cfg, uninterrupted)
    crash_at = next(i for i, e in enumerate(uninterrupted.epochs, 1) if e["phase"] == crash_phase)
    crashed = CrashingSession(crash_at, checkpoint_dir=tmp_path)
    with pytest.raises(Crash):
        run(cfg, crashed)
    assert crashed.epochs[-1]["phase"] == crash_phase and crashed.epochs[-1]["phase_epoch"] == 1
    resumed = LocalSession(checkpoint_dir=tmp_path)
    final = run(cfg, resumed)
    done_before = set(phases(crashed)) - {crash_phase}
    assert not done_before & set(phases(resumed)), f"re-ran finished stages: {done_before & set(phases(resumed))}"
    assert phases(resumed)[crash_phase] == 1  # only the rest of the interrupted stage
    assert [e["epoch"] for e in resumed.epochs] == [e["epoch"] for e in uninterrupted.epochs[crash_at:]]
    assert {k: v for k, v in final.items() if k not in TIMING_METRICS} == {k: v for k, v in expected.items() if k not in TIMING_METRICS}


def test_imp_draw_rewinds_to_the_source_and_reaches_the_sparsity() -> None:
    session = LocalSession()
    final = run(config(draw="imp", imp_rounds=3, draw_epochs=1, vanilla_reference=False), session)
    assert [p for p in phases(session) if p.startswith("draw")] == ["draw_round1", "draw_round2"]
    rounds = [e for e in session.epochs if e["phase"].startswith("draw")]
    assert [round(e["weight_sparsity"], 2) for e in rounds] == [round(1 - 0.4 ** (1 / 3), 2), round(1 - 0.4 ** (2 / 3), 2)]
    assert final["weight_sparsity"] == pytest.approx(0.6, abs=0.01)
    assert "vanilla_transfer_accuracy" not in final and "transfer_gap" not in final


def test_channel_pattern_shrinks_the_ticket() -> None:
    final = run(config(pattern="channel", sparsity=0.5, vanilla_reference=False), LocalSession())
    assert final["channels_kept"] == pytest.approx(0.5, abs=0.1)
    assert final["flops"] < 0.5 * final["dense_flops"] and final["weight_sparsity"] == 0.0


def test_a_loaded_source_is_not_trained_again(tmp_path: Path) -> None:
    dense_cfg = ExperimentConfig(seed=1, data=DataConfig(name="synthetic"), model=ModelConfig(name="vgg_tiny"),
                                 train=TrainConfig(epochs=2, device="cpu"), method=METHODS.get("dense").Params(name="dense"))
    METHODS.get("dense")().run(dense_cfg, LocalSession(ticket_out=tmp_path / "source"))
    session = LocalSession(ticket_out=tmp_path / "ticket")
    final = run(config(source_checkpoint=str(tmp_path / "source"), vanilla_reference=False), session)
    assert "source" not in phases(session)
    from lottery.data import load_dataset

    source = load_ticket(tmp_path / "source")
    assert final["source_clean_accuracy"] == evaluate(source, load_dataset("synthetic").test, torch.device("cpu"))
    assert load_ticket_masks(tmp_path / "ticket") is not None


def test_a_source_for_other_classes_is_rejected(tmp_path: Path) -> None:
    dense_cfg = ExperimentConfig(seed=1, data=DataConfig(name="synthetic[0-1]"), model=ModelConfig(name="vgg_tiny"),
                                 train=TrainConfig(epochs=1, device="cpu"), method=METHODS.get("dense").Params(name="dense"))
    METHODS.get("dense")().run(dense_cfg, LocalSession(ticket_out=tmp_path / "two"))
    with pytest.raises(ConfigError, match="predicts 2 classes but the source data has 4"):
        run(config(source_checkpoint=str(tmp_path / "two")), LocalSession())


@pytest.mark.parametrize("params, message", [
    ({"attack": "cw"}, "invalid value 'cw' for method.attack; valid: pgd, fgsm"),
    ({"epsilon": -0.1}, "invalid value -0.1 for method.epsilon"),
    ({"draw": "snip"}, "invalid value 'snip' for method.draw; valid: magnitude, imp"),
    ({"draw": "imp", "pattern": "channel"}, "invalid value 'channel' for method.pattern; valid: unstructured with method.draw=imp"),
    ({"pattern": "block"}, "invalid value 'block' for method.pattern; valid: unstructured, channel"),
    ({"sparsity": 1.0}, "invalid value 1.0 for method.sparsity"),
    ({"downstream": ()}, "method.downstream; valid: a non-empty list"),
    ({"downstream": ("digits", "digits")}, "method.downstream; valid: a non-empty list of distinct"),
    ({"downstream": ("mnist",)}, "unknown dataset 'mnist'; valid choices:"),
    ({"downstream": ("digits[0-12]",)}, None),
    ({"source_checkpoint": "/nonexistent/ticket"}, "invalid value '/nonexistent/ticket' for method.source_checkpoint; valid: a saved ticket folder"),
    ({"finetune_epochs": 0}, "invalid value 0 for method.finetune_epochs"),
])
def test_bad_parameters_are_rejected_clearly(params: dict[str, Any], message: str | None) -> None:
    if message is None:  # a class that does not exist fails when the trial loads the data, before training
        with pytest.raises(ConfigError, match="class 10 does not exist"):
            run(config(**params), LocalSession())
        return
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        RobustTicketParams(**params)


def test_a_target_with_other_inputs_fails_before_source_training() -> None:
    session = LocalSession()
    with pytest.raises(ConfigError, match="transfer target 'digits' has 1x8x8 inputs"):
        run(config(downstream=("digits",)), session)
    assert session.epochs == []
