"""Model zoo: shapes, the prunable-channel API, and rebuild-from-spec fidelity."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from lottery.errors import ConfigError
from lottery.models import MODELS, create_model

ALL_MODELS = MODELS.names()
INPUTS = [(1, 8), (3, 32)]  # (in_channels, input_size)


def shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items() if v.dim() > 0}


def changed_keys(a: nn.Module, b: nn.Module) -> set[str]:
    sa, sb = shapes(a), shapes(b)
    assert sa.keys() == sb.keys()
    return {k for k in sa if sa[k] != sb[k]}


def test_registry_lists_expected_models() -> None:
    assert set(ALL_MODELS) == {"vgg11", "vgg16", "vgg_tiny", "resnet20", "resnet56", "resnet_tiny"} | {
        "supernet", "supernet224", "supernet_tiny"}


@pytest.mark.parametrize("name", ALL_MODELS)
@pytest.mark.parametrize("in_channels,size", INPUTS)
def test_forward_backward(name: str, in_channels: int, size: int) -> None:
    torch.manual_seed(0)
    model = create_model(name, in_channels=in_channels, num_classes=7, input_size=size)
    x = torch.randn(2, in_channels, size, size)
    out = model(x)
    assert out.shape == (2, 7)
    out.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_arch_and_channel_spec(name: str) -> None:
    model = create_model(name, in_channels=3, num_classes=10, input_size=32)
    assert model.arch == {
        "name": name, "in_channels": 3, "num_classes": 10, "input_size": 32, "width": 1.0, "channels": None,
    }
    bns = model.prunable_bns()
    assert model.channel_spec() == [bn.num_features for _, bn in bns]
    assert model.channel_spec() == [bn.weight.shape[0] for _, bn in bns]
    named = dict(model.named_modules())
    assert all(named[n] is bn for n, bn in bns)
    rebuilt = create_model(**model.current_arch())
    assert shapes(rebuilt) == shapes(model)


def test_vgg_specs_and_prunable_set() -> None:
    vgg16 = create_model("vgg16", in_channels=3, num_classes=10, input_size=32)
    assert vgg16.channel_spec() == [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    all_bns = [m for m in vgg16.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [bn for _, bn in vgg16.prunable_bns()] == all_bns
    assert create_model("vgg11", in_channels=3, num_classes=10, input_size=32).channel_spec() == [
        64, 128, 256, 256, 512, 512, 512, 512,
    ]
    assert create_model("vgg_tiny", in_channels=1, num_classes=10, input_size=8).channel_spec() == [8, 16, 16]
    assert vgg16.classifier.in_features == 512


def test_vgg_pools_only_while_spatial_size_at_least_two() -> None:
    def n_pools(size: int) -> int:
        m = create_model("vgg16", in_channels=1, num_classes=10, input_size=size)
        return sum(isinstance(layer, nn.MaxPool2d) for layer in m.features)

    assert n_pools(32) == 4
    assert n_pools(8) == 3  # 8 -> 4 -> 2 -> 1, the fourth pool is skipped
    assert n_pools(1) == 0


def test_width_multiplier() -> None:
    half = create_model("vgg_tiny", in_channels=3, num_classes=10, input_size=8, width=0.5)
    assert half.channel_spec() == [4, 8, 8]
    tiny = create_model("vgg_tiny", in_channels=3, num_classes=10, input_size=8, width=0.01)
    assert tiny.channel_spec() == [1, 1, 1]
    r = create_model("resnet20", in_channels=3, num_classes=10, input_size=32, width=2.0)
    assert r.channel_spec() == [32] * 3 + [64] * 3 + [128] * 3
    assert r.fc.in_features == 128


def test_resnet_prunable_bns_are_block_bn1() -> None:
    model = create_model("resnet20", in_channels=3, num_classes=10, input_size=32)
    names = [n for n, _ in model.prunable_bns()]
    assert names == [f"layer{s}.{b}.bn1" for s in (1, 2, 3) for b in range(3)]
    assert model.channel_spec() == [16] * 3 + [32] * 3 + [64] * 3
    assert len(create_model("resnet56", in_channels=3, num_classes=10, input_size=32).channel_spec()) == 27
    tiny = create_model("resnet_tiny", in_channels=3, num_classes=10, input_size=32)
    assert [n for n, _ in tiny.prunable_bns()] == ["layer1.0.bn1", "layer2.0.bn1", "layer3.0.bn1"]
    assert tiny.channel_spec() == [4, 8, 16]


def test_resnet_shortcuts() -> None:
    model = create_model("resnet20", in_channels=3, num_classes=10, input_size=32)
    assert isinstance(model.layer1[0].shortcut, nn.Identity)
    assert isinstance(model.layer2[1].shortcut, nn.Identity)
    for stage in (model.layer2, model.layer3):
        conv, bn = stage[0].shortcut
        assert conv.kernel_size == (1, 1) and conv.stride == (2, 2) and isinstance(bn, nn.BatchNorm2d)


def test_reduced_spec_changes_exactly_expected_shapes_vgg() -> None:
    kw = dict(in_channels=3, num_classes=10, input_size=8)
    full = create_model("vgg_tiny", **kw)
    cut = create_model("vgg_tiny", channels=[5, 16, 3], **kw)
    assert cut.channel_spec() == [5, 16, 3]
    bn = ("weight", "bias", "running_mean", "running_var")
    expected = {"features.0.weight", "features.4.weight", "features.8.weight", "classifier.weight"}
    expected |= {f"features.1.{s}" for s in bn} | {f"features.9.{s}" for s in bn}
    assert changed_keys(full, cut) == expected
    s = shapes(cut)
    assert s["features.0.weight"] == (5, 3, 3, 3)
    assert s["features.4.weight"] == (16, 5, 3, 3)
    assert s["features.8.weight"] == (3, 16, 3, 3)
    assert s["classifier.weight"] == (10, 3)
    assert cut(torch.randn(2, 3, 8, 8)).shape == (2, 10)


def test_reduced_spec_changes_exactly_expected_shapes_resnet() -> None:
    kw = dict(in_channels=3, num_classes=10, input_size=32)
    full = create_model("resnet_tiny", **kw)
    cut = create_model("resnet_tiny", channels=[4, 3, 1], **kw)
    assert cut.channel_spec() == [4, 3, 1]
    bn = ("weight", "bias", "running_mean", "running_var")
    expected = set()
    for stage in ("layer2.0", "layer3.0"):
        expected |= {f"{stage}.conv1.weight", f"{stage}.conv2.weight"} | {f"{stage}.bn1.{s}" for s in bn}
    assert changed_keys(full, cut) == expected
    s = shapes(cut)
    assert s["layer2.0.conv1.weight"] == (3, 4, 3, 3)
    assert s["layer2.0.conv2.weight"] == (8, 3, 3, 3)
    assert s["layer3.0.conv2.weight"] == (16, 1, 3, 3)
    assert cut(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name,channels", [("vgg_tiny", [8, 16]), ("vgg_tiny", [8, 0, 16]), ("resnet_tiny", [4, 8, -1]),
                                           ("resnet20", [16] * 8), ("vgg_tiny", [8, 2.5, 16])])
def test_bad_channels_raise_config_error(name: str, channels: list) -> None:
    with pytest.raises(ConfigError, match="channels"):
        create_model(name, in_channels=3, num_classes=10, input_size=8, channels=channels)


@pytest.mark.parametrize("bad", [dict(in_channels=0), dict(num_classes=-1), dict(input_size=0), dict(width=0.0)])
def test_bad_common_args_raise_config_error(bad: dict) -> None:
    kw = dict(in_channels=3, num_classes=10, input_size=8) | bad
    key = next(iter(bad))
    with pytest.raises(ConfigError, match=key):
        create_model("vgg_tiny", **kw)


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        create_model("alexnet", in_channels=3, num_classes=10, input_size=32)
    msg = str(info.value)
    assert "alexnet" in msg and all(n in msg for n in ALL_MODELS)


@pytest.mark.parametrize("name", ["vgg_tiny", "resnet_tiny"])
def test_init_recipe(name: str) -> None:
    model = create_model(name, in_channels=3, num_classes=10, input_size=8)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert torch.all(m.weight == 0.5) and torch.all(m.bias == 0)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d) and m.out_channels >= 8)
    fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
    assert conv.weight.std().item() == pytest.approx((2.0 / fan_out) ** 0.5, rel=0.35)


@pytest.mark.parametrize("name", ["vgg_tiny", "resnet_tiny"])
def test_spec_after_external_pruning_rebuilds_same_shapes(name: str) -> None:
    """Cut channels in place with torch-pruning, then rebuild from channel_spec(): identical shapes."""
    tp = pytest.importorskip("torch_pruning")
    model = create_model(name, in_channels=3, num_classes=10, input_size=8)
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=torch.randn(1, 3, 8, 8))
    for i, (_, bn) in enumerate(model.prunable_bns()):
        group = graph.get_pruning_group(bn, tp.prune_batchnorm_out_channels, idxs=list(range(i + 1)))
        group.prune()
    expected = [w - (i + 1) for i, w in enumerate(create_model(**model.arch).channel_spec())]
    assert model.channel_spec() == expected
    rebuilt = create_model(**model.current_arch())
    assert shapes(rebuilt) == shapes(model)
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 10)
