"""L-inf adversarial attacks (PGD with random start, FGSM with random start) and robust accuracy.

Attacks run in the model's input space, i.e. on normalised tensors, but epsilon and the step size
are given in raw pixel units (8/255 on CIFAR means 8/255 of the [0, 1] pixel range): `InputSpace`
converts them per channel (eps / std) and clamps every adversarial input to the valid raw range
mapped through the normalisation. A dataset without a pixel range (synthetic) is unbounded and
its epsilon is in input units.

Mode: training attacks run in whatever mode the caller left the model (train mode during
training: BN uses batch statistics as in the step that follows, the common practice of Madry et
al.) with the BN running statistics restored afterwards, so the attack leaves no trace in the
model; evaluation attacks run in eval mode. Both take gradients w.r.t. the input only, so the
parameters' `.grad` are untouched.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from lottery.data import DataBundle
from lottery.errors import ConfigError

ATTACKS = ("pgd", "fgsm")
FGSM_STEP = 1.25  # FGSM-RS step in units of eps (Wong, Rice & Kolter 2020)
PGD_STEP = 2.5  # default PGD step: 2.5 * eps / steps (Madry et al. 2018)


@dataclass(frozen=True)
class InputSpace:
    """Per-channel normalisation of the model input and the valid raw pixel range (None: unbounded)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    pixel_range: tuple[float, float] | None

    @classmethod
    def of(cls, data: DataBundle) -> InputSpace:
        channels = data.in_channels
        mean = tuple(data.mean) if data.mean else (0.0,) * channels
        std = tuple(data.std) if data.std else (1.0,) * channels
        if len(mean) == 1 and channels > 1:
            mean, std = mean * channels, std * channels
        return cls(mean, std, data.pixel_range)

    def _per_channel(self, values: tuple[float, ...], like: torch.Tensor) -> torch.Tensor:
        return torch.tensor(values, dtype=like.dtype, device=like.device).view(1, -1, *([1] * (like.dim() - 2)))

    def scale(self, raw_amount: float, like: torch.Tensor) -> torch.Tensor:
        """A raw-pixel distance in model units, per channel (raw / std)."""
        return raw_amount / self._per_channel(self.std, like)

    def bounds(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The valid pixel range in model units, per channel; None when unbounded."""
        if self.pixel_range is None:
            return None
        lo, hi = self.pixel_range
        mean, std = self._per_channel(self.mean, like), self._per_channel(self.std, like)
        return (lo - mean) / std, (hi - mean) / std

    def to_raw(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the normalisation (for checks and pictures)."""
        return x * self._per_channel(self.std, x) + self._per_channel(self.mean, x)


@contextmanager
def preserved_bn_stats(model: nn.Module) -> Iterator[None]:
    """Restore every BN running statistic (and batch counter) on exit: attack passes must not update them."""
    saved = [(m, {k: v.clone() for k, v in m.named_buffers(recurse=False)})
             for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    try:
        yield
    finally:
        with torch.no_grad():
            for module, buffers in saved:
                for name, value in buffers.items():
                    getattr(module, name).copy_(value)


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    space: InputSpace,
    eps: float,
    step: float,
    steps: int,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L-inf PGD on the cross-entropy loss: `steps` signed-gradient steps of size `step`, each followed
    by the exact projection onto {|x' - x| <= eps} intersected with the pixel range (eps, step raw units).

    eps = 0 returns `x` unchanged without touching the model or the random state (vanilla training).
    """
    if eps == 0 or steps == 0:
        return x.detach().clone()
    radius = space.scale(eps, x)
    lower, upper = x - radius, x + radius
    bounds = space.bounds(x)
    if bounds is not None:
        lower, upper = torch.maximum(lower, bounds[0]), torch.minimum(upper, bounds[1])
    x_adv = x.detach().clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) if generator is not None else torch.rand_like(x)
        x_adv = torch.clamp(x_adv + (2 * noise - 1) * radius, lower, upper)
    step_size = space.scale(step, x)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, [x_adv])
        x_adv = torch.clamp(x_adv.detach() + step_size * grad.sign(), lower, upper)
    return x_adv.detach()


@dataclass(frozen=True)
class TrainAttack:
    """The perturbation adversarial training applies to each batch (the training loop's `perturb` hook).

    `passes` is the forward+backward passes it spends per batch, for the training-FLOPs count.
    """

    space: InputSpace
    eps: float
    step: float
    steps: int

    @property
    def passes(self) -> int:
        return self.steps if self.eps > 0 else 0

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with preserved_bn_stats(model):
            return pgd(model, x, y, self.space, self.eps, self.step, self.steps, random_start=True)


def train_attack(space: InputSpace, attack: str, eps: float, steps: int, step: float = 0.0) -> TrainAttack | None:
    """PGD-`steps` or FGSM-RS at radius `eps` (raw units); `step` 0 picks the usual default step.
    None at eps = 0: vanilla training, no hook at all."""
    if attack not in ATTACKS:
        raise ConfigError(f"unknown attack {attack!r}; valid: {', '.join(ATTACKS)}")
    if eps == 0:
        return None
    if attack == "fgsm":
        return TrainAttack(space, eps, step or FGSM_STEP * eps, 1)
    return TrainAttack(space, eps, step or PGD_STEP * eps / steps, steps)


def robust_accuracy(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    space: InputSpace,
    eps: float,
    steps: int = 20,
    step: float = 0.0,
    seed: int = 0,
) -> float:
    """Top-1 accuracy under PGD-`steps` with random start (eval mode; step 0 = 2.5 eps / steps).

    The random start draws from its own seeded generator: evaluation is deterministic and leaves the
    global random state (and so the training that follows) untouched.
    """
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    correct, total = 0, 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        x_adv = pgd(model, x, y, space, eps, step or PGD_STEP * eps / steps, steps, True, generator)
        with torch.no_grad():
            correct += int((model(x_adv).argmax(dim=1) == y).sum().item())
        total += y.numel()
    return correct / max(total, 1)
