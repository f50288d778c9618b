"""The typed checkpoint of a training phase, and the counters that run across a trial's phases.

A Session stores the plain-dict form (`to_state`, loadable with `torch.load(weights_only=True)`:
tensors, numbers, strings, lists and dicts only); methods read the typed form (`from_state`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lottery.pruning.weight_mask import WeightMasks


@dataclass
class TrialProgress:
    """Counters that run across phases: the global epoch (the fidelity), training cost, and what a
    method must remember between phases (`method_state`: plain values and tensors)."""

    global_epoch: int = 0
    train_flops: float = 0.0
    wall_time_s: float = 0.0
    method_state: dict[str, Any] = field(default_factory=dict)

    def state_dict(self) -> dict[str, Any]:
        return {
            "global_epoch": self.global_epoch,
            "train_flops": self.train_flops,
            "wall_time_s": self.wall_time_s,
            "method_state": self.method_state,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TrialProgress:
        return cls(int(state["global_epoch"]), float(state["train_flops"]), float(state["wall_time_s"]),
                   dict(state["method_state"]))


def decode_masks(masks: dict[str, torch.Tensor] | None) -> WeightMasks | None:
    """Stored masks as boolean tensors (None stays None)."""
    return None if masks is None else {k: v.bool() for k, v in masks.items()}


def clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the full state dict (weights, biases, BN statistics)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@dataclass
class PhaseCheckpoint:
    """Everything a phase needs to continue after its last finished epoch."""

    phase: str
    phase_epoch: int
    arch: dict[str, Any]
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    progress: TrialProgress
    last_metrics: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # the phase's own state (detector queue, ...)
    rng: dict[str, torch.Tensor] = field(default_factory=dict)
    masks: WeightMasks | None = None

    def to_state(self) -> dict[str, Any]:
        return {
            "phase": self.phase, "phase_epoch": self.phase_epoch, "stopped": self.stopped,
            "last_metrics": self.last_metrics, "arch": self.arch, "model": self.model,
            "optimizer": self.optimizer, "extra": self.extra, "progress": self.progress.state_dict(),
            "rng": self.rng, "masks": self.masks,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PhaseCheckpoint:
        return cls(
            phase=str(state["phase"]), phase_epoch=int(state["phase_epoch"]), arch=dict(state["arch"]),
            model=state["model"], optimizer=state["optimizer"], progress=TrialProgress.from_state(state["progress"]),
            last_metrics=dict(state.get("last_metrics") or {}), stopped=bool(state.get("stopped", False)),
            extra=dict(state.get("extra") or {}), rng=dict(state.get("rng") or {}), masks=decode_masks(state.get("masks")),
        )


def resumed(state: dict[str, Any] | None) -> PhaseCheckpoint | None:
    """The typed form of what a Session hands back (None on a fresh start)."""
    return None if state is None else PhaseCheckpoint.from_state(state)
