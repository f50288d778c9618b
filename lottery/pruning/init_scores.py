"""Pruning-at-initialisation saliency scores: SNIP, GraSP and SynFlow, as pure functions.

Each function scores the weights `prunable_weights(model, skip_first_conv, skip_classifier)`
returns and gives {parameter name: score tensor of the weight's shape} (on CPU, float32), ready for
`global_topk_masks` (which KEEPS the highest scores). The model is never modified: every score is
computed on a deep copy, so BN running statistics, weights and gradients of `model` stay as they were.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from lottery.errors import ConfigError
from lottery.pruning.weight_mask import WeightMasks, global_topk_masks, prunable_weights

Batch = tuple[torch.Tensor, torch.Tensor]

GRASP_TEMPERATURE = 200.0  # logits / T before the loss, as in the GraSP reference code (and Tanaka et al.'s)


def _scored_copy(model: nn.Module, train_mode: bool) -> nn.Module:
    scored = copy.deepcopy(model)
    scored.train(train_mode)
    for param in scored.parameters():
        param.grad = None
    return scored


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _as_batches(batches: Iterable[Batch]) -> list[Batch]:
    batches = list(batches)
    if not batches:
        raise ConfigError("pruning at init needs at least one batch to score on; got none")
    return batches


def snip_scores(
    model: nn.Module, batches: Iterable[Batch], *, skip_first_conv: bool = False, skip_classifier: bool = True,
) -> dict[str, torch.Tensor]:
    """SNIP connection sensitivity (Lee et al., ICLR 2019): |dL/dw * w| at initialisation.

    L is the sum over `batches` of each batch's mean cross-entropy (train mode, as in the paper: BN
    uses batch statistics), i.e. gradients accumulated batch by batch. The paper's normalisation by
    the sum of all scores is dropped: it does not change a global ranking.
    """
    batches = _as_batches(batches)
    scored = _scored_copy(model, train_mode=True)
    weights = prunable_weights(scored, skip_first_conv, skip_classifier)
    device = _device(scored)
    grads = {name: torch.zeros_like(w) for name, w in weights.items()}
    for x, y in batches:
        loss = F.cross_entropy(scored(x.to(device)), y.to(device))
        for (name, _), g in zip(weights.items(), torch.autograd.grad(loss, list(weights.values()))):
            grads[name] += g
    return {name: (grads[name] * w.detach()).abs().float().cpu() for name, w in weights.items()}


def grasp_scores(
    model: nn.Module,
    batches: Iterable[Batch],
    *,
    skip_first_conv: bool = False,
    skip_classifier: bool = True,
    temperature: float = GRASP_TEMPERATURE,
) -> dict[str, torch.Tensor]:
    """GraSP (Wang et al., ICLR 2020): score = -w * (H g), H the Hessian and g the gradient of the loss.

    Sign convention (the reference code's): removing weight q changes the gradient norm
    S = g^T g by about -2 * w_q * (H g)_q = 2 * score_q, so a HIGH score means removing the weight
    *raises* (or least reduces) the gradient flow. GraSP therefore removes the highest scores and
    keeps the LOWEST: mask with `global_topk_masks({k: -s}, sparsity)`, as `grasp_masks` does.

    Computed as in the reference implementation: g = dL/dtheta accumulated over `batches` (L is
    each batch's mean cross-entropy of logits / `temperature`, train mode), then
    H g = d(sum_b dL_b/dtheta . g_detached)/dtheta by double backward. theta (the vector g and H act
    on) is every Conv2d / Linear weight, including a skipped first conv or classifier: those are
    only excluded from the scores, the gradient flow still runs through them.
    """
    if not temperature > 0:
        raise ConfigError(f"invalid GraSP temperature {temperature!r}; valid: a number > 0")
    batches = _as_batches(batches)
    scored = _scored_copy(model, train_mode=True)
    theta = prunable_weights(scored, skip_first_conv=False, skip_classifier=False)
    selected = prunable_weights(scored, skip_first_conv, skip_classifier)
    device = _device(scored)
    params = list(theta.values())

    g = [torch.zeros_like(p) for p in params]
    for x, y in batches:
        loss = F.cross_entropy(scored(x.to(device)) / temperature, y.to(device))
        for acc, grad in zip(g, torch.autograd.grad(loss, params)):
            acc += grad

    hg = [torch.zeros_like(p) for p in params]
    for x, y in batches:
        loss = F.cross_entropy(scored(x.to(device)) / temperature, y.to(device))
        grads = torch.autograd.grad(loss, params, create_graph=True)
        terms = [(grad * acc).sum() for grad, acc in zip(grads, g)]
        z = terms[0]
        for term in terms[1:]:  # the order Python's sum() would add them in
            z = z + term
        for acc, h in zip(hg, torch.autograd.grad(z, params)):
            acc += h

    hg_by_name = dict(zip(theta, hg))
    return {name: (-w.detach() * hg_by_name[name]).float().cpu() for name, w in selected.items()}


def grasp_masks(scores: Mapping[str, torch.Tensor], sparsity: float) -> WeightMasks:
    """Keep the lowest GraSP scores (remove the highest), exactly round((1 - s) * N) weights."""
    return global_topk_masks({name: -s for name, s in scores.items()}, sparsity)


@torch.no_grad()
def _linearise_(model: nn.Module) -> None:
    """|x| of every float parameter and buffer (BN running mean too), so all paths are positive."""
    for tensor in model.state_dict().values():
        if tensor.is_floating_point():
            tensor.abs_()


def synflow_scores(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    skip_first_conv: bool = False,
    skip_classifier: bool = True,
    masks: WeightMasks | None = None,
) -> dict[str, torch.Tensor]:
    """SynFlow (Tanaka et al., NeurIPS 2020) synaptic saliency: |w * dR/dw|, data-free.

    On a copy of the model with |params| and |buffers| (the original keeps its signed weights), in
    eval mode (BN is then a fixed positive affine map), in float64 (R grows with depth and width),
    R = sum(f(1)) for one all-ones input of `input_shape`. Weights already pruned by `masks` are
    zero in the copy and scored -inf, so a later ranking never revives them.
    """
    scored = _scored_copy(model, train_mode=False).double()
    _linearise_(scored)
    weights = prunable_weights(scored, skip_first_conv, skip_classifier)
    if masks is not None:
        with torch.no_grad():
            for name, w in weights.items():
                w.mul_(masks[name].to(w.device, w.dtype))
    ones = torch.ones((1, *input_shape), dtype=torch.float64, device=_device(scored))
    r = scored(ones).sum()
    grads = torch.autograd.grad(r, list(weights.values()))
    scores = {}
    for (name, w), g in zip(weights.items(), grads):
        s = (w.detach() * g).abs().float().cpu()
        if masks is not None:
            s = torch.where(masks[name].cpu(), s, torch.full_like(s, float("-inf")))
        scores[name] = s
    return scores


def synflow_masks(
    model: nn.Module,
    input_shape: tuple[int, ...],
    sparsity: float,
    iterations: int,
    *,
    skip_first_conv: bool = False,
    skip_classifier: bool = True,
) -> WeightMasks:
    """Iterative SynFlow: `iterations` rounds, round k prunes to 1 - (1 - s)^(k / n) (exponential
    schedule), re-scoring the masked network each round. The last round hits `sparsity` exactly
    (round((1 - s) * N) weights kept, as `global_topk_masks`); masks only ever shrink."""
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"invalid sparsity {sparsity!r}; valid: a number in [0, 1)")
    if iterations < 1:
        raise ConfigError(f"invalid SynFlow iterations {iterations!r}; valid: an integer >= 1")
    masks: WeightMasks | None = None
    for k in range(1, iterations + 1):
        target = sparsity if k == iterations else 1.0 - (1.0 - sparsity) ** (k / iterations)
        scores = synflow_scores(
            model, input_shape, skip_first_conv=skip_first_conv, skip_classifier=skip_classifier, masks=masks,
        )
        masks = global_topk_masks(scores, target)
    assert masks is not None
    return masks
