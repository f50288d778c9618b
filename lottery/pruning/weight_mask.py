"""Unstructured weight masks: which conv / linear weights a ticket keeps, and keeping them pruned.

Masks are dicts {parameter name: bool tensor of the parameter's shape}. Decisions are pure
functions of scores (magnitude, random, SNIP, ...); `global_topk_masks` turns any score into a
mask hitting the target sparsity exactly (ties broken by position, never by chance).
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from lottery.errors import ConfigError, PruningError

WeightMasks = dict[str, torch.Tensor]


def prunable_weights(model: nn.Module, skip_first_conv: bool = False, skip_classifier: bool = True) -> dict[str, torch.Tensor]:
    """Weights of every Conv2d and Linear, in module order, minus the optionally skipped ends."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if skip_first_conv:
        first_conv = next((i for i, (_, m) in enumerate(layers) if isinstance(m, nn.Conv2d)), None)
        layers = [layer for i, layer in enumerate(layers) if i != first_conv]
    if skip_classifier and layers and isinstance(layers[-1][1], nn.Linear):
        layers = layers[:-1]
    return {f"{name}.weight": m.weight for name, m in layers}


def _check_sparsity(sparsity: float) -> None:
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"invalid sparsity {sparsity!r}; valid: a number in [0, 1)")


def global_topk_masks(scores: Mapping[str, torch.Tensor], sparsity: float) -> WeightMasks:
    """Keep the round((1 - s) * N) highest scores over all layers together (exact count)."""
    _check_sparsity(sparsity)
    flat = torch.cat([s.detach().flatten().float().cpu() for s in scores.values()])
    keep = int(round((1.0 - sparsity) * flat.numel()))
    chosen = torch.zeros(flat.numel(), dtype=torch.bool)
    if keep > 0:
        chosen[torch.topk(flat, keep, sorted=False).indices] = True
    masks, offset = {}, 0
    for name, s in scores.items():
        masks[name] = chosen[offset : offset + s.numel()].view_as(s.cpu()).clone()
        offset += s.numel()
    return masks


def layerwise_topk_masks(scores: Mapping[str, torch.Tensor], sparsity: float) -> WeightMasks:
    """Keep round((1 - s) * n_l) highest scores in each layer l (same sparsity everywhere)."""
    _check_sparsity(sparsity)
    masks = {}
    for name, s in scores.items():
        flat = s.detach().flatten().float().cpu()
        keep = max(1, int(round((1.0 - sparsity) * flat.numel())))
        mask = torch.zeros_like(flat, dtype=torch.bool)
        mask[torch.topk(flat, keep, sorted=False).indices] = True
        masks[name] = mask.view_as(s.cpu())
    return masks


def magnitude_scores(weights: Mapping[str, torch.Tensor], masks: WeightMasks | None = None) -> dict[str, torch.Tensor]:
    """|w|, with already-pruned weights scored -inf so they are never revived by a re-ranking."""
    scores = {}
    for name, w in weights.items():
        s = w.detach().abs().float().cpu()
        if masks is not None:
            s = torch.where(masks[name], s, torch.full_like(s, float("-inf")))
        scores[name] = s
    return scores


def random_scores(weights: Mapping[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Uniform random scores from a seeded generator (the random-pruning control arm)."""
    gen = torch.Generator().manual_seed(seed)
    return {name: torch.rand(w.shape, generator=gen) for name, w in weights.items()}


@torch.no_grad()
def apply_weight_masks_(model: nn.Module, masks: WeightMasks) -> None:
    """Zero the pruned weights in place (called after every optimizer step to keep them zero)."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        params[name].mul_(mask.to(params[name].device, params[name].dtype))


def check_weight_masks(model: nn.Module, masks: WeightMasks) -> None:
    """Every mask is boolean, names a parameter, and has its shape."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        if name not in params:
            raise PruningError(f"mask names {name!r}, which is not a parameter of the model")
        if mask.dtype != torch.bool or mask.shape != params[name].shape:
            raise PruningError(f"mask {name!r} must be bool of shape {tuple(params[name].shape)}, got {mask.dtype} {tuple(mask.shape)}")


def mask_sparsity(masks: WeightMasks) -> float:
    """Fraction of masked-out weights over all masked layers."""
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum().item()) for m in masks.values())
    return 1.0 - kept / total if total else 0.0


def imp_masks(model: nn.Module, previous: WeightMasks | None, sparsity: float,
              skip_first_conv: bool = False, skip_classifier: bool = True) -> WeightMasks:
    """Global magnitude masks at cumulative `sparsity`; weights `previous` pruned are never revived
    (the draw of each iterative-magnitude-pruning round)."""
    weights = prunable_weights(model, skip_first_conv, skip_classifier)
    return global_topk_masks(magnitude_scores(weights, previous), sparsity)
