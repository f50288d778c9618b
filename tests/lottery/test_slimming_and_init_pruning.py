"""Network Slimming and pruning at init (SNIP, GraSP, SynFlow): scores by hand, exact sparsity, resume."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from lottery.config import DataConfig, ExperimentConfig, MethodParams, ModelConfig, TrainConfig
from lottery.data import DataBundle, TensorBatches
from lottery.errors import ConfigError
from lottery.measure import count_flops, count_params
from lottery.methods import METHODS
from lottery.methods.pruning_at_init import GraspParams, SnipParams, Synflow, SynflowParams
from lottery.methods.slimming import SlimmingParams
from lottery.models import create_model
from lottery.pruning.channel_mask import bn_scores, global_channel_mask
from lottery.pruning.init_scores import (
    grasp_masks, grasp_scores, snip_scores, synflow_masks, synflow_scores,
)
from lottery.pruning.weight_mask import global_topk_masks, prunable_weights
from lottery.session import LocalSession
from lottery.ticket import load_ticket, load_ticket_masks
from lottery.latency import TIMING_METRICS
from search_spaces import SEARCH_SPACES, FloatRange
from crashing_session import Crash, CrashingSession

SHAPE = (3, 8, 8)
DENSE_FLOPS, DENSE_PARAMS = 83072, 3820  # vgg_tiny on 3x8x8, 4 classes
# vgg_tiny convs 3->8->16->16 (3x3), the Linear 16->4 is skipped by default
CONV_WEIGHTS = 8 * 3 * 9 + 16 * 8 * 9 + 16 * 16 * 9  # 216 + 1152 + 2304 = 3672
TIMING_KEYS = TIMING_METRICS  # measured: wall time and latency


def cfg(method: MethodParams, epochs: int = 3, seed: int = 0) -> ExperimentConfig:
    return ExperimentConfig(
        seed=seed,
        data=DataConfig(name="synthetic", batch_size=64),
        model=ModelConfig(name="vgg_tiny"),
        train=TrainConfig(epochs=epochs, device="cpu", threads=1),
        method=method,
    )


class RecordingSession(LocalSession):
    """A LocalSession that also keeps a copy of every checkpointed state."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.states: list[dict[str, Any]] = []

    def report_epoch(self, metrics: dict[str, Any], state: dict[str, Any]) -> None:
        super().report_epoch(metrics, state)
        self.states.append(copy.deepcopy(state))




def run(config: ExperimentConfig, session: LocalSession | None = None) -> tuple[LocalSession, dict[str, Any]]:
    session = session or LocalSession()
    return session, METHODS.get(config.method.name)().run(config, session)


def without_timing(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k not in TIMING_KEYS}


def tiny(seed: int = 0, name: str = "vgg_tiny") -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model(name, in_channels=3, num_classes=4, input_size=8)


def batches(n: int, seed: int = 0, size: int = 16) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, *SHAPE, generator=gen), torch.randint(0, 4, (size,), generator=gen)) for _ in range(n)]


def state_copy(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_unchanged(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> None:
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())


# ---------------------------------------------------------------- Network Slimming


@pytest.fixture(scope="module")
def slim_run(tmp_path_factory) -> tuple[RecordingSession, dict[str, Any], Path]:
    ticket = tmp_path_factory.mktemp("slim") / "ticket"
    session = RecordingSession(ticket_out=ticket)
    _, final = run(cfg(SlimmingParams(prune_ratio=0.5, bn_l1=1e-3, retrain_epochs=2)), session)
    return session, final, ticket


def test_slimming_trains_fully_then_prunes_and_fine_tunes(slim_run) -> None:
    session, final, _ = slim_run
    assert [e["phase"] for e in session.epochs] == ["search"] * 3 + ["retrain"] * 2
    assert [e["epoch"] for e in session.epochs] == [1, 2, 3, 4, 5]
    assert [e["phase_epoch"] for e in session.epochs] == [1, 2, 3, 1, 2]
    assert final["search_epochs"] == 3 and final["epochs_trained"] == 5
    assert {e["flops"] for e in session.epochs[:3]} == {DENSE_FLOPS}
    assert {e["flops"] for e in session.epochs[3:]} == {final["flops"]}
    assert "eb_drawn" not in session.epochs[0]  # no Early-Bird detector
    assert 0.0 <= final["ticket_val_accuracy_before_retrain"] <= 1.0
    assert final["test_accuracy"] == session.epochs[-1]["test_accuracy"]


def test_slimming_draws_the_mask_at_the_end_of_training(slim_run) -> None:
    session, final, ticket_dir = slim_run
    ticket = load_ticket(ticket_dir)

    def mask_widths(state: dict[str, Any]) -> list[int]:
        model = tiny()
        model.load_state_dict(state["model"])
        return [int(m.sum()) for m in global_channel_mask(bn_scores(model), 0.5)]

    # 40 prunable channels, p = 0.5: keep gamma > the 21st smallest -> 19 channels
    assert ticket.channel_spec() == mask_widths(session.states[2]) == [3, 9, 7]
    assert mask_widths(session.states[0]) == [3, 10, 6]  # the mask after epoch 1 would be another ticket
    assert final["channels_kept"] == 19 / 40
    # physically smaller: exactly the architecture its widths rebuild to
    assert final["params"] == count_params(ticket) == 961 < DENSE_PARAMS
    assert final["flops"] == count_flops(ticket, SHAPE) == 22736 < DENSE_FLOPS
    assert final["flops_ratio"] == 22736 / DENSE_FLOPS
    assert load_ticket_masks(ticket_dir) is None and final["weight_sparsity"] == 0.0


def test_slimming_prune_ratio_sets_kept_channels() -> None:
    _, final = run(cfg(SlimmingParams(prune_ratio=0.75, bn_l1=1e-3, retrain_epochs=1)))
    assert final["channels_kept"] == 9 / 40  # 40 - 30 - 1
    assert final["params"] == 268


def test_slimming_bn_l1_shrinks_gamma() -> None:
    lasso, _ = run(cfg(SlimmingParams(bn_l1=1e-2, retrain_epochs=1), epochs=2), RecordingSession())
    plain, _ = run(cfg(SlimmingParams(bn_l1=0.0, retrain_epochs=1), epochs=2), RecordingSession())

    def gamma_l1(state: dict[str, Any]) -> float:
        return sum(v.abs().sum().item() for k, v in state["model"].items() if k.endswith(".weight") and v.dim() == 1)

    assert gamma_l1(lasso.states[1]) < gamma_l1(plain.states[1])


@pytest.mark.parametrize("k", [2, 4])  # mid-search, mid-retrain
def test_slimming_resume_after_crash(slim_run, tmp_path: Path, k: int) -> None:
    _, uninterrupted, _ = slim_run
    config = cfg(SlimmingParams(prune_ratio=0.5, bn_l1=1e-3, retrain_epochs=2))
    with pytest.raises(Crash):
        run(config, CrashingSession(k, checkpoint_dir=tmp_path))
    resumed, final = run(config, LocalSession(checkpoint_dir=tmp_path))
    assert [e["epoch"] for e in resumed.epochs] == list(range(k + 1, 6))
    assert without_timing(final) == without_timing(uninterrupted)


# ---------------------------------------------------------------- SNIP


def test_snip_scores_are_abs_grad_times_weight() -> None:
    model, data = tiny(), batches(2)
    before = state_copy(model)
    scores = snip_scores(model, data[:1])
    assert_unchanged(model, before)  # scored on a copy: weights, BN statistics, grads untouched
    assert list(scores) == ["features.0.weight", "features.4.weight", "features.8.weight"]

    by_hand = copy.deepcopy(model).train()
    weights = prunable_weights(by_hand)
    x, y = data[0]
    grads = torch.autograd.grad(F.cross_entropy(by_hand(x), y), list(weights.values()))
    for (name, w), g in zip(weights.items(), grads):
        assert torch.equal(scores[name], (g * w).abs())
    assert scores["features.4.weight"].shape == (16, 8, 3, 3)

    # several batches: the gradients add up before |g * w|
    two = snip_scores(model, data)
    twice = copy.deepcopy(model).train()
    w = prunable_weights(twice)["features.4.weight"]
    g = sum(torch.autograd.grad(F.cross_entropy(twice(x), y), [w])[0] for x, y in data)
    torch.testing.assert_close(two["features.4.weight"], (g * w).abs().detach(), rtol=0, atol=1e-7)


def test_snip_skips_first_conv_and_classifier_on_request() -> None:
    model, data = tiny(), batches(1)
    assert list(snip_scores(model, data, skip_first_conv=True)) == ["features.4.weight", "features.8.weight"]
    assert list(snip_scores(model, data, skip_classifier=False))[-1] == "classifier.weight"
    with pytest.raises(ConfigError, match="at least one batch"):
        snip_scores(model, [])


# ---------------------------------------------------------------- GraSP


def test_grasp_scores_match_a_hessian_vector_product() -> None:
    model, data = tiny(3), batches(1, seed=5)
    before = state_copy(model)
    scores = grasp_scores(model, data, temperature=200.0)
    assert_unchanged(model, before)

    # independent path: H g by torch.autograd.functional.hvp on the loss as a function of all
    # conv / linear weights (the classifier too: g and H cover it even though it is not scored)
    ref = copy.deepcopy(model).train()
    theta = prunable_weights(ref, skip_classifier=False)
    names, values = list(theta), tuple(w.detach().clone() for w in theta.values())
    x, y = data[0]

    def loss(*ws: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(ref, dict(zip(names, ws)), (x,)) / 200.0, y)

    g = torch.autograd.grad(loss(*(v.requires_grad_() for v in values)), values)
    values = tuple(v.detach() for v in values)
    _, hg = torch.autograd.functional.hvp(loss, values, v=g)
    expected = {n: -w * h for n, w, h in zip(names, values, hg)}
    assert list(scores) == names[:-1]
    for name in scores:
        torch.testing.assert_close(scores[name], expected[name], rtol=1e-4, atol=1e-9)
    # one value spelled out: weight [3, 2, 1, 1] of the middle conv
    w = values[1][3, 2, 1, 1]
    assert scores["features.4.weight"][3, 2, 1, 1].item() == pytest.approx((-w * hg[1][3, 2, 1, 1]).item(), rel=1e-4)


def test_grasp_keeps_the_lowest_scores_exactly() -> None:
    scores = grasp_scores(tiny(), batches(1))
    masks = grasp_masks(scores, 0.75)
    kept = torch.cat([s[m] for s, m in zip(scores.values(), masks.values())])
    removed = torch.cat([s[~m] for s, m in zip(scores.values(), masks.values())])
    assert kept.numel() == round(0.25 * CONV_WEIGHTS) == 918
    assert kept.max() <= removed.min()
    with pytest.raises(ConfigError, match="temperature"):
        grasp_scores(tiny(), batches(1), temperature=0.0)


# ---------------------------------------------------------------- SynFlow


def test_synflow_scores_by_hand_and_weights_restored() -> None:
    model = tiny(1)
    before = state_copy(model)
    scores = synflow_scores(model, SHAPE)
    assert_unchanged(model, before)  # the signed weights are the original ones afterwards
    assert any((w < 0).any() for w in before.values())

    lin = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for t in lin.state_dict().values():
            t.abs_()
    weights = prunable_weights(lin)
    r = lin(torch.ones(1, *SHAPE, dtype=torch.float64)).sum()
    for (name, w), g in zip(weights.items(), torch.autograd.grad(r, list(weights.values()))):
        torch.testing.assert_close(scores[name], (w * g).abs().float(), rtol=0, atol=0)
        assert (scores[name] >= 0).all()


def test_synflow_is_data_free() -> None:
    def data(x: torch.Tensor) -> DataBundle:
        y = torch.zeros(len(x), dtype=torch.long)
        return DataBundle(TensorBatches(x, y, 8), TensorBatches(x, y, 8), TensorBatches(x, y, 8), 3, 4, 8, len(x))

    p = SynflowParams(sparsity=0.8, synflow_iterations=3)
    noise = Synflow().draw_masks(p, tiny(), data(torch.randn(16, *SHAPE)))
    zeros = Synflow().draw_masks(p, tiny(), data(torch.zeros(16, *SHAPE) + 5.0))
    assert all(torch.equal(noise[k], zeros[k]) for k in noise)


# resnet_tiny: stem 108, stage 1 144 + 144, stage 2 288 + 576 + 32 (1x1), stage 3 1152 + 2304 + 128 (1x1)
@pytest.mark.parametrize("model_name, total", [("vgg_tiny", CONV_WEIGHTS), ("resnet_tiny", 4876)])
@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.97])
def test_synflow_iterative_pruning_hits_the_target_exactly(model_name: str, total: int, sparsity: float) -> None:
    model = tiny(name=model_name)
    assert sum(w.numel() for w in prunable_weights(model).values()) == total
    masks = synflow_masks(model, SHAPE, sparsity, iterations=5)
    assert sum(int(m.sum()) for m in masks.values()) == round((1 - sparsity) * total)


def test_synflow_masks_only_shrink_and_pruned_weights_score_minus_inf() -> None:
    model = tiny()
    first = synflow_masks(model, SHAPE, 0.5, iterations=1)
    scores = synflow_scores(model, SHAPE, masks=first)
    for name, mask in first.items():
        assert torch.isinf(scores[name][~mask]).all() and (scores[name][mask] >= 0).all()
    # rounds prune to 1 - 0.1^(k/4) of 3672 weights (keep 2065, 1161, 653, 367); each mask lies inside the previous
    previous = None
    for k in (1, 2, 3, 4):
        target = 0.9 if k == 4 else 1 - 0.1 ** (k / 4)
        scores = synflow_scores(model, SHAPE, masks=previous)
        current = global_topk_masks(scores, target)
        if previous is not None:
            assert all(not (current[n] & ~previous[n]).any() for n in current)
        previous = current
    final = synflow_masks(model, SHAPE, 0.9, iterations=4)
    assert all(torch.equal(final[n], previous[n]) for n in final)
    assert sum(int(m.sum()) for m in final.values()) == 367


# ---------------------------------------------------------------- the three methods end to end


@pytest.mark.parametrize(
    "params",
    [SnipParams(sparsity=0.8), GraspParams(sparsity=0.8, score_batches=2), SynflowParams(sparsity=0.8, synflow_iterations=4)],
    ids=["snip", "grasp", "synflow"],
)
def test_init_pruning_method_exact_sparsity_and_fixed_mask(params: MethodParams, tmp_path: Path) -> None:
    session, final = run(cfg(params, epochs=2), RecordingSession(ticket_out=tmp_path / "t"))
    kept = round(0.2 * CONV_WEIGHTS)  # 734 of 3672
    masks = load_ticket_masks(tmp_path / "t")
    assert list(masks) == ["features.0.weight", "features.4.weight", "features.8.weight"]
    assert sum(int(m.sum()) for m in masks.values()) == kept
    assert final["weight_sparsity"] == 1 - kept / CONV_WEIGHTS
    assert final["flops"] == final["dense_flops"] == DENSE_FLOPS and final["flops_ratio"] == 1.0
    assert final["sparse_flops"] < DENSE_FLOPS
    assert final["nonzero_params"] <= DENSE_PARAMS - (CONV_WEIGHTS - kept)
    assert [e["phase"] for e in session.epochs] == ["train", "train"]
    assert {e["weight_sparsity"] for e in session.epochs} == {final["weight_sparsity"]}
    # the mask drawn at init is the one every checkpoint carries and the ticket keeps
    for state in session.states:
        assert all(torch.equal(state["masks"][k], masks[k]) for k in masks)
        assert all((state["model"][k][~masks[k]] == 0).all() for k in masks)


def test_init_pruning_methods_draw_different_masks() -> None:
    model, data = tiny(), batches(1)
    snip = snip_scores(model, data)
    grasp = grasp_masks(grasp_scores(model, data), 0.5)
    snip_m = global_topk_masks(snip, 0.5)
    assert any(not torch.equal(snip_m[k], grasp[k]) for k in snip_m)


@pytest.mark.parametrize("method", ["snip", "synflow"])
def test_init_pruning_resume_after_crash(method: str, tmp_path: Path) -> None:
    params = SnipParams(sparsity=0.7) if method == "snip" else SynflowParams(sparsity=0.7, synflow_iterations=3)
    _, uninterrupted = run(cfg(params))
    with pytest.raises(Crash):
        run(cfg(params), CrashingSession(1, checkpoint_dir=tmp_path))
    resumed, final = run(cfg(params), LocalSession(checkpoint_dir=tmp_path))
    assert [e["epoch"] for e in resumed.epochs] == [2, 3]
    assert without_timing(final) == without_timing(uninterrupted)


# ---------------------------------------------------------------- validation and search spaces


@pytest.mark.parametrize(
    "make, key",
    [
        (lambda: SnipParams(sparsity=0.0), "method.sparsity"),
        (lambda: GraspParams(sparsity=1.0), "method.sparsity"),
        (lambda: SynflowParams(sparsity=-0.1), "method.sparsity"),
        (lambda: SnipParams(score_batches=0), "method.score_batches"),
        (lambda: GraspParams(score_batches=0), "method.score_batches"),
        (lambda: SynflowParams(synflow_iterations=0), "method.synflow_iterations"),
        (lambda: SlimmingParams(prune_ratio=1.0), "method.prune_ratio"),
        (lambda: SlimmingParams(prune_ratio=0.0), "method.prune_ratio"),
        (lambda: SlimmingParams(bn_l1=-1e-4), "method.bn_l1"),
        (lambda: SlimmingParams(retrain_epochs=-1), "method.retrain_epochs"),
    ],
)
def test_invalid_params_raise_config_error_naming_the_key(make, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        make()


def test_score_function_argument_checks() -> None:
    with pytest.raises(ConfigError, match="sparsity"):
        synflow_masks(tiny(), SHAPE, 1.0, iterations=2)
    with pytest.raises(ConfigError, match="iterations"):
        synflow_masks(tiny(), SHAPE, 0.5, iterations=0)


def test_defaults_and_search_spaces() -> None:
    assert (SlimmingParams().prune_ratio, SlimmingParams().bn_l1, SlimmingParams().retrain_epochs) == (0.5, 1e-4, 0)
    assert (SnipParams().sparsity, SnipParams().skip_first_conv, SnipParams().skip_classifier) == (0.5, False, True)
    assert SnipParams().score_batches == GraspParams().score_batches == 1
    assert SynflowParams().synflow_iterations == 20
    assert SEARCH_SPACES.get("slimming").dimensions == {
        "method.prune_ratio": FloatRange(0.3, 0.85),
        "method.bn_l1": FloatRange(1e-5, 1e-3, log=True),
    }
    params = {"slimming": SlimmingParams, "snip": SnipParams, "grasp": GraspParams, "synflow": SynflowParams}
    for name in ("snip", "grasp", "synflow"):
        space = SEARCH_SPACES.get(name)
        assert space.method == name and space.dimensions == {"method.sparsity": FloatRange(0.3, 0.95)}
    for name, cls in params.items():
        assert METHODS.get(name).Params is cls
        for key, dim in SEARCH_SPACES.get(name).dimensions.items():
            for bound in dim.extremes():
                cls(**{key.split(".", 1)[1]: bound})  # every bound is a valid value
