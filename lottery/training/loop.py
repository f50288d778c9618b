"""One training epoch and one evaluation pass; hooks let methods add regularisers without forking."""
from __future__ import annotations

from typing import Protocol
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from lottery.config import TrainConfig
from lottery.training.speed import StepOptions, autocast, prepare_input, training_forward

AfterBackward = Callable[[nn.Module], None]

# Per-epoch loss sums are kept in float64 on the device (as the former Python float sum was).
_ACCUMULATOR_DTYPE = torch.float64


class Perturb(Protocol):
    """Replaces a training batch's inputs (adversarial training); `passes`: forward+backward passes it
    spends per batch, counted in the training FLOPs."""

    @property
    def passes(self) -> int: ...

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor: ...


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def make_optimizer(model: nn.Module, train: TrainConfig) -> torch.optim.SGD:
    """SGD with momentum and weight decay on all parameters (the Early-Bird CIFAR recipe)."""
    return torch.optim.SGD(model.parameters(), lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay)


def lr_at(train: TrainConfig, epoch: int, total_epochs: int) -> float:
    """Step decay: multiply by lr_gamma at each milestone (a fraction of the phase's epochs).

    A pure function of the epoch, so a resumed trial needs no scheduler state.
    """
    passed = sum(1 for m in train.lr_milestones if epoch >= int(m * total_epochs))
    return train.lr * (train.lr_gamma**passed)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def train_one_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    after_backward: AfterBackward | None = None,
    after_step: AfterBackward | None = None,
    perturb: Perturb | None = None,
    opts: StepOptions | None = None,
) -> tuple[float, int]:
    """Returns (mean training loss, number of samples seen).

    `after_backward` may edit gradients (regularisers); `after_step` may edit weights (masks);
    `perturb` replaces each batch's inputs before the step (adversarial training).
    The loss sum stays on the device and is read once after the loop: a `.item()` per step would
    make the host wait for the GPU every step (about 15 % of a CIFAR step on an H100).
    `opts` (lottery.training.speed) selects bf16 autocast, channels_last inputs, a compiled forward
    or a captured CUDA graph of the whole step; None is plain fp32 eager.
    """
    opts = opts or StepOptions()
    model.train()
    forward = training_forward(model, opts)
    graph = None
    if opts.cuda_graph and perturb is None and device.type == "cuda":
        from lottery.training.cuda_graph import captured_step

        graph = captured_step(model, optimizer, after_backward, after_step, opts)
        full = getattr(batches, "batch_size", None)
    total_loss: torch.Tensor | None = None
    seen = 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if graph is not None and len(y) == full:
            batch_loss = graph.step(x, y).to(_ACCUMULATOR_DTYPE) * y.numel()
            total_loss = batch_loss if total_loss is None else total_loss + batch_loss
            seen += y.numel()
            continue
        x = prepare_input(x, opts)
        if perturb is not None:
            x = perturb(model, x, y)
        optimizer.zero_grad(set_to_none=True)
        with autocast(opts, device):
            loss = F.cross_entropy(forward(x), y)
        loss.backward()
        if after_backward is not None:
            after_backward(model)
        optimizer.step()
        if after_step is not None:
            after_step(model)
        batch_loss = loss.detach().to(_ACCUMULATOR_DTYPE) * y.numel()
        total_loss = batch_loss if total_loss is None else total_loss + batch_loss
        seen += y.numel()
    return (float(total_loss.item()) if total_loss is not None else 0.0) / max(seen, 1), seen


@torch.no_grad()
def evaluate(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], device: torch.device, opts: StepOptions | None = None
) -> float:
    """Top-1 accuracy in [0, 1] (under the training precision and memory format when `opts` is given)."""
    opts = opts or StepOptions()
    model.eval()
    correct: torch.Tensor | None = None
    total = 0
    for x, y in batches:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(opts, device):
            logits = model(prepare_input(x, opts))
        hits = (logits.argmax(dim=1) == y).sum()
        correct = hits if correct is None else correct + hits
        total += y.numel()
    return (int(correct.item()) if correct is not None else 0) / max(total, 1)
