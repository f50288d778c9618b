"""CIFAR-style VGG with BatchNorm (Network-Slimming / Early-Bird configs); every conv BN is prunable."""
from __future__ import annotations

from functools import partial
from typing import Any, Union

import torch
from torch import nn

from lottery.models.base import MODELS, PrunableNet, check_channels, init_weights, scaled

Cfg = list[Union[int, str]]

# Network-Slimming cfgs: ints are conv widths, "M" a 2x2 max-pool (no pool after the last stage,
# the head pools globally).
VGG_CFGS: dict[str, Cfg] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    "vgg_tiny": [8, "M", 16, "M", 16],
}


class VGG(PrunableNet):
    """conv3x3-BN-ReLU stacks, max-pools only while the feature map is >= 2 px, global pool, one Linear."""

    def __init__(
        self,
        cfg: Cfg,
        *,
        name: str,
        in_channels: int,
        num_classes: int,
        input_size: int,
        width: float = 1.0,
        channels: list[int] | None = None,
    ) -> None:
        super().__init__()
        n_convs = sum(1 for v in cfg if v != "M")
        spec = check_channels(name, channels, n_convs)
        widths = spec if spec is not None else [scaled(int(v), width) for v in cfg if v != "M"]
        self.arch = {
            "name": name,
            "in_channels": in_channels,
            "num_classes": num_classes,
            "input_size": input_size,
            "width": width,
            "channels": None if channels is None else list(channels),
        }

        layers: list[nn.Module] = []
        bn_names: list[str] = []
        size, c_in, k = input_size, in_channels, 0
        for v in cfg:
            if v == "M":
                if size >= 2:  # tiny inputs (8x8 digits) simply skip the late pools
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                    size //= 2
                continue
            c_out = widths[k]
            k += 1
            layers.append(nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False))
            bn_names.append(f"features.{len(layers)}")
            layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU(inplace=True))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, num_classes)
        init_weights(self)
        self._set_prunable(bn_names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def _build(cfg_name: str, **kwargs: Any) -> VGG:
    return VGG(VGG_CFGS[cfg_name], **kwargs)


for _name, _help in (
    ("vgg11", "VGG-11 with BN (8 convs), CIFAR style"),
    ("vgg16", "VGG-16 with BN (13 convs), CIFAR style"),
    ("vgg_tiny", "3-conv VGG (8,16,16) for tests"),
):
    MODELS.register(_name, help=_help)(partial(_build, _name))
