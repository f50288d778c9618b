"""Transfer a ticket to another task: keep its architecture, weights and mask, give it a new head.

Used by every method that reports transfer accuracy (SuperTickets, robust tickets) and by the
`transfer` of a saved ticket: the body is copied, the classifier (the model's last Linear) is
rebuilt for the target's classes, and fine-tuning runs with the body's weight mask fixed.
"""
from __future__ import annotations

from typing import Any, Protocol

from torch import nn

from lottery.config import ExperimentConfig
from lottery.data import DataBundle
from lottery.errors import ConfigError
from lottery.session import Session
from lottery.pruning.weight_mask import WeightMasks
from lottery.models.base import live_arch
from lottery.ticket import model_from_arch
from lottery.training.checkpoint import PhaseCheckpoint, TrialProgress
from lottery.training.phase import PhaseResult, run_phase


def head_name(model: nn.Module) -> str:
    """Module name of the classifier: the model's last nn.Linear."""
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ConfigError(f"{type(model).__name__} has no Linear classifier head to replace for transfer")
    return names[-1]


def with_new_head(model: nn.Module, num_classes: int) -> nn.Module:
    """A copy of `model` whose body weights are `model`'s and whose classifier is freshly initialised
    for `num_classes` (always fresh, even with the same count: the target's classes are new)."""
    head = head_name(model)
    fresh = model_from_arch({**live_arch(model), "num_classes": num_classes})
    body = {k: v for k, v in model.state_dict().items() if not k.startswith(head + ".")}
    missing, unexpected = fresh.load_state_dict(body, strict=False)
    if unexpected or any(not k.startswith(head + ".") for k in missing):
        raise ConfigError(f"cannot move the ticket body onto a new head: missing {missing}, unexpected {unexpected}")
    return fresh.to(next(model.parameters()).device)


def body_masks(masks: WeightMasks | None, model: nn.Module) -> WeightMasks | None:
    """The weight masks without the classifier's (the new head is trained dense)."""
    if masks is None:
        return None
    head = head_name(model)
    return {k: v for k, v in masks.items() if not k.startswith(head + ".")}


class InputShape(Protocol):
    """What a ticket's stem and pooling are sized for (a DataBundle has both)."""

    @property
    def in_channels(self) -> int: ...

    @property
    def input_size(self) -> int: ...


def check_compatible(source: InputShape, target: InputShape, target_name: str) -> None:
    """The ticket's stem and pooling are sized for the source input; the target must match it."""
    if (source.in_channels, source.input_size) != (target.in_channels, target.input_size):
        raise ConfigError(
            f"transfer target {target_name!r} has {target.in_channels}x{target.input_size}x{target.input_size} inputs "
            f"but the ticket was drawn on {source.in_channels}x{source.input_size}x{source.input_size}; "
            "valid: a target dataset with the source's channels and image size"
        )


def finetune_transfer(
    *,
    model: nn.Module | None,
    masks: WeightMasks | None,
    target: DataBundle,
    epochs: int,
    phase: str,
    cfg: ExperimentConfig,
    device: Any,
    session: Session,
    progress: TrialProgress,
    resume: PhaseCheckpoint | None = None,
) -> tuple[PhaseResult, WeightMasks | None]:
    """Fine-tune the ticket on `target` with a new head and its mask fixed; one reported phase.

    With `resume` (this phase's checkpoint) the head-swapped model is rebuilt from the checkpointed
    architecture and run_phase restores weights, optimizer and mask. Returns the phase result and the
    masks the fine-tuned model carries (for saving the transferred ticket).
    """
    if resume is not None:
        tuned, fixed = model_from_arch(resume.arch), resume.masks
    elif model is None:
        raise ValueError("finetune_transfer needs the ticket on a fresh start (model is None)")
    else:
        tuned = with_new_head(model, target.num_classes)
        fixed = body_masks(masks, model)
    result = run_phase(
        phase=phase, model=tuned, epochs=epochs, cfg=cfg, data=target, device=device, session=session,
        progress=progress, resume=resume, masks=fixed,
    )
    return result, fixed
