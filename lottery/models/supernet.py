"""SuperTickets supernet: MobileNetV2-style inverted-residual blocks with three kernel paths (3, 5, 7).

Each block's depthwise stage has one path per kernel size; a path is expand 1x1 -> BN -> ReLU6 ->
depthwise kxk -> BN (the searched gamma) -> ReLU6 -> project 1x1, and the paths' projections are
summed, then batch-normalised (plus the identity when stride is 1 and the widths match). The
architecture is the hidden width of every path: `channels` lists it block by block, path by path
(k3, k5, k7), 0 meaning the path is gone, so `create_model(**model.current_arch())` rebuilds a
shrunk supernet exactly. Every block keeps at least one hidden channel in total (else the block
would output only its BN bias and cut the gradient to everything before it).
"""
from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from lottery.errors import ConfigError
from lottery.models.base import MODELS, PrunableNet, init_weights, scaled

KERNELS = (3, 5, 7)
PATHS = tuple(f"k{k}" for k in KERNELS)

# (expand ratio t, output channels, stride) per block; t * c_in hidden channels are split evenly
# over the three paths, so the full supernet has MobileNetV2's hidden width per block.
BlockCfg = tuple[int, int, int]
SUPERNET_CFGS: dict[str, dict[str, Any]] = {
    "supernet": {"stem": 32, "stem_stride": 1, "head": 0, "blocks": [
        (1, 16, 1), (6, 24, 1), (6, 24, 1), (6, 32, 2), (6, 32, 1), (6, 64, 2), (6, 64, 1), (6, 96, 1),
        (6, 160, 2), (6, 320, 1)]},
    "supernet224": {"stem": 32, "stem_stride": 2, "head": 1280, "blocks": [
        (1, 16, 1), (6, 24, 2), (6, 24, 1), (6, 32, 2), (6, 32, 1), (6, 32, 1), (6, 64, 2), (6, 64, 1),
        (6, 96, 1), (6, 96, 1), (6, 160, 2), (6, 160, 1), (6, 320, 1)]},
    "supernet_tiny": {"stem": 8, "stem_stride": 1, "head": 0, "blocks": [(3, 8, 1), (3, 12, 2), (3, 12, 1)]},
}


class KernelPath(nn.Module):
    """expand 1x1 -> BN -> ReLU6 -> depthwise kxk -> BN -> ReLU6 -> project 1x1 (no BN after project)."""

    dw_bn: nn.BatchNorm2d

    def __init__(self, c_in: int, hidden: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.expand = nn.Conv2d(c_in, hidden, 1, bias=False)
        self.expand_bn = nn.BatchNorm2d(hidden)
        self.dw = nn.Conv2d(hidden, hidden, kernel, stride=stride, padding=kernel // 2, groups=hidden, bias=False)
        self.dw_bn = nn.BatchNorm2d(hidden)
        self.project = nn.Conv2d(hidden, c_out, 1, bias=False)
        self.act = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.expand_bn(self.expand(x)))
        return self.project(self.act(self.dw_bn(self.dw(x))))


class SuperBlock(nn.Module):
    """Inverted residual whose depthwise stage is the sum of the present kernel paths."""

    def __init__(self, c_in: int, c_out: int, stride: int, hidden: dict[str, int], in_size: int) -> None:
        super().__init__()
        self.c_in, self.c_out, self.stride, self.in_size = c_in, c_out, stride, in_size
        self.out_size = (in_size - 1) // stride + 1
        self.paths = nn.ModuleDict({
            p: KernelPath(c_in, h, c_out, k, stride) for p, k in zip(PATHS, KERNELS) if (h := hidden[p]) > 0
        })
        self.out_bn = nn.BatchNorm2d(c_out)
        self.residual = stride == 1 and c_in == c_out

    def present_paths(self) -> dict[str, KernelPath]:
        """The kernel paths this block still has, by name (k3, k5, k7)."""
        return {p: path for p, path in self.paths.items() if isinstance(path, KernelPath)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total: torch.Tensor | None = None
        for path in self.paths.values():  # summed in path order, as Python's sum() would
            total = path(x) if total is None else total + path(x)
        if total is None:
            raise ValueError("a SuperBlock with no kernel path")
        out = self.out_bn(total)
        return out + x if self.residual else out

    def channel_macs(self, path: str) -> int:
        """Multiply-accumulates one hidden channel of `path` costs: its expand row, kxk filter and project column."""
        k = KERNELS[PATHS.index(path)]
        return self.c_in * self.in_size**2 + k * k * self.out_size**2 + self.c_out * self.out_size**2


class SuperNet(PrunableNet):
    """Stem conv, SuperBlocks, optional 1x1 head conv, global pool, one Linear.

    Strides apply only while the feature map is >= 2 px (as in vgg), so 8x8 digits, 32x32 CIFAR and
    224 px inputs all fit; `supernet224` has the ImageNet stem stride and head conv.
    """

    def __init__(self, cfg: dict[str, Any], *, name: str, in_channels: int, num_classes: int, input_size: int,
                 width: float = 1.0, channels: list[int] | None = None) -> None:
        super().__init__()
        blocks: list[BlockCfg] = cfg["blocks"]
        stem = scaled(cfg["stem"], width)
        widths = [scaled(c, width) for _, c, _ in blocks]
        full = []
        c_in = stem
        for (t, _, _), c_out in zip(blocks, widths):
            full += [max(1, round(t * c_in / len(PATHS)))] * len(PATHS)
            c_in = c_out
        spec = full if channels is None else check_path_channels(name, channels, len(blocks))
        self.arch = {"name": name, "in_channels": in_channels, "num_classes": num_classes, "input_size": input_size,
                     "width": width, "channels": None if channels is None else list(spec)}
        self.dense_channels = full

        size = input_size
        stride = cfg["stem_stride"] if size >= 2 else 1
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 3, stride=stride, padding=1, bias=False),
                                  nn.BatchNorm2d(stem), nn.ReLU6(inplace=True))
        size = (size - 1) // stride + 1
        layers, c_in = [], stem
        for i, ((_, _, s), c_out) in enumerate(zip(blocks, widths)):
            s = s if size >= 2 else 1
            hidden = dict(zip(PATHS, spec[3 * i: 3 * i + 3]))
            layers.append(SuperBlock(c_in, c_out, s, hidden, size))
            size, c_in = layers[-1].out_size, c_out
        self.blocks = nn.ModuleList(layers)
        head = scaled(cfg["head"], width) if cfg["head"] else 0
        self.head = (nn.Sequential(nn.Conv2d(c_in, head, 1, bias=False), nn.BatchNorm2d(head), nn.ReLU6(inplace=True))
                     if head else nn.Identity())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(head or c_in, num_classes)
        init_weights(self)
        self._set_prunable([name for name, _ in self.searched_bns()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.classifier(torch.flatten(self.pool(self.head(x)), 1))

    def super_blocks(self) -> list[SuperBlock]:
        return [block for block in self.blocks if isinstance(block, SuperBlock)]

    def searched_bns(self) -> list[tuple[str, nn.BatchNorm2d]]:
        """(name, BN after the depthwise conv) of every present path: the gammas the search penalises."""
        return [(f"blocks.{i}.paths.{p}.dw_bn", path.dw_bn)
                for i, block in enumerate(self.super_blocks()) for p, path in block.present_paths().items()]

    def path_widths(self) -> list[int]:
        """Hidden width of every (block, path) in block-major k3, k5, k7 order; 0 = path removed."""
        widths = []
        for block in self.super_blocks():
            paths = block.present_paths()
            widths += [paths[p].dw_bn.num_features if p in paths else 0 for p in PATHS]
        return widths

    def current_arch(self) -> dict[str, Any]:
        """The kwargs that rebuild this (possibly shrunk) supernet, removed paths included as 0."""
        return {**self.arch, "channels": self.path_widths()}

    def channel_macs(self) -> dict[str, int]:
        """Per-channel MACs of every present path, keyed by its searched BN's name."""
        return {f"blocks.{i}.paths.{p}.dw_bn": block.channel_macs(p)
                for i, block in enumerate(self.super_blocks()) for p in block.present_paths()}

    def describe_arch(self) -> str:
        """A Markdown table of the searched architecture (written next to the ticket)."""
        dense = self.dense_channels
        lines = [f"# {self.arch['name']} architecture", "",
                 "Hidden channels kept per kernel path (kept / supernet; 0 = path removed).", "",
                 "| block | in | out | stride | k3 | k5 | k7 |", "|---|---|---|---|---|---|---|"]
        widths = self.path_widths()
        for i, block in enumerate(self.blocks):
            cells = [f"{widths[3 * i + j]} / {dense[3 * i + j]}" for j in range(3)]
            lines.append(f"| {i} | {block.c_in} | {block.c_out} | {block.stride} | " + " | ".join(cells) + " |")
        totals = [sum(widths[j::3]) for j in range(3)]
        lines += ["", f"Total per path: k3 {totals[0]}, k5 {totals[1]}, k7 {totals[2]} "
                      f"({sum(widths)} of {sum(dense)} hidden channels)."]
        return "\n".join(lines) + "\n"


def check_path_channels(name: str, channels: list[int], n_blocks: int) -> list[int]:
    """Validate a per-(block, path) width list: 3 entries per block, >= 0, >= 1 per block."""
    spec = list(channels)
    if len(spec) != 3 * n_blocks:
        raise ConfigError(f"model {name!r}: channels must list {3 * n_blocks} widths (k3, k5, k7 for each of "
                          f"{n_blocks} blocks), got {len(spec)}")
    for i, c in enumerate(spec):
        if not isinstance(c, int) or isinstance(c, bool) or c < 0:
            raise ConfigError(f"model {name!r}: channels[{i}] must be an integer >= 0, got {c!r}")
    for b in range(n_blocks):
        if sum(spec[3 * b: 3 * b + 3]) == 0:
            raise ConfigError(f"model {name!r}: block {b} has no channels left in any path; valid: >= 1 in total")
    return spec


def is_supernet(model: nn.Module) -> bool:
    return isinstance(model, SuperNet)


def _build(cfg_name: str, **kwargs: Any) -> SuperNet:
    return SuperNet(SUPERNET_CFGS[cfg_name], **kwargs)


for _name, _help in (
    ("supernet", "SuperTickets supernet: MobileNetV2 blocks with k3/k5/k7 paths, CIFAR/digits strides"),
    ("supernet224", "SuperTickets supernet for 224 px inputs (stride-2 stem, 1280 head conv)"),
    ("supernet_tiny", "3-block SuperTickets supernet for tests"),
):
    MODELS.register(_name, help=_help)(partial(_build, _name))
