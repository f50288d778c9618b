"""Early-Bird and dense methods end to end on the synthetic dataset with vgg_tiny (CPU, seconds)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from lottery.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lottery.measure import count_flops, count_params
from lottery.methods import METHODS
from lottery.methods.dense import DenseParams
from lottery.methods.earlybird import EarlyBirdParams
from lottery.models import create_model
from lottery.session import CHECKPOINT_FILE, LocalSession
from lottery.ticket import load_ticket
from lottery.latency import TIMING_METRICS
from crashing_session import Crash, CrashingSession

EPOCHS = 6
N_TRAIN = 256  # synthetic train split
SHAPE = (3, 8, 8)
DENSE_FLOPS = 83072  # vgg_tiny on 3x8x8, 4 classes (see test_channel_surgery)
TIMING_KEYS = TIMING_METRICS  # measured: wall time and latency


def cfg(seed: int = 0, epochs: int = EPOCHS, **method: Any) -> ExperimentConfig:
    params = DenseParams() if method.pop("dense", False) else EarlyBirdParams(**{"eb_epsilon": 1.0, **method})
    return ExperimentConfig(
        seed=seed,
        data=DataConfig(name="synthetic", batch_size=64),
        model=ModelConfig(name="vgg_tiny"),
        train=TrainConfig(epochs=epochs, device="cpu", threads=1),
        method=params,
    )


def run(config: ExperimentConfig, session: LocalSession | None = None) -> tuple[LocalSession, dict[str, Any]]:
    session = session or LocalSession()
    final = METHODS.get(config.method.name)().run(config, session)
    return session, final


def without_timing(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k not in TIMING_KEYS}


@pytest.fixture(scope="module")
def eb_run(tmp_path_factory) -> tuple[LocalSession, dict[str, Any], Path]:
    ticket = tmp_path_factory.mktemp("eb") / "ticket"
    session, final = run(cfg(), LocalSession(ticket_out=ticket))
    return session, final, ticket


def test_epochs_phases_and_detection(eb_run) -> None:
    session, final, _ = eb_run
    epochs = session.epochs
    # eps = 1.0 fires as soon as the queue holds 5 masks; the init mask is one, so after 4 epochs
    assert final["eb_detected"] is True
    assert final["eb_epoch"] == final["search_epochs"] == 5 - 1
    assert [e["epoch"] for e in epochs] == list(range(1, 4 + EPOCHS + 1))
    assert [e["phase"] for e in epochs] == ["search"] * 4 + ["retrain"] * EPOCHS
    assert [e["phase_epoch"] for e in epochs] == [1, 2, 3, 4, 1, 2, 3, 4, 5, 6]
    assert [e["eb_drawn"] for e in epochs[:4]] == [False, False, False, True]
    assert all(0.0 <= e["mask_distance"] <= 1.0 for e in epochs[:4])
    assert "mask_distance" not in epochs[4]
    assert final["epochs_trained"] == 10
    assert session.final == final


def test_lr_schedule_restarts_per_phase(eb_run) -> None:
    session, _, _ = eb_run
    lrs = [e["lr"] for e in session.epochs]
    # both phases use the phase length train.epochs=6 for milestones 0.5/0.75 (epochs 3 and 4)
    assert lrs[:4] == pytest.approx([0.1, 0.1, 0.1, 0.01])
    assert lrs[4:] == pytest.approx([0.1, 0.1, 0.1, 0.01, 0.001, 0.001])


def test_final_flops_params_and_ratio(eb_run) -> None:
    session, final, ticket_dir = eb_run
    ticket = load_ticket(ticket_dir)
    spec = ticket.channel_spec()
    assert len(spec) == 3 and all(c >= 1 for c in spec)
    assert final["dense_flops"] == DENSE_FLOPS
    assert final["dense_params"] == 3820
    assert final["flops"] == count_flops(ticket, SHAPE)
    assert final["params"] == count_params(ticket)
    assert final["flops"] < final["dense_flops"]
    assert final["params"] < final["dense_params"]
    assert final["flops_ratio"] == final["flops"] / final["dense_flops"]
    assert final["channels_kept"] == sum(spec) / 40
    # per-epoch reports: search runs the dense net, retrain the ticket
    assert {e["flops"] for e in session.epochs[:4]} == {DENSE_FLOPS}
    assert {e["flops"] for e in session.epochs[4:]} == {final["flops"]}
    assert {e["params"] for e in session.epochs[4:]} == {final["params"]}
    # the ticket is exactly the architecture its spec rebuilds to
    rebuilt = create_model("vgg_tiny", in_channels=3, num_classes=4, input_size=8, channels=spec)
    assert count_flops(rebuilt, SHAPE) == final["flops"]


def test_final_accuracy_is_last_epochs(eb_run) -> None:
    session, final, _ = eb_run
    last = session.epochs[-1]
    assert final["val_accuracy"] == last["val_accuracy"]
    assert final["test_accuracy"] == last["test_accuracy"]
    assert 0.0 <= final["ticket_val_accuracy_before_retrain"] <= 1.0


def test_train_flops_total_is_sum_over_phases(eb_run) -> None:
    session, final, _ = eb_run
    expected = 3 * N_TRAIN * (4 * final["dense_flops"] + EPOCHS * final["flops"])
    assert final["train_flops_total"] == expected
    assert final["train_flops_total"] == sum(3 * e["flops"] * N_TRAIN for e in session.epochs)
    cumulative = [e["train_flops_cumulative"] for e in session.epochs]
    assert cumulative[-1] == expected
    assert cumulative[3] == 3 * N_TRAIN * 4 * DENSE_FLOPS
    assert all(b > a for a, b in zip(cumulative, cumulative[1:]))


def test_same_seed_is_deterministic(eb_run) -> None:
    first_session, first, _ = eb_run
    session, final = run(cfg())
    assert without_timing(final) == without_timing(first)
    assert [without_timing(e) for e in session.epochs] == [without_timing(e) for e in first_session.epochs]


def test_queue_size_sets_detection_epoch() -> None:
    session, final = run(cfg(eb_queue=3, retrain_epochs=2))
    assert final["eb_epoch"] == final["search_epochs"] == 2
    assert [e["phase"] for e in session.epochs] == ["search"] * 2 + ["retrain"] * 2
    assert final["epochs_trained"] == 4


def test_no_detection_searches_max_epochs_then_draws() -> None:
    # a queue of 10 masks cannot fill in 3 search epochs (+ the init mask), so no early bird
    session, final = run(cfg(eb_queue=10, max_search_epochs=3, retrain_epochs=2))
    assert final["eb_detected"] is False
    assert final["eb_epoch"] == -1
    assert final["search_epochs"] == 3
    assert [e["phase"] for e in session.epochs] == ["search"] * 3 + ["retrain"] * 2
    assert not any(e["eb_drawn"] for e in session.epochs[:3])
    assert final["flops"] < final["dense_flops"]  # the ticket is still drawn at the end of the search
    assert final["train_flops_total"] == 3 * N_TRAIN * (3 * DENSE_FLOPS + 2 * final["flops"])




def test_eb_masks_table_has_every_search_mask_and_matches_the_detector(eb_run) -> None:
    from analysis.methods.earlybird import distance_matrix

    session, final, _ = eb_run
    rows = final["eb_masks"]
    assert [r["epoch"] for r in rows] == [0, 1, 2, 3, 4]  # the init mask and one per search epoch
    assert len({len(r["mask"]) for r in rows}) == 1 and set("".join(r["mask"] for r in rows)) <= {"0", "1"}
    matrix = distance_matrix([r["mask"] for r in rows])
    # the detector's distance after epoch e is the max over the queue (the 5 masks up to e) of the pairwise distance
    for e in range(1, 5):
        assert session.epochs[e - 1]["mask_distance"] == pytest.approx(matrix[e, max(0, e - 4):e + 1].max())


# 2: mid-search; 4: right after the draw (stopped search state); 6: mid-retrain; 10: after the last epoch
@pytest.mark.parametrize("k", [2, 4, 6, 10])
def test_resume_after_crash(eb_run, tmp_path: Path, k: int) -> None:
    _, uninterrupted, _ = eb_run
    crashing = CrashingSession(k, checkpoint_dir=tmp_path)
    with pytest.raises(Crash):
        run(cfg(), crashing)
    assert [e["epoch"] for e in crashing.epochs] == list(range(1, k + 1))
    assert crashing.final is None
    assert (tmp_path / CHECKPOINT_FILE).exists()

    resumed, final = run(cfg(), LocalSession(checkpoint_dir=tmp_path))
    assert [e["epoch"] for e in resumed.epochs] == list(range(k + 1, 11))
    if k < 10:
        assert resumed.epochs[0]["epoch"] == k + 1
    assert resumed.final == final
    assert final["epochs_trained"] == 10
    # the checkpoint carries model, optimizer, detector, counters and data order: same trial as without the crash
    assert without_timing(final) == without_timing(uninterrupted)


def test_retrain_init_reinit_vs_continue(eb_run, tmp_path: Path) -> None:
    cont_session, cont_final, cont_dir = eb_run
    reinit_session, reinit_final = run(cfg(retrain_init="reinit"), LocalSession(ticket_out=tmp_path / "t"))
    cont, reinit = load_ticket(cont_dir), load_ticket(tmp_path / "t")
    # the search is identical, so the same ticket architecture is drawn
    assert reinit.channel_spec() == cont.channel_spec()
    assert reinit_final["flops"] == cont_final["flops"]
    assert reinit_final["ticket_val_accuracy_before_retrain"] == cont_final["ticket_val_accuracy_before_retrain"]
    assert [without_timing(e) for e in reinit_session.epochs[:4]] == [
        without_timing(e) for e in cont_session.epochs[:4]
    ]
    # but the retrain starts from other weights
    assert reinit_session.epochs[4]["train_loss"] != cont_session.epochs[4]["train_loss"]
    cont_state, reinit_state = cont.state_dict(), reinit.state_dict()
    assert cont_state.keys() == reinit_state.keys()
    assert all(cont_state[k].shape == reinit_state[k].shape for k in cont_state)
    assert not torch.allclose(cont_state["features.0.weight"], reinit_state["features.0.weight"])


def test_dense_method() -> None:
    session, final = run(cfg(dense=True))
    assert [e["epoch"] for e in session.epochs] == list(range(1, EPOCHS + 1))
    assert {e["phase"] for e in session.epochs} == {"train"}
    assert final["flops_ratio"] == 1.0
    assert final["flops"] == final["dense_flops"] == DENSE_FLOPS
    assert final["params"] == final["dense_params"] == 3820
    assert final["epochs_trained"] == EPOCHS
    assert final["train_flops_total"] == 3 * N_TRAIN * EPOCHS * DENSE_FLOPS
    assert final["val_accuracy"] == session.epochs[-1]["val_accuracy"]
