"""Apply a channel mask: either softly (zero gamma and beta) or physically (a smaller network).

Physical removal uses torch-pruning's dependency graph, which finds every layer coupled to a BN's
channels (the conv before it, the conv or linear after it) so we do not hand-code per-model
slicing. The result is checked: same channel widths as the mask asks for, and it can be rebuilt
from its `arch` by the model registry (so a ticket reloads in a fresh process without pickle).
"""
from __future__ import annotations

import copy

import torch
import torch_pruning as tp
from torch import nn

from lottery.errors import PruningError
from lottery.models.base import as_prunable
from lottery.pruning.channel_mask import prunable_bns


def _check_masks(model: nn.Module, masks: list[torch.Tensor]) -> None:
    bns = prunable_bns(model)
    if len(masks) != len(bns):
        raise PruningError(f"mask has {len(masks)} layers, model has {len(bns)} prunable BNs")
    for i, (bn, mask) in enumerate(zip(bns, masks)):
        if mask.numel() != bn.num_features:
            raise PruningError(f"mask of layer {i} has {mask.numel()} entries, BN has {bn.num_features}")
        if not mask.any():
            raise PruningError(f"mask would empty prunable layer {i}; every layer keeps >= 1 channel")


@torch.no_grad()
def apply_soft_mask_(model: nn.Module, masks: list[torch.Tensor]) -> nn.Module:
    """Zero gamma and beta of masked channels in place: the masked model the physical one must match."""
    _check_masks(model, masks)
    for bn, mask in zip(prunable_bns(model), masks):
        keep = mask.to(bn.weight.device, bn.weight.dtype)
        bn.weight.mul_(keep)
        bn.bias.mul_(keep)
    return model


def prune_channels(model: nn.Module, masks: list[torch.Tensor], input_shape: tuple[int, ...]) -> nn.Module:
    """A physically smaller copy of `model` without the masked channels (the original is untouched)."""
    _check_masks(model, masks)
    pruned = copy.deepcopy(model).cpu()
    was_training = pruned.training
    pruned.eval()
    graph = tp.DependencyGraph().build_dependency(pruned, example_inputs=torch.zeros((1, *input_shape)))
    for bn, mask in zip(prunable_bns(pruned), masks):
        drop = torch.nonzero(~mask.bool().cpu()).flatten().tolist()
        if not drop:
            continue
        group = graph.get_pruning_group(bn, tp.prune_batchnorm_out_channels, idxs=drop)
        if not graph.check_pruning_group(group):
            raise PruningError(f"torch-pruning refused to cut {len(drop)} channels of BN {bn}")
        group.prune()
    pruned.train(was_training)
    expected = [int(m.sum().item()) for m in masks]
    prunable = as_prunable(pruned)
    actual = prunable.channel_spec()
    if actual != expected:
        raise PruningError(f"pruned widths {actual} differ from the mask's {expected}")
    prunable.arch = prunable.current_arch()  # live widths, in the model's own layout
    return pruned.to(next(model.parameters()).device)
