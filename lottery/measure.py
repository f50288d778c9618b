"""Inference cost of a model: FLOPs by torch's own counter (2 x MACs) and parameter counts."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass of a single sample, counted by torch.utils.flop_counter."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros((1, *input_shape), device=device))
    model.train(was_training)
    return int(counter.get_total_flops())


def count_params(model: nn.Module) -> int:
    """All parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def count_nonzero_params(model: nn.Module) -> int:
    """Parameters that are not exactly zero (what unstructured sparsity reduces)."""
    return sum(int((p != 0).sum().item()) for p in model.parameters())
