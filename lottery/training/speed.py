"""Per-step speed settings (`train.precision`, `train.channels_last`, `train.compile`,
`train.cuda_graph`) turned into what the step loop applies; the model's weights, state_dict and
hooks are untouched by all of them, so shrinking, masks and checkpoints work as in fp32 eager.

Rules: bf16 is autocast (weights and optimizer stay fp32), on CPU and CUDA. `compile` wraps the
module for the training forward only (evaluation, pruning and saving use the plain module, whose
state_dict keys do not change). `cuda_graph` needs CUDA: with `train.device: cpu` the config is
refused; with `auto` resolving to a CPU it is ignored (the trial runs eager). It takes precedence
over `compile`, and the steps it cannot capture (adversarial `perturb`, the last partial batch) run
eager. On CUDA, `torch.backends.cudnn.benchmark` is switched on (fixed shapes per phase).
"""
from __future__ import annotations

import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class StepOptions:
    """What the step loop does differently from plain fp32 eager; the default changes nothing."""

    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    cuda_graph: bool = False

    @classmethod
    def from_train(cls, train: Any, device: torch.device) -> StepOptions:
        """The options of a TrainConfig on `device` (cuda_graph dropped off CUDA, as documented)."""
        on_cuda = device.type == "cuda"
        return cls(
            precision=getattr(train, "precision", "fp32"),
            channels_last=bool(getattr(train, "channels_last", False)),
            compile=bool(getattr(train, "compile", False)),
            cuda_graph=bool(getattr(train, "cuda_graph", False)) and on_cuda,
        )

    @property
    def is_default(self) -> bool:
        return self == StepOptions()


def configure_backend(device: torch.device) -> None:
    """cudnn autotuning on CUDA: every phase trains one fixed input shape, so the search pays off."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def autocast(opts: StepOptions, device: torch.device) -> AbstractContextManager[Any]:
    """bf16 autocast around forward and loss (no cache under graph capture, as PyTorch requires)."""
    if opts.precision != "bf16":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=not opts.cuda_graph)


def prepare_model(model: nn.Module, opts: StepOptions) -> nn.Module:
    """channels_last moves 4-D weights in place (same values, same state_dict keys)."""
    if opts.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def prepare_input(x: torch.Tensor, opts: StepOptions) -> torch.Tensor:
    if opts.channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


Forward = Callable[[torch.Tensor], torch.Tensor]
_COMPILED: weakref.WeakKeyDictionary[nn.Module, Forward] = weakref.WeakKeyDictionary()


def training_forward(model: nn.Module, opts: StepOptions) -> Forward:
    """The module the training step calls: `torch.compile(model)` (cached per model, sharing its
    parameters) when `compile` is set and no CUDA graph is used, else the model itself."""
    if not opts.compile or opts.cuda_graph:
        return model
    compiled = _COMPILED.get(model)
    if compiled is None:
        compiled = torch.compile(model)
        _COMPILED[model] = compiled
    return compiled
