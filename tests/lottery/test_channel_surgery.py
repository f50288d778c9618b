"""Physical channel removal matches the soft mask, and is measured correctly (FLOPs, params, rebuild)."""
from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lottery.errors import PruningError
from lottery.measure import count_flops, count_params
from lottery.models import create_model
from lottery.pruning.channel_surgery import apply_soft_mask_, prune_channels
from lottery.ticket import ARCH_FILE, load_ticket, save_ticket

SHAPE = (3, 8, 8)
NUM_CLASSES = 4


def randomized(name: str, seed: int = 0) -> nn.Module:
    """A model with random BN gammas (both signs), betas and running stats, in eval mode."""
    torch.manual_seed(seed)
    model = create_model(name, in_channels=SHAPE[0], num_classes=NUM_CLASSES, input_size=SHAPE[1])
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.empty(n).uniform_(0.2, 1.5) * torch.where(torch.rand(n) < 0.3, -1.0, 1.0))
                m.bias.copy_(torch.randn(n) * 0.5)
                m.running_mean.copy_(torch.randn(n) * 0.3)
                m.running_var.copy_(torch.empty(n).uniform_(0.5, 2.0))
    return model.eval()


def random_masks(model: nn.Module, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    masks = []
    for _, bn in model.prunable_bns():
        m = torch.rand(bn.num_features, generator=gen) < 0.5
        m[torch.randint(bn.num_features, (1,), generator=gen)] = True  # never empty
        masks.append(m)
    masks[0][:] = False
    masks[0][1] = True  # one layer down to a single channel
    return masks


def direct_flops(model: nn.Module) -> int:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model.eval()(torch.zeros(1, *SHAPE))
    return int(counter.get_total_flops())


def vgg_tiny_flops(a: int, b: int, c: int) -> int:
    """Convs 3x3 at 8x8 (3->a), 4x4 (a->b), 2x2 (b->c), then Linear c->4; pools/BN/ReLU are not FLOPs."""
    conv = 2 * 9 * (SHAPE[0] * a * 8 * 8 + a * b * 4 * 4 + b * c * 2 * 2)
    return conv + 2 * c * NUM_CLASSES


def vgg_tiny_params(a: int, b: int, c: int) -> int:
    convs = 9 * (SHAPE[0] * a + a * b + b * c)  # bias-free
    return convs + 2 * (a + b + c) + c * NUM_CLASSES + NUM_CLASSES


@pytest.mark.parametrize("name", ["vgg_tiny", "resnet_tiny"])
@pytest.mark.parametrize("seed", [0, 1])
def test_pruned_outputs_equal_soft_masked(name: str, seed: int) -> None:
    model = randomized(name, seed)
    masks = random_masks(model, seed)
    x = torch.randn(5, *SHAPE, generator=torch.Generator().manual_seed(seed))
    dense_out = model(x).detach()
    dense_spec = model.channel_spec()

    soft = apply_soft_mask_(copy.deepcopy(model), masks)
    pruned = prune_channels(model, masks, SHAPE)
    assert pruned is not model
    assert pruned.channel_spec() == [int(m.sum()) for m in masks]
    assert pruned.arch["channels"] == pruned.channel_spec()
    assert pruned.channel_spec()[0] == 1
    assert pruned.training is False  # mode preserved

    with torch.no_grad():
        soft_out, pruned_out = soft(x), pruned(x)
    assert torch.allclose(pruned_out, soft_out, atol=1e-5)
    assert not torch.allclose(soft_out, dense_out, atol=1e-3)  # the mask did change the function
    # the original is untouched
    assert model.channel_spec() == dense_spec
    assert torch.equal(model(x).detach(), dense_out)


def test_soft_mask_zeroes_gamma_and_beta_of_masked_channels_only() -> None:
    model = randomized("vgg_tiny")
    before = [(bn.weight.detach().clone(), bn.bias.detach().clone()) for _, bn in model.prunable_bns()]
    masks = random_masks(model, 3)
    apply_soft_mask_(model, masks)
    for (_, bn), (w, b), m in zip(model.prunable_bns(), before, masks):
        assert torch.equal(bn.weight.detach(), torch.where(m, w, torch.zeros_like(w)))
        assert torch.equal(bn.bias.detach(), torch.where(m, b, torch.zeros_like(b)))


@pytest.mark.parametrize("name", ["vgg_tiny", "resnet_tiny"])
def test_pruned_flops_and_params_match_direct_count_and_rebuild(name: str) -> None:
    model = randomized(name)
    pruned = prune_channels(model, random_masks(model, 7), SHAPE)
    flops, params = count_flops(pruned, SHAPE), count_params(pruned)
    assert flops == direct_flops(pruned)
    assert params == sum(p.numel() for p in pruned.parameters())

    rebuilt = create_model(
        name, in_channels=SHAPE[0], num_classes=NUM_CLASSES, input_size=SHAPE[1], channels=pruned.channel_spec()
    )
    assert rebuilt.channel_spec() == pruned.channel_spec()
    assert count_flops(rebuilt, SHAPE) == flops
    assert count_params(rebuilt) == params
    # same tensors shape by shape, so the pruned weights load into the rebuilt net and compute the same
    rebuilt.load_state_dict(pruned.state_dict())
    x = torch.randn(3, *SHAPE)
    with torch.no_grad():
        assert torch.allclose(rebuilt.eval()(x), pruned.eval()(x), atol=1e-6)

    assert flops < count_flops(model, SHAPE)
    assert params < count_params(model)


@pytest.mark.parametrize("spec", [[8, 16, 16], [1, 5, 9], [3, 1, 16]])
def test_vgg_tiny_flops_and_params_match_hand_formula(spec: list[int]) -> None:
    model = create_model("vgg_tiny", in_channels=3, num_classes=NUM_CLASSES, input_size=8, channels=spec)
    assert count_flops(model, SHAPE) == vgg_tiny_flops(*spec)
    assert count_params(model) == vgg_tiny_params(*spec)


def test_vgg_tiny_dense_numbers() -> None:
    model = create_model("vgg_tiny", in_channels=3, num_classes=NUM_CLASSES, input_size=8)
    assert count_flops(model, SHAPE) == 83072  # 18 * (1536 + 2048 + 1024) + 128
    assert count_params(model) == 3820


def test_pruned_vgg_tiny_flops_match_hand_formula() -> None:
    model = randomized("vgg_tiny")
    masks = [torch.tensor([True] * 3 + [False] * 5), torch.arange(16) % 4 == 0, torch.arange(16) < 10]
    pruned = prune_channels(model, masks, SHAPE)
    assert pruned.channel_spec() == [3, 4, 10]
    assert count_flops(pruned, SHAPE) == vgg_tiny_flops(3, 4, 10)
    assert count_params(pruned) == vgg_tiny_params(3, 4, 10)
    assert pruned.classifier.in_features == 10
    # the kept channels' BN parameters are the original ones, in order
    kept_gamma = model.prunable_bns()[1][1].weight.detach()[masks[1]]
    assert torch.equal(pruned.prunable_bns()[1][1].weight.detach(), kept_gamma)


def test_resnet_tiny_residual_width_unchanged() -> None:
    model = randomized("resnet_tiny")
    masks = random_masks(model, 11)
    pruned = prune_channels(model, masks, SHAPE)
    assert model.channel_spec() == [4, 8, 16]
    assert pruned.channel_spec() == [int(m.sum()) for m in masks]
    assert pruned.conv1.out_channels == model.conv1.out_channels == 4
    assert pruned.bn1.num_features == 4
    assert pruned.fc.in_features == model.fc.in_features == 16
    for stage in ("layer1", "layer2", "layer3"):
        blk, ref = getattr(pruned, stage)[0], getattr(model, stage)[0]
        assert blk.conv1.in_channels == ref.conv1.in_channels
        assert blk.conv2.out_channels == ref.conv2.out_channels
        assert blk.bn2.weight.shape == ref.bn2.weight.shape
        assert blk.conv1.out_channels == blk.bn1.weight.shape[0] == blk.conv2.in_channels
        if isinstance(ref.shortcut, nn.Sequential):
            assert blk.shortcut[0].weight.shape == ref.shortcut[0].weight.shape


@pytest.mark.parametrize("name", ["vgg_tiny", "resnet_tiny"])
def test_all_false_layer_mask_raises(name: str) -> None:
    model = randomized(name)
    masks = random_masks(model, 0)
    masks[1] = torch.zeros_like(masks[1])
    with pytest.raises(PruningError, match="empty prunable layer 1"):
        prune_channels(model, masks, SHAPE)
    with pytest.raises(PruningError, match="empty prunable layer 1"):
        apply_soft_mask_(model, masks)


def test_wrong_mask_layout_raises() -> None:
    model = randomized("vgg_tiny")
    masks = random_masks(model, 0)
    with pytest.raises(PruningError, match="2 layers"):
        prune_channels(model, masks[:2], SHAPE)
    with pytest.raises(PruningError, match="9 entries"):
        prune_channels(model, [torch.ones(9, dtype=torch.bool), *masks[1:]], SHAPE)


def test_all_true_mask_is_identity() -> None:
    model = randomized("resnet_tiny")
    masks = [torch.ones(bn.num_features, dtype=torch.bool) for _, bn in model.prunable_bns()]
    pruned = prune_channels(model, masks, SHAPE)
    assert pruned.channel_spec() == model.channel_spec()
    assert count_flops(pruned, SHAPE) == count_flops(model, SHAPE)
    x = torch.randn(2, *SHAPE)
    with torch.no_grad():
        assert torch.equal(pruned(x), model(x))


@pytest.mark.parametrize("name", ["vgg_tiny", "resnet_tiny"])
def test_save_load_ticket_round_trip(name: str, tmp_path) -> None:
    model = randomized(name)
    pruned = prune_channels(model, random_masks(model, 5), SHAPE)
    folder = save_ticket(pruned, tmp_path / "ticket", {"final_metrics": {"flops": 1}})
    arch = json.loads((folder / ARCH_FILE).read_text())
    assert arch["channels"] == pruned.channel_spec()
    assert arch["name"] == name
    loaded = load_ticket(folder).eval()
    assert loaded.channel_spec() == pruned.channel_spec()
    assert count_flops(loaded, SHAPE) == count_flops(pruned, SHAPE)
    x = torch.randn(4, *SHAPE)
    with torch.no_grad():
        assert torch.equal(loaded(x), pruned.eval()(x))
    for key, value in pruned.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
