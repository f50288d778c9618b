"""Inference cost of a model: FLOPs by torch's own counter (2 x MACs) and parameter counts."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _counted_forward(model: nn.Module, input_shape: tuple[int, ...]) -> FlopCounterMode:
    """Run one eval-mode forward pass of a single zero sample under torch's FLOP counter."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros((1, *input_shape), device=device))
    model.train(was_training)
    return counter


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass of a single sample, counted by torch.utils.flop_counter."""
    return int(_counted_forward(model, input_shape).get_total_flops())


def count_params(model: nn.Module) -> int:
    """All parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def count_nonzero_params(model: nn.Module) -> int:
    """Parameters that are not exactly zero (what unstructured sparsity reduces)."""
    return sum(int((p != 0).sum().item()) for p in model.parameters())


def count_sparse_flops(model: nn.Module, input_shape: tuple[int, ...], masks: dict[str, torch.Tensor]) -> int:
    """Dense FLOPs of each layer times the density of its weight mask, summed ("sparse FLOPs").

    Per-module counts come from torch's FlopCounterMode (keyed 'ClassName.module.path').
    """
    counter = _counted_forward(model, input_shape)
    per_module = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
    prefix = type(model).__name__
    total = int(counter.get_total_flops())
    saved = 0.0
    for name, mask in masks.items():
        module = name.rsplit(".", 1)[0]
        layer_flops = per_module.get(f"{prefix}.{module}", 0)
        saved += layer_flops * (1.0 - mask.float().mean().item())
    return int(round(total - saved))
