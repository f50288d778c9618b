"""Per-channel scores for structured pruning other than |BN gamma|: filter norms and random draws.

A prunable BN's channel i is produced by filter i of the convolution that feeds it. That conv is
found by tracing one forward pass (the tensor a conv returns is the tensor the BN receives), so
no per-model layout is hard-coded; module order is the fallback for a BN fed through something
else. Masks keep the same fraction of channels in every layer (never fewer than one).
"""
from __future__ import annotations

import torch
from torch import nn

from lottery.errors import ConfigError, PruningError
from lottery.pruning.channel_mask import prunable_bns, round_masks


@torch.no_grad()
def bn_producers(model: nn.Module, input_shape: tuple[int, ...]) -> list[nn.Conv2d]:
    """For each prunable BN (in order), the Conv2d whose output it normalises."""
    bns = prunable_bns(model)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    produced: dict[int, tuple[torch.Tensor, nn.Conv2d]] = {}  # id(output) -> (output kept alive, conv)
    fed: dict[int, nn.Conv2d] = {}

    def conv_hook(conv: nn.Conv2d):
        return lambda _m, _inp, out: produced.__setitem__(id(out), (out, conv))

    def bn_hook(index: int):
        def hook(_m: nn.Module, inp: tuple[torch.Tensor, ...]) -> None:
            hit = produced.get(id(inp[0]))
            if hit is not None and hit[0] is inp[0]:
                fed[index] = hit[1]

        return hook

    handles = [c.register_forward_hook(conv_hook(c)) for c in convs]
    handles += [bn.register_forward_pre_hook(bn_hook(i)) for i, bn in enumerate(bns)]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(torch.zeros((1, *input_shape), device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    order = list(model.modules())
    producers = []
    for i, bn in enumerate(bns):
        conv = fed.get(i)
        if conv is None:  # fallback: the last conv before the BN in module order with matching width
            before = order[: next(k for k, m in enumerate(order) if m is bn)]
            conv = next((m for m in reversed(before) if isinstance(m, nn.Conv2d) and m.out_channels == bn.num_features), None)
        if conv is None or conv.out_channels != bn.num_features:
            raise PruningError(f"no Conv2d with {bn.num_features} output channels feeds prunable BN {i}")
        producers.append(conv)
    return producers


def filter_norm_scores(model: nn.Module, input_shape: tuple[int, ...]) -> list[torch.Tensor]:
    """L2 norm of each output filter of the conv feeding each prunable BN (detached, on CPU)."""
    return [conv.weight.detach().flatten(1).norm(p=2, dim=1).float().cpu() for conv in bn_producers(model, input_shape)]


def random_channel_scores(model: nn.Module, seed: int) -> list[torch.Tensor]:
    """Uniform random scores per prunable BN channel from a seeded generator."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(bn.num_features, generator=gen) for bn in prunable_bns(model)]


def fed_by_first_conv(model: nn.Module, input_shape: tuple[int, ...]) -> list[bool]:
    """Per prunable BN: is it fed by the model's first Conv2d (in module order)?"""
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return [conv is first for conv in bn_producers(model, input_shape)]


def layerwise_channel_mask(
    scores: list[torch.Tensor], sparsity: float, keep_all: list[bool] | None = None, round_to: int = 1
) -> list[torch.Tensor]:
    """Keep the max(1, round((1 - s) * n_l)) highest-scoring channels of each layer l.

    Ties are broken by position (stable sort), so equal scores never draw by chance. Layers with
    `keep_all[l]` set keep every channel. `round_to` N > 1 rounds each count (channel_mask.round_masks).
    """
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"invalid sparsity {sparsity!r}; valid: a number in [0, 1)")
    masks = []
    for i, layer in enumerate(scores):
        n = layer.numel()
        keep = n if keep_all is not None and keep_all[i] else max(1, int(round((1.0 - sparsity) * n)))
        mask = torch.zeros(n, dtype=torch.bool)
        mask[torch.argsort(layer.float().cpu(), descending=True, stable=True)[:keep]] = True
        masks.append(mask)
    return round_masks(masks, scores, round_to)
