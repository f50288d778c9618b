"""The SuperTickets supernet and its search tools: FLOPs of a path, shrinking, the schedule, regrowth."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from lottery.errors import ConfigError
from lottery.measure import count_flops
from lottery.models import create_model
from lottery.models.supernet import SuperNet
from lottery.pruning.prune_regrow import (
    is_progressive_prune_epoch, is_prune_epoch, progressive_sparsity, prune_step, ramp_end_epoch, reset_masks_, rho_at,
)
from lottery.pruning.supernet_shrink import kept_channels, remap_optimizer, shrink
from lottery.ticket import model_from_arch
from lottery.training.loop import make_optimizer
from lottery.config import TrainConfig

SHAPE = (3, 8, 8)


def tiny(channels: list[int] | None = None) -> SuperNet:
    return create_model("supernet_tiny", in_channels=3, num_classes=4, input_size=8, channels=channels)  # type: ignore[return-value]


def path_flops(c_in: int, hidden: int, c_out: int, k: int, in_size: int, out_size: int) -> int:
    """2 x MACs of expand 1x1, depthwise kxk and project 1x1 (BN, ReLU6 and the sum are not counted)."""
    return 2 * (hidden * c_in * in_size**2 + hidden * k * k * out_size**2 + c_out * hidden * out_size**2)


def test_tiny_supernet_layout_and_rebuild() -> None:
    model = tiny()
    assert model.path_widths() == [8, 8, 8, 8, 8, 8, 12, 12, 12]
    assert [(b.c_in, b.c_out, b.stride, b.in_size) for b in model.blocks] == [(8, 8, 1, 8), (8, 12, 2, 8), (12, 12, 1, 4)]
    again = model_from_arch(model.current_arch())
    assert again.path_widths() == model.path_widths() and len(model.prunable_bns()) == 9


def test_removing_a_path_changes_flops_by_exactly_its_flops() -> None:
    full = count_flops(tiny(), SHAPE)
    without_k5 = count_flops(tiny([8, 8, 8, 8, 0, 8, 12, 12, 12]), SHAPE)  # block 1 loses its 5x5 path
    expected = path_flops(c_in=8, hidden=8, c_out=12, k=5, in_size=8, out_size=4)
    assert expected == 17664
    assert full - without_k5 == expected
    # and the 7x7 path of block 2 as well (4x4 maps, stride 1)
    both = count_flops(tiny([8, 8, 8, 8, 0, 8, 12, 12, 0]), SHAPE)
    assert without_k5 - both == path_flops(12, 12, 12, 7, 4, 4) == 2 * (12 * 12 * 16 + 12 * 49 * 16 + 12 * 12 * 16)


def test_path_channels_are_validated() -> None:
    with pytest.raises(ConfigError, match="block 1 has no channels"):
        tiny([8, 8, 8, 0, 0, 0, 12, 12, 12])
    with pytest.raises(ConfigError, match="must list 9 widths"):
        tiny([8, 8])
    with pytest.raises(ConfigError, match=r"channels\[2\] must be an integer >= 0"):
        tiny([8, 8, -1, 8, 8, 8, 12, 12, 12])


def test_sparsity_schedule_steps_ten_points_every_k_epochs_when_that_reaches_the_target() -> None:
    # 20 epochs, ramp 0.75: the target is due at the end of epoch 14; 10 points per step get there
    assert [progressive_sparsity(e, 2, 0.35, 20, 0.75) for e in range(10)] == [0.0, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.35, 0.35, 0.35]
    assert [progressive_sparsity(e, 1, 0.9, 12, 1.0) for e in range(12)] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9, 0.9]
    assert [e for e in range(9) if is_prune_epoch(e, 3)] == [2, 5, 8]
    assert [rho_at(e, 0.02, 4) for e in range(6)] == [0.0, 0.005, 0.01, 0.015, 0.02, 0.02]
    assert rho_at(0, 0.02, 0) == 0.02
    with pytest.raises(ConfigError, match="pruning interval 0"):
        progressive_sparsity(3, 0, 0.5, 10, 0.75)
    with pytest.raises(ConfigError, match="sparsity ramp 0"):
        progressive_sparsity(3, 1, 0.5, 10, 0.0)


@pytest.mark.parametrize("interval, target, epochs, ramp", [(1, 0.7, 12, 0.75), (2, 0.87, 12, 0.75), (3, 0.9, 10, 0.5),
                                                            (1, 0.95, 4, 1.0), (4, 0.6, 30, 0.75)])
def test_sparsity_schedule_reaches_the_target_monotonically_by_the_ramp_and_holds_it(interval: int, target: float,
                                                                                    epochs: int, ramp: float) -> None:
    values = [progressive_sparsity(e, interval, target, epochs, ramp) for e in range(epochs)]
    steps = [e for e in range(epochs) if is_progressive_prune_epoch(e, interval, epochs, ramp)]
    end = ramp_end_epoch(epochs, ramp)
    assert all(b >= a for a, b in zip(values, values[1:]))  # monotone
    assert values[-1] == target and values[end] == target  # reached by the ramp's end, held to the end
    assert end == max(1, -(-ramp * epochs // 1)) - 1 < epochs - 1 or ramp == 1.0
    assert end in steps and epochs - 1 in steps  # the target is applied by a pruning step, not skipped
    applied = [values[e] for e in steps]
    assert applied == sorted(applied) and applied[-1] == target


def one_conv(values: list[float]) -> nn.Module:
    model = nn.Sequential(nn.Conv2d(1, 1, (1, len(values)), bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor(values).view(1, 1, 1, -1))
    return model


def weight(model: nn.Module) -> list[float]:
    return model[0].weight.detach().flatten().tolist()


@pytest.mark.parametrize("regrow, kept, params, regrown", [
    (True, [False, True, True, False], [0.0, 3.0, 2.0, 0.0], 1),   # stored 2.0 beats the live 0.5: it comes back
    (False, [True, True, False, False], [0.5, 3.0, 0.0, 0.0], 0),  # pruned weights stay pruned
])
def test_prune_step_regrows_stored_weights_only_with_regrow_on(regrow, kept, params, regrown) -> None:
    model = one_conv([4.0, 3.0, 2.0, 1.0])
    masks = {"0.weight": torch.ones(1, 1, 1, 4, dtype=torch.bool)}
    first = prune_step(model, masks, {}, 0.5, regrow)
    assert first.masks["0.weight"].flatten().tolist() == [True, True, False, False] and first.regrown == 0
    assert weight(model) == [4.0, 3.0, 0.0, 0.0]
    with torch.no_grad():
        model[0].weight[0, 0, 0, 0] = 0.5  # training shrank a live weight below a stored one
    second = prune_step(model, first.masks, first.stash, 0.5, regrow)
    assert second.masks["0.weight"].flatten().tolist() == kept
    assert weight(model) == params and second.regrown == regrown


def test_reset_masks_restores_stored_values_of_a_block() -> None:
    model = one_conv([4.0, 3.0, 2.0, 1.0])
    masks = {"0.weight": torch.ones(1, 1, 1, 4, dtype=torch.bool)}
    step = prune_step(model, masks, {}, 0.75, True)
    assert reset_masks_(model, step.masks, step.stash, ["0"]) == 3
    assert weight(model) == [4.0, 3.0, 2.0, 1.0] and bool(step.masks["0.weight"].all())


def test_shrink_drops_channels_and_paths_and_remaps_momentum() -> None:
    torch.manual_seed(0)
    model = tiny()
    opt = make_optimizer(model, TrainConfig(lr=0.1, momentum=0.9))
    x, y = torch.randn(16, *SHAPE), torch.randint(0, 4, (16,))
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()  # fills the momentum buffers
    with torch.no_grad():
        for bn in (model.blocks[0].paths["k3"].dw_bn, ):
            bn.weight[[0, 2]] = 0.0
            bn.bias[[0, 2]] = 0.0
        model.blocks[1].paths["k5"].dw_bn.weight.zero_()
        model.blocks[1].paths["k5"].dw_bn.bias.zero_()
    model.eval()
    keep = kept_channels(model, 1e-3)
    assert keep["blocks.0.paths.k3"].tolist() == [1, 3, 4, 5, 6, 7] and keep["blocks.1.paths.k5"].numel() == 0
    small, plan = shrink(model, keep)
    assert small.path_widths() == [6, 8, 8, 8, 0, 8, 12, 12, 12]
    assert "k5" not in small.blocks[1].paths
    with torch.no_grad():  # the removed channels output exactly 0 (gamma = beta = 0), so nothing changes
        assert torch.allclose(small(x), model(x), atol=1e-5)
    flops_gone = path_flops(8, 8, 12, 5, 8, 4) + path_flops(8, 2, 8, 3, 8, 8)
    assert count_flops(model, SHAPE) - count_flops(small, SHAPE) == flops_gone
    new_opt = make_optimizer(small, TrainConfig(lr=0.1, momentum=0.9))
    remap_optimizer(model, opt, small, new_opt, plan)
    old = dict(model.named_parameters())
    new = dict(small.named_parameters())
    for name, dim in (("blocks.0.paths.k3.expand.weight", 0), ("blocks.0.paths.k3.dw_bn.weight", 0),
                      ("blocks.0.paths.k3.project.weight", 1)):
        old_buf = opt.state[old[name]]["momentum_buffer"]
        assert torch.equal(new_opt.state[new[name]]["momentum_buffer"], old_buf.index_select(dim, torch.tensor([1, 3, 4, 5, 6, 7])))
    assert torch.equal(new_opt.state[new["classifier.weight"]]["momentum_buffer"], opt.state[old["classifier.weight"]]["momentum_buffer"])
    assert not any(n.startswith("blocks.1.paths.k5") for n in new)


def test_a_block_never_loses_its_last_channel() -> None:
    model = tiny()
    with torch.no_grad():
        for path in model.blocks[2].paths.values():
            path.dw_bn.weight.fill_(1e-4)
        model.blocks[2].paths["k7"].dw_bn.weight[5] = 5e-4
    keep = kept_channels(model, 1e-3)
    small, _ = shrink(model, keep)
    assert small.path_widths()[6:] == [0, 0, 1]


def test_generic_channel_surgery_works_on_a_supernet() -> None:
    """prunable_bns() are the depthwise BNs, so torch-pruning surgery (Early-Bird, slimming) applies."""
    from lottery.pruning.channel_surgery import apply_soft_mask_, prune_channels

    torch.manual_seed(0)
    model = tiny([8, 8, 0, 8, 8, 8, 12, 12, 12]).eval()  # a supernet that already lost a path
    masks = [torch.arange(bn.num_features) % 2 == 0 for _, bn in model.prunable_bns()]
    small = prune_channels(model, masks, SHAPE)
    assert small.path_widths() == [4, 4, 0, 4, 4, 4, 6, 6, 6]
    rebuilt = model_from_arch(small.arch)
    rebuilt.load_state_dict(small.state_dict())
    x = torch.randn(4, *SHAPE)
    with torch.no_grad():
        expected = apply_soft_mask_(model, masks)(x)
        assert torch.allclose(small(x), expected, atol=1e-5) and torch.equal(rebuilt.eval()(x), small(x))
