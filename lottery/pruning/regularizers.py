"""Sparsity regularisers applied to gradients after backward (the `after_backward` hook)."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from lottery.pruning.channel_mask import prunable_bns


def bn_l1_hook(coefficient: float) -> Callable[[nn.Module], None]:
    """After backward, add lambda * sign(gamma) to each prunable BN's gradient (Network Slimming's
    L1 on the BN scales, which Early-Bird's search uses too)."""

    def hook(model: nn.Module) -> None:
        for bn in prunable_bns(model):
            if bn.weight.grad is not None:
                bn.weight.grad.add_(coefficient * torch.sign(bn.weight.detach()))

    return hook
