"""Shared pieces of every model: the registry, argument checks, init, and the prunable-channel API.

Pruning tools (torch-pruning) cut channels in place, so the prunable layers are remembered by
*name* and their widths are always read back from the live layers, never from a cached list.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Callable

from torch import nn

from lottery.errors import ConfigError
from lottery.registry import Registry

ModelBuilder = Callable[..., nn.Module]

MODELS: Registry[ModelBuilder] = Registry("model")

BN_INIT_GAMMA = 0.5  # Early-Bird CIFAR recipe: BN scale factors start at 0.5 so L1 on gamma has room to act.


def scaled(width_value: int, width: float) -> int:
    """Channel count after the width multiplier: rounded, never below one."""
    return max(1, int(round(width_value * width)))


def check_common(name: str, *, in_channels: int, num_classes: int, input_size: int, width: float) -> None:
    """Reject impossible shapes early with a ConfigError that names the bad value."""
    for key, value in (("in_channels", in_channels), ("num_classes", num_classes), ("input_size", input_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"model {name!r}: {key} must be a positive integer, got {value!r}")
    if not isinstance(width, (int, float)) or isinstance(width, bool) or not width > 0:
        raise ConfigError(f"model {name!r}: width must be a positive number, got {width!r}")


def check_channels(name: str, channels: list[int] | None, expected_len: int) -> list[int] | None:
    """Validate an explicit per-prunable-layer channel spec (length and positivity)."""
    if channels is None:
        return None
    spec = list(channels)
    if len(spec) != expected_len:
        raise ConfigError(
            f"model {name!r}: channels must list {expected_len} widths (one per prunable BatchNorm), got {len(spec)}"
        )
    for i, c in enumerate(spec):
        if not isinstance(c, int) or isinstance(c, bool) or c < 1:
            raise ConfigError(f"model {name!r}: channels[{i}] must be a positive integer, got {c!r}")
    return spec


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal convs, BN gamma=0.5 / beta=0; Linear keeps PyTorch's default init."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, BN_INIT_GAMMA)
            nn.init.zeros_(m.bias)


class PrunableNet(nn.Module):
    """Base class: subclasses call `_set_prunable(names)` once their BN layers exist."""

    arch: dict[str, Any]

    def __init__(self) -> None:
        super().__init__()
        self._prunable_names: list[str] = []

    def _set_prunable(self, names: list[str]) -> None:
        for n in names:
            if not isinstance(self.get_submodule(n), nn.BatchNorm2d):
                raise TypeError(f"{n} is not a BatchNorm2d")
        self._prunable_names = list(names)

    def prunable_bns(self) -> list[tuple[str, nn.BatchNorm2d]]:
        """The BatchNorm2d layers whose channels may be physically removed, in a fixed order."""
        layers = [(n, self.get_submodule(n)) for n in self._prunable_names]
        return [(n, bn) for n, bn in layers if isinstance(bn, nn.BatchNorm2d)]

    def channel_spec(self) -> list[int]:
        """Current width of each prunable BN, read from the live parameters (valid after in-place pruning)."""
        return [bn_width(bn) for _, bn in self.prunable_bns()]

    def current_arch(self) -> dict[str, Any]:
        """`arch` with `channels` set to the live spec: the kwargs that rebuild this (possibly pruned) model."""
        return {**self.arch, "channels": self.channel_spec()}


def as_prunable(model: nn.Module) -> PrunableNet:
    """`model` as a PrunableNet (every registered model is one); anything else is a programming error."""
    if not isinstance(model, PrunableNet):
        raise TypeError(f"{type(model).__name__} is not a registered (prunable) model")
    return model


def stored_arch(model: nn.Module) -> dict[str, Any]:
    """The kwargs the model was built from (`arch`), which rebuild it with `model_from_arch`."""
    arch: dict[str, Any] = getattr(model, "arch")
    return dict(arch)


def live_arch(model: nn.Module) -> dict[str, Any]:
    """The kwargs that rebuild `model` as it is now (channel-pruned models report their live widths)."""
    current = getattr(model, "current_arch", None)
    return dict(current()) if callable(current) else stored_arch(model)


def bn_width(bn: nn.BatchNorm2d) -> int:
    """Number of channels a BN actually holds (parameters first, in case a tool forgot num_features)."""
    if bn.weight is not None:
        return int(bn.weight.shape[0])
    if bn.running_mean is not None:
        return int(bn.running_mean.shape[0])
    return int(bn.num_features)


def create_model(
    name: str,
    *,
    in_channels: int,
    num_classes: int,
    input_size: int,
    width: float = 1.0,
    channels: list[int] | None = None,
) -> nn.Module:
    """Build a registered model by name; `channels` (one width per prunable BN) rebuilds a pruned shape."""
    builder = MODELS.get(name)
    check_common(name, in_channels=in_channels, num_classes=num_classes, input_size=input_size, width=width)
    return builder(
        name=name,
        in_channels=in_channels,
        num_classes=num_classes,
        input_size=input_size,
        width=float(width),
        channels=None if channels is None else list(channels),
    )
