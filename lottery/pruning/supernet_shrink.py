"""Physically shrink a supernet: drop hidden channels whose searched |gamma| is under a threshold.

Plan (which channels stay), check (every block keeps >= 1 channel), apply (a new, smaller supernet
built from the registry with sliced weights), and remap everything keyed by parameter: SGD momentum
buffers and the unstructured masks / stash slice exactly like the weights they belong to.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from lottery.errors import PruningError
from lottery.pruning.channel_mask import rounded_width
from lottery.models.supernet import PATHS, SuperNet
from lottery.ticket import model_from_arch

# per-path tensors and the dim that indexes hidden channels
_SLICED = {"expand.weight": 0, "dw.weight": 0, "project.weight": 1}
_BN_TENSORS = ("weight", "bias", "running_mean", "running_var")

Keep = dict[str, torch.Tensor]  # path prefix 'blocks.i.paths.kX' -> kept channel indices (sorted)
Plan = dict[str, tuple[int, torch.Tensor]]  # tensor name -> (dim, kept indices)


def kept_channels(model: SuperNet, threshold: float, round_to: int = 1) -> Keep:
    """Channels with |gamma| > threshold per present path; a block that would lose every channel
    keeps its single largest |gamma| (the >= 1 channel per block rule). `round_to` N > 1 rounds each
    surviving path's count as torch-pruning does (channel_mask.rounded_width), keeping the largest |gamma|."""
    keep: Keep = {}
    for i, block in enumerate(model.super_blocks()):
        gammas = {p: path.dw_bn.weight.detach().abs().cpu() for p, path in block.present_paths().items()}
        for p, g in gammas.items():
            idx = torch.nonzero(g > threshold).flatten()
            k = rounded_width(idx.numel(), g.numel(), round_to) if idx.numel() else 0
            if k != idx.numel():
                idx = torch.sort(torch.argsort(g, descending=True, stable=True)[:k]).values
            keep[f"blocks.{i}.paths.{p}"] = idx
        if all(keep[f"blocks.{i}.paths.{p}"].numel() == 0 for p in gammas):
            best = max(gammas, key=lambda p: float(gammas[p].max()))
            keep[f"blocks.{i}.paths.{best}"] = gammas[best].argmax().reshape(1)
    return keep


def slice_plan(keep: Keep) -> Plan:
    plan: Plan = {}
    for prefix, idx in keep.items():
        for suffix, dim in _SLICED.items():
            plan[f"{prefix}.{suffix}"] = (dim, idx)
        for bn in ("expand_bn", "dw_bn"):
            for t in _BN_TENSORS:
                plan[f"{prefix}.{bn}.{t}"] = (0, idx)
    return plan


def slice_tensors(tensors: Mapping[str, torch.Tensor], plan: Plan, keep_names: set[str]) -> dict[str, torch.Tensor]:
    """Tensors of the shrunk model: sliced where planned, dropped when their path is gone."""
    out = {}
    for name, t in tensors.items():
        if name not in keep_names:
            continue
        if name in plan:
            dim, idx = plan[name]
            t = t.index_select(dim, idx.to(t.device))
        out[name] = t
    return out


def shrunk_widths(model: SuperNet, keep: Keep) -> list[int]:
    return [int(keep[f"blocks.{i}.paths.{p}"].numel()) if f"blocks.{i}.paths.{p}" in keep else 0
            for i in range(len(model.blocks)) for p in PATHS]


def shrink(model: SuperNet, keep: Keep) -> tuple[SuperNet, Plan]:
    """A new supernet with only the kept channels (a path with none disappears) and the slice plan."""
    widths = shrunk_widths(model, keep)
    for b in range(len(model.blocks)):
        if sum(widths[3 * b: 3 * b + 3]) == 0:
            raise PruningError(f"shrinking would empty block {b}; every block keeps >= 1 channel")
    plan = slice_plan(keep)
    device = next(model.parameters()).device
    small = model_from_arch({**model.current_arch(), "channels": widths})
    if not isinstance(small, SuperNet):
        raise PruningError(f"shrinking {model.arch['name']} rebuilt a {type(small).__name__}")
    names = set(small.state_dict())
    state = slice_tensors(model.state_dict(), plan, names)
    small.load_state_dict(state)
    small.train(model.training)
    return small.to(device), plan


def remap_optimizer(old: nn.Module, old_opt: torch.optim.Optimizer, new: nn.Module, new_opt: torch.optim.Optimizer,
                    plan: Plan) -> None:
    """Copy each parameter's optimizer state (SGD momentum) into `new_opt`, sliced like the parameter."""
    old_params = dict(old.named_parameters())
    for name, p in new.named_parameters():
        state = old_opt.state.get(old_params[name], {})
        new_state = {}
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == old_params[name].shape and name in plan:
                dim, idx = plan[name]
                value = value.index_select(dim, idx.to(value.device))
            new_state[key] = value.clone() if torch.is_tensor(value) else value
        if new_state:
            new_opt.state[p] = new_state
    for g_new, g_old in zip(new_opt.param_groups, old_opt.param_groups):
        g_new["lr"] = g_old["lr"]


def shrunk_blocks(keep: Keep, model: SuperNet) -> list[str]:
    """Prefixes 'blocks.i' of the blocks that lost at least one channel."""
    widths, before = shrunk_widths(model, keep), model.path_widths()
    return [f"blocks.{b}" for b in range(len(model.blocks)) if widths[3 * b: 3 * b + 3] != before[3 * b: 3 * b + 3]]
