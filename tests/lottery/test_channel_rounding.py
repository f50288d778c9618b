"""Hardware-aligned tickets: kept channels per layer rounded to a multiple of N (torch-pruning's
round_to), the shrunk network equal to the masked one, FLOPs equal to torch's own counter."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from lottery.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lottery.errors import ConfigError
from lottery.measure import count_flops
from lottery.methods import METHODS
from lottery.methods.earlybird import EarlyBirdParams
from lottery.methods.random_pruning import RandomParams
from lottery.methods.slimming import SlimmingParams
from lottery.models import create_model
from lottery.pruning.channel_mask import bn_scores, global_channel_mask, prunable_bns, rounded_width
from lottery.pruning.channel_scores import layerwise_channel_mask, random_channel_scores
from lottery.pruning.channel_surgery import apply_soft_mask_, prune_channels
from lottery.session import LocalSession

SHAPE = (3, 32, 32)


def torch_flops(model: torch.nn.Module, shape: tuple[int, ...]) -> int:
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, *shape))
    return int(counter.get_total_flops())


@pytest.mark.parametrize("kept,full,n,expected", [
    (13, 64, 8, 8), (16, 64, 8, 16), (3, 64, 8, 8), (64, 64, 8, 64), (5, 6, 8, 6), (0 + 1, 4, 8, 4), (13, 64, 1, 13),
])
def test_rounded_width_follows_torch_pruning_round_to(kept: int, full: int, n: int, expected: int) -> None:
    assert rounded_width(kept, full, n) == expected


@pytest.mark.parametrize("model_name", ["vgg11", "resnet20"])
@pytest.mark.parametrize("n", [4, 8])
def test_rounded_global_mask_shrinks_to_multiples_and_matches_masked(model_name: str, n: int) -> None:
    torch.manual_seed(0)
    model = create_model(model_name, in_channels=3, num_classes=10, input_size=32, width=0.5)
    for bn in prunable_bns(model):  # spread the gammas so the threshold cuts unevenly
        bn.weight.data.uniform_(0.0, 1.0)
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 1.5)
    scores = bn_scores(model)
    masks = global_channel_mask(scores, 0.6, round_to=n)
    plain = global_channel_mask(scores, 0.6)
    assert [int(m.sum()) for m in masks] != [int(m.sum()) for m in plain]  # rounding changed something
    for mask in masks:
        kept = int(mask.sum())
        assert kept % n == 0 or kept == mask.numel(), (kept, mask.numel())
    for mask, s in zip(masks, scores):  # the kept channels are the layer's best by score
        if mask.any() and (~mask).any():
            assert s[mask].min() >= s[~mask].max()
    shrunk = prune_channels(model, masks, SHAPE)
    assert shrunk.channel_spec() == [int(m.sum()) for m in masks]
    masked = apply_soft_mask_(model, masks).eval()
    shrunk.eval()
    x = torch.randn(4, *SHAPE)
    with torch.no_grad():
        assert torch.allclose(shrunk(x), masked(x), atol=1e-4)
    assert count_flops(shrunk, SHAPE) == torch_flops(shrunk, SHAPE) < torch_flops(masked, SHAPE)


def test_layerwise_mask_rounds_and_keeps_first_conv_whole() -> None:
    model = create_model("vgg11", in_channels=3, num_classes=10, input_size=32, width=0.5)
    scores = random_channel_scores(model, seed=3)
    keep_all = [True] + [False] * (len(scores) - 1)
    masks = layerwise_channel_mask(scores, 0.7, keep_all, round_to=8)
    assert int(masks[0].sum()) == masks[0].numel()
    assert all(int(m.sum()) % 8 == 0 for m in masks[1:])


def _cfg(method) -> ExperimentConfig:
    return ExperimentConfig(
        data=DataConfig(name="synthetic", batch_size=64), model=ModelConfig(name="vgg_tiny", width=2.0),
        train=TrainConfig(epochs=2, device="cpu", threads=1), method=method,
    )


@pytest.mark.parametrize("method", [
    EarlyBirdParams(eb_epsilon=1.0, prune_ratio=0.6, round_to=4),
    SlimmingParams(prune_ratio=0.6, round_to=4, retrain_epochs=1),
    RandomParams(sparsity=0.6, pattern="channel", round_to=4),
])
def test_channel_methods_report_the_rounded_ticket(method) -> None:
    session = LocalSession()
    final = METHODS.get(method.name)().run(_cfg(method), session)
    state = session.last_state
    assert state is not None
    widths = state["arch"]["channels"]
    full = create_model("vgg_tiny", in_channels=3, num_classes=4, input_size=8, width=2.0).channel_spec()
    assert all(w % 4 == 0 or w == f for w, f in zip(widths, full)), (widths, full)
    ticket = create_model("vgg_tiny", in_channels=3, num_classes=4, input_size=8, width=2.0, channels=widths)
    assert final["flops"] == torch_flops(ticket, (3, 8, 8))


def test_round_to_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="method.round_to"):
        EarlyBirdParams(round_to=0)
