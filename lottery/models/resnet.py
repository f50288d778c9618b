"""CIFAR ResNet (He et al. 2016, BasicBlock, 3 stages). Only each block's bn1 is prunable.

The residual stream is never pruned (Early-Bird reference code's choice): cutting it would
have to stay consistent across every block of a stage and its shortcut.
"""
from __future__ import annotations

from functools import partial

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lottery.models.base import MODELS, PrunableNet, check_channels, init_weights, scaled

STAGE_WIDTHS = (16, 32, 64)
STAGE_STRIDES = (1, 2, 2)


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN + shortcut (1x1 conv + BN when the shape changes), then ReLU."""

    def __init__(self, c_in: int, c_mid: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_mid, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_mid)
        self.conv2 = nn.Conv2d(c_mid, c_out, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(PrunableNet):
    """Stem conv + 3 stages of BasicBlocks (16/32/64 x width) + global pool + Linear."""

    def __init__(
        self,
        blocks_per_stage: int,
        base_width: int = 16,
        *,
        name: str,
        in_channels: int,
        num_classes: int,
        input_size: int,
        width: float = 1.0,
        channels: list[int] | None = None,
    ) -> None:
        super().__init__()
        n_blocks = 3 * blocks_per_stage
        spec = check_channels(name, channels, n_blocks)
        self.arch = {
            "name": name,
            "in_channels": in_channels,
            "num_classes": num_classes,
            "input_size": input_size,
            "width": width,
            "channels": None if channels is None else list(channels),
        }
        stage_widths = [scaled(base_width * m, width) for m in (1, 2, 4)]

        self.conv1 = nn.Conv2d(in_channels, stage_widths[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(stage_widths[0])
        c_in, k = stage_widths[0], 0
        bn_names: list[str] = []
        stages: list[nn.Sequential] = []
        for s, (c_out, stride) in enumerate(zip(stage_widths, STAGE_STRIDES)):
            blocks = []
            for b in range(blocks_per_stage):
                c_mid = spec[k] if spec is not None else c_out
                blocks.append(BasicBlock(c_in, c_mid, c_out, stride if b == 0 else 1))
                bn_names.append(f"layer{s + 1}.{b}.bn1")
                c_in, k = c_out, k + 1
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, num_classes)
        init_weights(self)
        self._set_prunable(bn_names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.fc(torch.flatten(self.pool(out), 1))


def _build(blocks_per_stage: int, base_width: int, **kwargs: Any) -> CifarResNet:
    return CifarResNet(blocks_per_stage, base_width, **kwargs)


MODELS.register("resnet20", help="CIFAR ResNet-20 (3 BasicBlocks per stage)")(partial(_build, 3, 16))
MODELS.register("resnet56", help="CIFAR ResNet-56 (9 BasicBlocks per stage)")(partial(_build, 9, 16))
MODELS.register("resnet_tiny", help="1 block per stage, base width 4, for tests")(partial(_build, 1, 4))
