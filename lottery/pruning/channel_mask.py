"""Network-Slimming channel masks: score = |BN gamma|, one global threshold over all prunable BNs."""
from __future__ import annotations

import torch
from torch import nn

from lottery.errors import ConfigError
from lottery.models.base import as_prunable


def prunable_bns(model: nn.Module) -> list[nn.BatchNorm2d]:
    """The BatchNorm layers whose channels a ticket may remove (the model decides which)."""
    return [bn for _, bn in as_prunable(model).prunable_bns()]


def bn_scores(model: nn.Module) -> list[torch.Tensor]:
    """|gamma| of every prunable BN, one tensor per layer (detached, on CPU)."""
    return [bn.weight.detach().abs().cpu().clone() for bn in prunable_bns(model)]


def rounded_width(kept: int, full: int, round_to: int) -> int:
    """Channels a layer keeps after hardware rounding, with torch-pruning's `round_to` semantics:
    rounded down to a multiple of `round_to`, but never below `round_to` (a layer is not emptied)
    and never above the layer's full width (a layer kept whole, or narrower than N, stays as is)."""
    if round_to <= 1 or kept >= full:
        return kept
    return min(full, max(round_to, kept - kept % round_to))


def round_masks(masks: list[torch.Tensor], scores: list[torch.Tensor], round_to: int) -> list[torch.Tensor]:
    """Each layer's mask re-drawn as its top-k channels by score, k = rounded_width(kept, n, round_to):
    GPU kernels run fastest on channel counts that are multiples of 8 (tensor-core tiles)."""
    if round_to <= 1:
        return masks
    out = []
    for mask, layer_scores in zip(masks, scores):
        kept, full = int(mask.sum()), mask.numel()
        k = rounded_width(kept, full, round_to)
        if k == kept:
            out.append(mask)
            continue
        new = torch.zeros(full, dtype=torch.bool)
        new[torch.argsort(layer_scores.float().cpu(), descending=True, stable=True)[:k]] = True
        out.append(new)
    return out


def global_channel_mask(scores: list[torch.Tensor], prune_ratio: float, round_to: int = 1) -> list[torch.Tensor]:
    """Keep channels whose score exceeds the global threshold sorted[int(total * p)].

    This is the Early-Bird / Network-Slimming rule. A layer whose channels would all go keeps its
    single best channel, so no layer is ever emptied. `round_to` N > 1 then rounds every layer's
    kept count (round_masks), so the ticket removes about, not exactly, the fraction p.
    """
    if not 0.0 < prune_ratio < 1.0:
        raise ConfigError(f"invalid prune ratio {prune_ratio!r}; valid: a number in (0, 1)")
    flat = torch.cat(scores)
    threshold = torch.sort(flat).values[int(flat.numel() * prune_ratio)]
    masks = []
    for layer_scores in scores:
        keep = layer_scores > threshold
        if not keep.any():
            keep[layer_scores.argmax()] = True
        masks.append(keep)
    return round_masks(masks, scores, round_to)


def flatten_mask(masks: list[torch.Tensor]) -> torch.Tensor:
    """All layer masks as one flat bool vector (what the mask distance compares)."""
    return torch.cat([m.flatten().bool() for m in masks])


def mask_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Normalized Hamming distance: the fraction of positions where two flat masks differ.

    Counted in integers and divided in float64, so a distance of exactly epsilon (e.g. 2 of 20)
    compares equal to epsilon (a float32 mean gives 0.10000000149 > 0.1).
    """
    if a.shape != b.shape:
        raise ValueError(f"masks of different shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.numel() == 0:
        return float("nan")
    return int((a.bool() ^ b.bool()).sum().item()) / a.numel()


def kept_fraction(masks: list[torch.Tensor]) -> float:
    """Fraction of channels a mask keeps."""
    flat = flatten_mask(masks)
    return int(flat.sum().item()) / flat.numel()
