"""Random pruning, one-shot magnitude pruning and IMP end to end on synthetic data (CPU, seconds)."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from lottery.config import DataConfig, ExperimentConfig, MethodParams, ModelConfig, TrainConfig
from lottery.errors import ConfigError
from lottery.measure import count_flops
from lottery.methods import METHODS
from lottery.methods import imp as imp_module
from lottery.methods import magnitude as magnitude_module
from lottery.methods.base import load_data, seed_everything
from lottery.methods.common import build_model
from lottery.methods.imp import ImpParams, RewindRecorder, rewind_
from lottery.methods.magnitude import MagnitudeParams
from lottery.pruning.weight_mask import imp_masks
from lottery.training.checkpoint import clone_state
from lottery.methods.random_pruning import RandomParams
from lottery.models import create_model
from lottery.pruning.channel_scores import bn_producers, filter_norm_scores, layerwise_channel_mask
from lottery.session import LocalSession
from lottery.ticket import load_ticket, load_ticket_masks
from lottery.training.loop import evaluate, make_optimizer, train_one_epoch
from lottery.training.checkpoint import TrialProgress
from lottery.data import DataBundle
from lottery.latency import TIMING_METRICS

SHAPE = (3, 8, 8)
BATCHES = 4  # synthetic: 256 train samples / batch 64
VGG_LAYERS = {"features.0.weight": 216, "features.4.weight": 1152, "features.8.weight": 2304}
VGG_PRUNABLE = sum(VGG_LAYERS.values())  # 3672
VGG_DENSE_FLOPS = 83072
RESNET_DENSE_FLOPS = 108160
TIMING_KEYS = TIMING_METRICS  # measured: wall time and latency


def prepare(config: ExperimentConfig) -> tuple[DataBundle, torch.device]:
    """The seeded data split a trial of `config` starts from (what TicketMethod.run does first)."""
    seed_everything(config.seed)
    return load_data(config.data, config.seed), torch.device("cpu")


def cfg(params: MethodParams, epochs: int = 2, model: str = "vgg_tiny", seed: int = 0) -> ExperimentConfig:
    return ExperimentConfig(
        seed=seed,
        data=DataConfig(name="synthetic", batch_size=64),
        model=ModelConfig(name=model),
        train=TrainConfig(epochs=epochs, device="cpu", threads=1),
        method=params,
    )


class Crash(RuntimeError):
    pass


class RecordingSession(LocalSession):
    """Keeps a copy of every checkpointed model state and mask; optionally dies after the k-th report."""

    def __init__(self, crash_after: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.crash_after = crash_after
        self.states: list[dict[str, torch.Tensor]] = []
        self.masks: list[dict[str, torch.Tensor] | None] = []
        self.method_states: list[dict[str, Any]] = []

    def report_epoch(self, metrics: dict[str, Any], state: dict[str, Any]) -> None:
        super().report_epoch(metrics, state)
        self.states.append({k: v.clone() for k, v in state["model"].items()})
        self.masks.append(None if state["masks"] is None else {k: v.clone() for k, v in state["masks"].items()})
        self.method_states.append(copy.deepcopy({k: v for k, v in state["progress"]["method_state"].items() if k != "rewind_state"}))
        if len(self.epochs) == self.crash_after:
            raise Crash(f"killed after epoch {metrics['epoch']}")


def run(config: ExperimentConfig, session: LocalSession | None = None) -> tuple[Any, dict[str, Any]]:
    session = session or RecordingSession()
    return session, METHODS.get(config.method.name)().run(config, session)


def without_timing(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k not in TIMING_KEYS}


def assert_masked_zero(ticket: torch.nn.Module, masks: dict[str, torch.Tensor]) -> None:
    params = dict(ticket.named_parameters())
    for name, mask in masks.items():
        assert torch.count_nonzero(params[name].detach()[~mask]) == 0, name
        assert torch.count_nonzero(params[name].detach()[mask]) == int(mask.sum())  # survivors trained, not zero


# ----------------------------------------------------------------------------- random


def test_random_unstructured_is_layerwise_and_stays_pruned(tmp_path: Path) -> None:
    session, final = run(cfg(RandomParams(sparsity=0.7), epochs=3), RecordingSession(ticket_out=tmp_path / "t"))
    masks = load_ticket_masks(tmp_path / "t")
    assert masks is not None and set(masks) == set(VGG_LAYERS)  # the classifier is skipped by default
    kept = {k: int(m.sum()) for k, m in masks.items()}
    assert kept == {"features.0.weight": 65, "features.4.weight": 346, "features.8.weight": 691}  # round(0.3 n)
    for name, n in VGG_LAYERS.items():
        assert abs((n - kept[name]) - 0.7 * n) <= 1
    assert final["weight_sparsity"] == pytest.approx(1 - 1102 / VGG_PRUNABLE)
    assert [e["phase"] for e in session.epochs] == ["train"] * 3
    assert {e["weight_sparsity"] for e in session.epochs} == {final["weight_sparsity"]}
    assert all(torch.equal(m[k], masks[k]) for m in session.masks for k in masks)  # fixed mask
    assert final["flops"] == final["dense_flops"] == VGG_DENSE_FLOPS
    assert final["sparse_flops"] < VGG_DENSE_FLOPS
    assert final["target_sparsity"] == 0.7
    ticket = load_ticket(tmp_path / "t")
    assert_masked_zero(ticket, masks)
    assert final["nonzero_params"] == session.epochs[-1]["nonzero_params"] == 3820 - (VGG_PRUNABLE - 1102)


def test_random_mask_is_seeded_and_run_deterministic() -> None:
    s0, f0 = run(cfg(RandomParams(sparsity=0.5), epochs=1))
    s0b, f0b = run(cfg(RandomParams(sparsity=0.5), epochs=1))
    s1, _ = run(cfg(RandomParams(sparsity=0.5), epochs=1, seed=1))
    assert without_timing(f0) == without_timing(f0b)
    assert all(torch.equal(s0.states[-1][k], s0b.states[-1][k]) for k in s0.states[-1])
    assert all(torch.equal(s0.masks[0][k], s0b.masks[0][k]) for k in VGG_LAYERS)
    assert not torch.equal(s0.masks[0]["features.8.weight"], s1.masks[0]["features.8.weight"])


def test_random_skip_flags_choose_layers() -> None:
    session, _ = run(cfg(RandomParams(sparsity=0.5, skip_first_conv=True, skip_classifier=False), epochs=1))
    masks = session.masks[0]
    assert set(masks) == {"features.4.weight", "features.8.weight", "classifier.weight"}
    assert int(masks["classifier.weight"].sum()) == 32  # 4 x 16 at 50 %


@pytest.mark.parametrize(
    "model, dense_widths, widths, dense_flops",
    [("vgg_tiny", [8, 16, 16], [4, 8, 8], VGG_DENSE_FLOPS), ("resnet_tiny", [4, 8, 16], [2, 4, 8], RESNET_DENSE_FLOPS)],
)
def test_random_channel_is_physically_smaller(tmp_path: Path, model: str, dense_widths: list[int], widths: list[int], dense_flops: int) -> None:
    session, final = run(cfg(RandomParams(sparsity=0.5, pattern="channel"), model=model), RecordingSession(ticket_out=tmp_path / "t"))
    ticket = load_ticket(tmp_path / "t")
    assert ticket.channel_spec() == widths
    assert final["dense_flops"] == dense_flops
    assert final["flops"] == count_flops(ticket, SHAPE) < dense_flops
    assert final["params"] < final["dense_params"]
    assert final["weight_sparsity"] == 0.0 and load_ticket_masks(tmp_path / "t") is None
    assert final["channels_kept"] == sum(widths) / sum(dense_widths)
    assert {e["flops"] for e in session.epochs} == {final["flops"]}


def test_random_channel_keeps_at_least_one_and_first_conv_when_asked() -> None:
    session, final = run(cfg(RandomParams(sparsity=0.95, pattern="channel", skip_first_conv=True), epochs=1))
    # 8 channels of the first conv kept whole; round(0.05 * 16) = 1 elsewhere
    assert session.states[-1]["features.1.weight"].numel() == 8
    assert session.states[-1]["features.5.weight"].numel() == 1
    assert final["channels_kept"] == 10 / 40


@pytest.mark.parametrize("pattern, k", [("unstructured", 1), ("channel", 2)])
def test_random_resume(tmp_path: Path, pattern: str, k: int) -> None:
    params = RandomParams(sparsity=0.6, pattern=pattern)
    _, uninterrupted = run(cfg(params, epochs=3))
    with pytest.raises(Crash):
        run(cfg(params, epochs=3), RecordingSession(crash_after=k, checkpoint_dir=tmp_path))
    resumed, final = run(cfg(params, epochs=3), RecordingSession(checkpoint_dir=tmp_path))
    assert [e["epoch"] for e in resumed.epochs] == list(range(k + 1, 4))
    assert without_timing(final) == without_timing(uninterrupted)


# ----------------------------------------------------------------------------- magnitude


def test_magnitude_global_keeps_largest_weights(tmp_path: Path) -> None:
    session, final = run(cfg(MagnitudeParams(sparsity=0.8)), RecordingSession(ticket_out=tmp_path / "t"))
    assert [e["phase"] for e in session.epochs] == ["train", "train", "retrain", "retrain"]
    trained = session.states[1]  # the dense weights at prune time
    masks = load_ticket_masks(tmp_path / "t")
    assert masks is not None and set(masks) == set(VGG_LAYERS)
    assert sum(int(m.sum()) for m in masks.values()) == round(0.2 * VGG_PRUNABLE) == 734  # exact global count
    assert final["weight_sparsity"] == pytest.approx(1 - 734 / VGG_PRUNABLE)
    kept = torch.cat([trained[k].abs().flatten()[masks[k].flatten()] for k in masks])
    pruned = torch.cat([trained[k].abs().flatten()[~masks[k].flatten()] for k in masks])
    assert kept.min() >= pruned.max()
    # global, not layer-wise: the layers end at different sparsities
    assert len({round(1 - float(m.float().mean()), 3) for m in masks.values()}) > 1
    assert_masked_zero(load_ticket(tmp_path / "t"), masks)
    assert session.epochs[0].get("weight_sparsity") is None
    assert session.epochs[2]["weight_sparsity"] == final["weight_sparsity"]
    assert final["epochs_trained"] == 4
    # the accuracy before retraining is that of the trained weights with the mask applied
    config = cfg(MagnitudeParams(sparsity=0.8))
    data, device = prepare(config)
    pruned = build_model(config, data)
    pruned.load_state_dict({k: v.masked_fill(~masks[k], 0) if k in masks else v for k, v in trained.items()})
    assert final["ticket_val_accuracy_before_retrain"] == evaluate(pruned, data.val, device)


def test_magnitude_rewind_init_restarts_survivors_from_init(monkeypatch) -> None:
    entries: dict[str, dict[str, torch.Tensor]] = {}
    real = magnitude_module.run_phase

    def spy(**kw: Any):
        entries[kw["phase"]] = clone_state(kw["model"])
        return real(**kw)

    monkeypatch.setattr(magnitude_module, "run_phase", spy)
    config = cfg(MagnitudeParams(sparsity=0.5, rewind="init", retrain_epochs=1))
    session, final = run(config)
    data, _ = prepare(config)
    init = clone_state(build_model(config, data))
    assert all(torch.equal(entries["train"][k], init[k]) for k in init)
    assert all(torch.equal(entries["retrain"][k], init[k]) for k in init)  # whole state rewound
    assert [e["phase"] for e in session.epochs] == ["train", "train", "retrain"]
    # fine-tuning instead starts the retrain from the trained weights
    entries.clear()
    fine_session, _ = run(cfg(MagnitudeParams(sparsity=0.5, rewind="none", retrain_epochs=1)))
    assert all(torch.equal(entries["retrain"][k], fine_session.states[1][k].masked_fill(~fine_session.masks[2][k], 0))
               for k in VGG_LAYERS)


@pytest.mark.parametrize("model, widths", [("vgg_tiny", [4, 8, 8]), ("resnet_tiny", [2, 4, 8])])
def test_magnitude_channel_prunes_smallest_filters(tmp_path: Path, monkeypatch, model: str, widths: list[int]) -> None:
    seen: list[list[torch.Tensor]] = []
    entries: dict[str, dict[str, torch.Tensor]] = {}
    real_ticket, real_phase = magnitude_module.channel_ticket, magnitude_module.run_phase

    def spy(m, scores, *args):
        seen.append(scores)
        return real_ticket(m, scores, *args)

    def phase_spy(**kw: Any):
        entries[kw["phase"]] = clone_state(kw["model"])
        return real_phase(**kw)

    monkeypatch.setattr(magnitude_module, "channel_ticket", spy)
    monkeypatch.setattr(magnitude_module, "run_phase", phase_spy)
    session, final = run(cfg(MagnitudeParams(sparsity=0.5, pattern="channel"), model=model), RecordingSession(ticket_out=tmp_path / "t"))
    ticket = load_ticket(tmp_path / "t")
    assert ticket.channel_spec() == widths
    assert final["flops"] == count_flops(ticket, SHAPE) < final["dense_flops"]
    assert final["flops_ratio"] < 1.0
    # the scores were the L2 norms of the trained producing filters
    dense = create_model(model, in_channels=3, num_classes=4, input_size=8)
    dense.load_state_dict(session.states[1])
    expected = filter_norm_scores(dense, SHAPE)
    assert all(torch.equal(a, b) for a, b in zip(seen[0], expected))
    masks = layerwise_channel_mask(expected, 0.5)
    for scores, mask in zip(expected, masks):
        assert scores[mask].min() >= scores[~mask].max()
    # rewind=none: the retrain starts from exactly the kept trained filters
    conv = "features.0.weight" if model == "vgg_tiny" else "layer1.0.conv1.weight"
    assert torch.equal(entries["retrain"][conv], session.states[1][conv][masks[0]])


def test_bn_producers_follow_the_data_flow() -> None:
    for name, expected in (("vgg_tiny", ["features.0", "features.4", "features.8"]),
                           ("resnet_tiny", ["layer1.0.conv1", "layer2.0.conv1", "layer3.0.conv1"])):
        model = create_model(name, in_channels=3, num_classes=4, input_size=8)
        names = {id(m): n for n, m in model.named_modules()}
        assert [names[id(c)] for c in bn_producers(model, SHAPE)] == expected


def test_layerwise_channel_mask_counts_and_ties() -> None:
    masks = layerwise_channel_mask([torch.tensor([0.1, 0.5, 0.5, 0.2]), torch.ones(3), torch.tensor([3.0])], 0.5)
    assert [m.tolist() for m in masks] == [[False, True, True, False], [True, True, False], [True]]


@pytest.mark.parametrize("k", [1, 3])  # mid-train, mid-retrain
def test_magnitude_resume(tmp_path: Path, k: int) -> None:
    params = MagnitudeParams(sparsity=0.6, rewind="init")
    _, uninterrupted = run(cfg(params))
    with pytest.raises(Crash):
        run(cfg(params), RecordingSession(crash_after=k, checkpoint_dir=tmp_path))
    resumed, final = run(cfg(params), RecordingSession(checkpoint_dir=tmp_path))
    assert [e["epoch"] for e in resumed.epochs] == list(range(k + 1, 5))
    assert without_timing(final) == without_timing(uninterrupted)


def test_magnitude_channel_resume_mid_retrain(tmp_path: Path) -> None:
    params = MagnitudeParams(sparsity=0.5, pattern="channel", rewind="init")
    _, uninterrupted = run(cfg(params))
    with pytest.raises(Crash):
        run(cfg(params), RecordingSession(crash_after=3, checkpoint_dir=tmp_path))
    _, final = run(cfg(params), RecordingSession(checkpoint_dir=tmp_path))
    assert without_timing(final) == without_timing(uninterrupted)


# ----------------------------------------------------------------------------- IMP


@pytest.fixture(scope="module")
def imp_run() -> tuple[RecordingSession, dict[str, Any]]:
    return run(cfg(ImpParams(rounds=3, rate=0.3, rewind_epoch=1)))


def test_imp_rounds_and_cumulative_sparsity(imp_run) -> None:
    session, final = imp_run
    assert [e["round"] for e in session.epochs] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert [e["phase"] for e in session.epochs] == ["round0"] * 2 + ["round1"] * 2 + ["round2"] * 2 + ["round3"] * 2
    assert final["rounds_done"] == 3
    assert final["epochs_trained"] == 8
    previous = None
    for r, at in ((1, 2), (2, 4), (3, 6)):
        masks = session.masks[at]
        kept = sum(int(m.sum()) for m in masks.values())
        assert kept == round(0.7**r * VGG_PRUNABLE)  # 2570, 1799, 1259: exact global top-k
        assert abs((VGG_PRUNABLE - kept) / VGG_PRUNABLE - (1 - 0.7**r)) <= 1 / VGG_PRUNABLE
        assert session.epochs[at]["weight_sparsity"] == pytest.approx(1 - kept / VGG_PRUNABLE)
        if previous is not None:  # pruned weights stay pruned
            assert all(not (m & ~previous[k]).any() for k, m in masks.items())
        previous = masks
    assert final["weight_sparsity"] == pytest.approx(1 - 1259 / VGG_PRUNABLE)
    assert final["target_sparsity"] == pytest.approx(1 - 0.7**3)
    assert_masked_zero_state(session.states[-1], session.masks[-1])


def assert_masked_zero_state(state: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> None:
    for name, mask in masks.items():
        assert torch.count_nonzero(state[name][~mask]) == 0


def test_imp_round_tickets_recorded(imp_run) -> None:
    session, final = imp_run
    rounds = session.method_states[-1]["rounds"][:3]
    assert [t["round"] for t in rounds] == [0, 1, 2]  # round 3 is recorded after its last checkpoint
    for t in rounds:
        last = session.epochs[2 * t["round"] + 1]
        assert t["val_accuracy"] == last["val_accuracy"] and t["test_accuracy"] == last["test_accuracy"]
        assert t["epoch"] == 2 * t["round"] + 2
    assert rounds[0]["weight_sparsity"] == 0.0
    table = final["rounds"]  # the declared long table `rounds`: one row per round's ticket
    assert [row["round"] for row in table] == [0, 1, 2, 3]
    for r in range(4):
        assert table[r]["val_accuracy"] == session.epochs[2 * r + 1]["val_accuracy"]
    assert table[3]["weight_sparsity"] == final["weight_sparsity"]
    assert final["val_accuracy"] == session.epochs[-1]["val_accuracy"]
    assert final["rewind_point_iteration"] == BATCHES


def test_imp_rewinds_survivors_to_rewind_point(monkeypatch) -> None:
    entries: list[tuple[str, dict[str, torch.Tensor]]] = []
    real = imp_module.run_phase

    def spy(**kw: Any):
        entries.append((kw["phase"], clone_state(kw["model"])))
        return real(**kw)

    monkeypatch.setattr(imp_module, "run_phase", spy)
    session, _ = run(cfg(ImpParams(rounds=2, rate=0.5, rewind_epoch=1), epochs=3))
    assert [p for p, _ in entries] == ["round0", "round1", "round2"]
    rewind_point = session.states[0]  # after epoch 1 of round 0
    for _phase, state in entries[1:]:
        assert all(torch.equal(state[k], rewind_point[k]) for k in rewind_point)  # weights, BN, running stats
    # ... and the first checkpoint of each round has trained on from the rewound, masked survivors
    assert not torch.equal(session.states[3]["features.4.weight"], rewind_point["features.4.weight"])
    # rewind_epoch = 0: back to the initialisation
    entries.clear()
    run(cfg(ImpParams(rounds=1, rate=0.5, rewind_epoch=0), epochs=1))
    assert all(torch.equal(entries[1][1][k], entries[0][1][k]) for k in entries[0][1])


def test_imp_rewind_iteration_matches_epoch_boundaries() -> None:
    _, by_epoch1 = run(cfg(ImpParams(rounds=1, rewind_epoch=1)))
    _, by_iter4 = run(cfg(ImpParams(rounds=1, rewind_epoch=0, rewind_iteration=BATCHES)))
    _, by_epoch0 = run(cfg(ImpParams(rounds=1, rewind_epoch=0)))
    _, by_iter0 = run(cfg(ImpParams(rounds=1, rewind_epoch=1, rewind_iteration=0)))
    assert without_timing(by_iter4) == without_timing(by_epoch1)
    assert without_timing(by_iter0) == without_timing(by_epoch0)
    assert by_iter0["rewind_point_iteration"] == 0


def test_imp_rewind_iteration_mid_epoch(monkeypatch) -> None:
    entries: list[dict[str, torch.Tensor]] = []
    real = imp_module.run_phase
    monkeypatch.setattr(imp_module, "run_phase", lambda **kw: (entries.append(clone_state(kw["model"])), real(**kw))[1])
    session, final = run(cfg(ImpParams(rounds=1, rewind_iteration=6)))
    assert final["rewind_point_iteration"] == 6
    rewound = entries[1]["features.4.weight"]
    # 6 steps = 1.5 epochs: neither the initialisation nor either epoch boundary
    for other in (entries[0], session.states[0], session.states[1]):
        assert not torch.equal(rewound, other["features.4.weight"])


def test_rewind_recorder_saves_weights_after_k_steps() -> None:
    torch.manual_seed(0)
    model = create_model("vgg_tiny", in_channels=3, num_classes=4, input_size=8)
    batches = [(torch.randn(8, *SHAPE), torch.randint(0, 4, (8,))) for _ in range(5)]
    progress = TrialProgress()
    recorder = RewindRecorder(ImpParams(rewind_iteration=3), progress, steps_done=0)
    after_steps: list[dict[str, torch.Tensor]] = [clone_state(model)]
    optimizer = make_optimizer(model, TrainConfig(device="cpu"))
    train_one_epoch(model, batches, optimizer, torch.device("cpu"), recorder.after_backward,
                    lambda m: after_steps.append(clone_state(m)))
    saved = progress.method_state["rewind_state"]
    weights = [n for n, _ in model.named_parameters()]
    assert all(torch.equal(saved[n], after_steps[3][n]) for n in weights)
    assert not torch.equal(saved["features.0.weight"], after_steps[2]["features.0.weight"])
    assert progress.method_state["rewind_point_iteration"] == 3 and recorder.steps == 5


def test_imp_masks_and_rewind_helpers() -> None:
    model = create_model("vgg_tiny", in_channels=3, num_classes=4, input_size=8)
    m1 = imp_masks(model, None, 0.5)
    with torch.no_grad():  # make a pruned weight the largest: it must not come back
        name = "features.8.weight"
        model.get_parameter(name)[~m1[name]] = 100.0
    m2 = imp_masks(model, m1, 0.75)
    assert sum(int(m.sum()) for m in m2.values()) == round(0.25 * VGG_PRUNABLE)
    assert all(not (m2[k] & ~m1[k]).any() for k in m1)
    state = clone_state(create_model("vgg_tiny", in_channels=3, num_classes=4, input_size=8))
    rewind_(model, state)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("k", [1, 2, 3, 6])  # mid-round0 before/after the rewind point, round boundary, last
def test_imp_resume_mid_round(tmp_path: Path, k: int) -> None:
    params = ImpParams(rounds=2, rate=0.4, rewind_epoch=2)
    uninterrupted_session, uninterrupted = run(cfg(params, epochs=3))
    crashing = RecordingSession(crash_after=k, checkpoint_dir=tmp_path)
    with pytest.raises(Crash):
        run(cfg(params, epochs=3), crashing)
    resumed, final = run(cfg(params, epochs=3), RecordingSession(checkpoint_dir=tmp_path))
    assert [e["epoch"] for e in resumed.epochs] == list(range(k + 1, 10))
    assert [e["round"] for e in resumed.epochs] == [e["round"] for e in uninterrupted_session.epochs[k:]]
    assert without_timing(final) == without_timing(uninterrupted)
    assert resumed.method_states[-1]["rounds"] == uninterrupted_session.method_states[-1]["rounds"]


def test_imp_determinism_and_seed(imp_run) -> None:
    session, final = imp_run
    again_session, again = run(cfg(ImpParams(rounds=3, rate=0.3, rewind_epoch=1)))
    assert without_timing(again) == without_timing(final)
    assert all(torch.equal(session.states[-1][k], again_session.states[-1][k]) for k in session.states[-1])
    other_session, other = run(cfg(ImpParams(rounds=1, rate=0.3), seed=3))
    assert other["weight_sparsity"] == pytest.approx(1 - round(0.7 * VGG_PRUNABLE) / VGG_PRUNABLE)
    assert not torch.equal(other_session.masks[-1]["features.8.weight"], session.masks[2]["features.8.weight"])


def test_imp_resnet_and_skip_flags() -> None:
    session, final = run(cfg(ImpParams(rounds=1, rate=0.5, skip_first_conv=True), epochs=1, model="resnet_tiny"))
    masks = session.masks[-1]
    assert "conv1.weight" not in masks and "fc.weight" not in masks
    total = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == round(0.5 * total)
    assert final["rounds_done"] == 1


# ----------------------------------------------------------------------------- validation and registration


@pytest.mark.parametrize(
    "params, key",
    [
        (lambda: RandomParams(sparsity=0.0), "method.sparsity"),
        (lambda: RandomParams(sparsity=1.0), "method.sparsity"),
        (lambda: RandomParams(pattern="filter"), "method.pattern"),
        (lambda: MagnitudeParams(sparsity=-0.1), "method.sparsity"),
        (lambda: MagnitudeParams(pattern="block"), "method.pattern"),
        (lambda: MagnitudeParams(rewind="epoch"), "method.rewind"),
        (lambda: MagnitudeParams(retrain_epochs=-1), "method.retrain_epochs"),
        (lambda: ImpParams(rounds=0), "method.rounds"),
        (lambda: ImpParams(rate=0.0), "method.rate"),
        (lambda: ImpParams(rate=1.0), "method.rate"),
        (lambda: ImpParams(rewind_epoch=-1), "method.rewind_epoch"),
        (lambda: ImpParams(rewind_iteration=-2), "method.rewind_iteration"),
    ],
)
def test_invalid_params_name_the_key(params, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        params()


def test_rewind_point_beyond_round0_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"method\.rewind_epoch.*\[0, 2\]"):
        run(cfg(ImpParams(rewind_epoch=3)))
    with pytest.raises(ConfigError, match=r"method\.rewind_iteration.*\[0, 8\]"):
        run(cfg(ImpParams(rewind_iteration=9)))


def test_methods_and_search_spaces_registered() -> None:
    from lottery.codec import build_method
    from orchestrator.results_schema import trials_schema
    from search_spaces import SEARCH_SPACES, Choice, FloatRange, IntRange

    assert {"random", "magnitude", "imp"} <= set(METHODS.names())
    assert build_method({"name": "imp", "rounds": 2, "rate": 0.25}) == ImpParams(rounds=2, rate=0.25)
    assert build_method({"name": "magnitude", "pattern": "channel"}) == MagnitudeParams(pattern="channel")
    spaces = {
        "random": {"method.sparsity": FloatRange(0.3, 0.95)},
        "magnitude": {"method.sparsity": FloatRange(0.3, 0.95), "method.rewind": Choice(("none", "init"))},
        "imp": {"method.rounds": IntRange(1, 5), "method.rate": FloatRange(0.1, 0.5), "method.rewind_epoch": IntRange(0, 3)},
    }
    for name, dims in spaces.items():
        space = SEARCH_SPACES.get(name)
        assert space.method == name and space.dimensions == dims
        for key, dim in dims.items():  # every bound is a valid parameter value
            for value in dim.extremes():
                build_method({"name": name, key.split(".", 1)[1]: value})
    names = set(trials_schema().names)
    assert {"method.sparsity", "method.pattern", "method.rewind", "method.rounds", "method.rate",
            "method.rewind_epoch", "method.rewind_iteration"} <= names
