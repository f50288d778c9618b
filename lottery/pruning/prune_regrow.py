"""Progressive prune-and-regrow (SuperTickets): global magnitude masks that re-rank stored weights.

Masking choice: the model's parameters hold the *masked* weights (pruned entries are exactly 0, so
every counter, the saved ticket and the fixed-mask retrain work unchanged) and a `stash` keeps the
raw value every weight had when it was last pruned. The raw weight is `where(mask, param, stash)`,
which is what a forward-pass mask over dense stored weights gives: the gradient of a pruned weight
is masked to 0 and it is re-zeroed after every step, so its stored value stays frozen. With regrow
on, each pruning step ranks all raw magnitudes, so a stored weight that now beats a live one comes
back; with regrow off, pruned weights score -inf and masks only ever shrink (so after a shrink
removed mostly live weights, the sparsity may stay a little above the scheduled value).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lottery.errors import ConfigError
from lottery.pruning.weight_mask import WeightMasks, global_topk_masks, magnitude_scores, mask_sparsity, prunable_weights

SPARSITY_STEP = 0.1  # the schedule adds 10 points of sparsity every `interval` epochs


def ramp_end_epoch(epochs: int, ramp_fraction: float) -> int:
    """0-based epoch at whose end the progressive schedule reaches the target."""
    if not 0.0 < ramp_fraction <= 1.0:
        raise ConfigError(f"invalid sparsity ramp {ramp_fraction!r}; valid: a fraction of the search epochs in (0, 1]")
    return max(1, math.ceil(ramp_fraction * epochs)) - 1


def progressive_sparsity(epoch: int, interval: int, target: float, epochs: int, ramp_fraction: float) -> float:
    """Sparsity after the pruning step at the end of 0-based `epoch` of an `epochs`-long search.

    The paper's progressive schedule adds 10 points every `interval` epochs; here the step grows
    (never shrinks) so that the target is reached at the end of epoch `ramp_end_epoch(...)`, a
    fraction `ramp_fraction` into the search, and the ticket then trains at the target for the
    remaining epochs, instead of jumping to the target in the last epoch (which collapses a
    SuperTicket's accuracy without retraining). Monotone; exactly `target` from the ramp's end on.
    """
    if interval < 1:
        raise ConfigError(f"invalid pruning interval {interval!r}; valid: an integer >= 1")
    end = ramp_end_epoch(epochs, ramp_fraction)
    if epoch >= end:
        return target
    step = max(SPARSITY_STEP, target / max(1, (end + 1) // interval))
    return min(round(((epoch + 1) // interval) * step, 10), target)


def is_progressive_prune_epoch(epoch: int, interval: int, epochs: int, ramp_fraction: float) -> bool:
    """Pruning steps: every `interval`-th epoch, the ramp's last epoch and the search's last epoch."""
    return is_prune_epoch(epoch, interval) or epoch == ramp_end_epoch(epochs, ramp_fraction) or epoch == epochs - 1


def is_prune_epoch(epoch: int, interval: int) -> bool:
    """A pruning step runs at the end of every `interval`-th epoch (0-based epochs K-1, 2K-1, ...)."""
    return (epoch + 1) % interval == 0


def rho_at(epoch: int, rho: float, warmup_epochs: int) -> float:
    """FLOPs-L1 coefficient during 0-based `epoch`: linear warm-up from 0 over `warmup_epochs`."""
    return rho if warmup_epochs <= 0 else rho * min(1.0, epoch / warmup_epochs)


@dataclass
class PruneStep:
    """What one pruning step did: the new masks, the new stash and how many weights came back."""

    masks: WeightMasks
    stash: dict[str, torch.Tensor]
    regrown: int


def conv_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """All conv weights (depthwise included): the classifier, BN and biases are never masked."""
    return {n: w for n, w in prunable_weights(model, skip_first_conv=False, skip_classifier=True).items() if w.dim() == 4}


def dense_masks(model: nn.Module) -> WeightMasks:
    return {n: torch.ones_like(w, dtype=torch.bool, device="cpu") for n, w in conv_weights(model).items()}


def raw_weights(model: nn.Module, masks: WeightMasks, stash: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The stored weights: live values where kept, the stashed value where pruned (CPU copies)."""
    params = conv_weights(model)
    return {n: torch.where(masks[n], params[n].detach().cpu(), stash[n]) if n in stash else params[n].detach().cpu().clone()
            for n in masks}


@torch.no_grad()
def prune_step(model: nn.Module, masks: WeightMasks, stash: dict[str, torch.Tensor], sparsity: float,
               regrow: bool) -> PruneStep:
    """Re-rank and apply global magnitude masks at `sparsity`; the model's weights are set in place."""
    raw = raw_weights(model, masks, stash)
    scores = magnitude_scores(raw) if regrow else magnitude_scores(raw, masks)
    if not regrow:  # never keep more than is live: after a shrink the live fraction can be under 1 - sparsity
        sparsity = max(sparsity, mask_sparsity(masks))
    new = global_topk_masks(scores, sparsity)
    regrown = sum(int((new[n] & ~masks[n]).sum()) for n in new)
    params = conv_weights(model)
    for n, m in new.items():
        params[n].copy_((raw[n] * m).to(params[n].device))
    return PruneStep(new, raw, regrown)


@torch.no_grad()
def reset_masks_(model: nn.Module, masks: WeightMasks, stash: dict[str, torch.Tensor], prefixes: list[str]) -> int:
    """Reactivate every weight under the module `prefixes` (shrunk blocks), restoring stored values.

    Returns how many weights came back."""
    params = conv_weights(model)
    revived = 0
    for n in list(masks):
        if any(n.startswith(p + ".") for p in prefixes):
            revived += int((~masks[n]).sum())
            if n in stash:  # no stash yet = never pruned
                params[n].copy_(torch.where(masks[n], params[n].detach().cpu(), stash[n]).to(params[n].device))
            masks[n] = torch.ones_like(masks[n])
    return revived


def mask_grads_hook(masks: WeightMasks) -> Callable[[nn.Module], None]:
    """after_backward: pruned weights get no gradient (as with a forward mask over stored weights)."""

    def hook(model: nn.Module) -> None:
        params = conv_weights(model)
        for n, m in masks.items():
            grad = params[n].grad
            if grad is not None:
                grad.mul_(m.to(grad.device, grad.dtype))

    return hook
