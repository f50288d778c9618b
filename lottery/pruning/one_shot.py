"""One-shot pruning draws shared by the prune-once methods (random, magnitude, robust tickets)."""
from __future__ import annotations

import torch
from torch import nn

from lottery.config import require
from lottery.pruning.channel_scores import fed_by_first_conv, layerwise_channel_mask
from lottery.pruning.channel_surgery import prune_channels

PATTERNS = ("unstructured", "channel")


def check_pruning_params(sparsity: float, pattern: str) -> None:
    """Validation shared by the prune-once methods."""
    require(0.0 < sparsity < 1.0, "method.sparsity", sparsity, "a number in (0, 1)")
    require(pattern in PATTERNS, "method.pattern", pattern, ", ".join(PATTERNS))


def channel_ticket(model: nn.Module, scores: list[torch.Tensor], sparsity: float, skip_first_conv: bool,
                   shape: tuple[int, int, int], round_to: int = 1) -> tuple[nn.Module, list[torch.Tensor]]:
    """Keep the best-scoring channels of each prunable BN (counts rounded to multiples of `round_to`)
    and cut the rest out physically."""
    keep_all = fed_by_first_conv(model, shape) if skip_first_conv else None
    masks = layerwise_channel_mask(scores, sparsity, keep_all, round_to)
    return prune_channels(model, masks, shape), masks
