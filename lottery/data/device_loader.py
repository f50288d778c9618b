"""Device-resident datasets: the whole split lives on the training device and batches are cut,
augmented and normalised there, so a GPU step never waits for CPU workers or host copies.

The raw pixels are stored once (uint8 for CIFAR: 150 MB for CIFAR-10's training set; float for
the tiny offline sets) and every batch is `raw[idx]` -> padded random crop + flip (one gather) ->
`raw * scale + shift` per channel. All randomness of an epoch (order, crop offsets, flips) is drawn
at its start from one CPU `torch.Generator` and copied to the device in one transfer: the batches
are the same on CPU and GPU, and the generator's state, checkpointed with the trial
(`lottery.training.phase.rng_state` reads `.generator`), makes a resumed trial replay them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch


@dataclass(frozen=True)
class Augment:
    """Random translation by up to `pad` pixels (pad with `fill`, in raw units, then crop back at a
    random offset, as torchvision's Pad + RandomCrop) and an optional horizontal flip (p = 0.5)."""

    pad: int = 4
    flip: bool = True
    fill: float = 0.0


class DeviceBatches:
    """Re-iterable `(x, y)` batches of tensors held on `device`; `x` normalised as `raw * scale + shift`.

    `mean`/`std` are per channel (or one value for all) in the units of `raw * pixel_scale`
    (pixel_scale = 1/255 turns uint8 into [0, 1]); empty means identity normalisation.
    """

    def __init__(
        self,
        raw: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        *,
        mean: Sequence[float] = (),
        std: Sequence[float] = (),
        pixel_scale: float = 1.0,
        augment: Augment | None = None,
        shuffle: bool = False,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        if len(raw) != len(labels):
            raise ValueError(f"raw has {len(raw)} rows but labels has {len(labels)}")
        if raw.dim() != 4:
            raise ValueError(f"raw must be (N, C, H, W), got shape {tuple(raw.shape)}")
        self.device = torch.device(device)
        self.x = raw.to(self.device).contiguous()
        self.y = labels.to(self.device, dtype=torch.long)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.generator = torch.Generator().manual_seed(seed)
        channels = raw.shape[1]
        m = torch.tensor(list(mean) if mean else [0.0], dtype=torch.float32).expand(channels)
        s = torch.tensor(list(std) if std else [1.0], dtype=torch.float32).expand(channels)
        self.scale = (pixel_scale / s).view(1, channels, 1, 1).to(self.device)
        self.shift = (-m / s).view(1, channels, 1, 1).to(self.device)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self.x)

    def _epoch_draws(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """This epoch's order and (dy, dx, flip) per sample, drawn on the CPU generator, moved in one copy."""
        n = len(self.x)
        rows: list[torch.Tensor] = []
        if self.shuffle:
            rows.append(torch.randperm(n, generator=self.generator))
        if self.augment is not None:
            span = 2 * self.augment.pad + 1
            rows.append(torch.randint(0, span, (n,), generator=self.generator))
            rows.append(torch.randint(0, span, (n,), generator=self.generator))
            flips = torch.randint(0, 2, (n,), generator=self.generator)
            rows.append(flips if self.augment.flip else torch.zeros_like(flips))
        if not rows:
            return None, None
        stacked = torch.stack(rows)
        if self.device.type == "cuda":
            stacked = stacked.pin_memory().to(self.device, non_blocking=True)
        order = stacked[0] if self.shuffle else None
        aug = stacked[int(self.shuffle):] if self.augment is not None else None
        return order, aug

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.x)
        order, aug = self._epoch_draws()
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            if order is None:
                xb, yb = self.x[start:stop], self.y[start:stop]
            else:
                idx = order[start:stop]
                xb, yb = self.x[idx], self.y[idx]
            if aug is not None and self.augment is not None:
                xb = crop_flip(xb, aug[0, start:stop], aug[1, start:stop], aug[2, start:stop], self.augment)
            yield xb.float() * self.scale + self.shift, yb

    def to(self, device: torch.device | str) -> "DeviceBatches":
        """Move the stored split (and the normalisation) to `device`; the generator stays on the CPU."""
        self.device = torch.device(device)
        self.x, self.y = self.x.to(self.device), self.y.to(self.device)
        self.scale, self.shift = self.scale.to(self.device), self.shift.to(self.device)
        return self


def crop_flip(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor, aug: Augment) -> torch.Tensor:
    """Per-sample padded crop at offsets (dy, dx) in [0, 2*pad] and horizontal flip where `flip` is 1,
    as two gathers on the raw batch (no Python loop over samples)."""
    b, c, h, w = x.shape
    p = aug.pad
    fill = aug.fill if x.is_floating_point() else int(round(aug.fill))
    padded = torch.nn.functional.pad(x, (p, p, p, p), value=fill)
    ar_h = torch.arange(h, device=x.device)
    ar_w = torch.arange(w, device=x.device)
    rows = dy[:, None] + ar_h  # (B, H)
    cols = dx[:, None] + torch.where(flip[:, None].bool(), w - 1 - ar_w, ar_w)  # (B, W)
    out = padded.gather(2, rows[:, None, :, None].expand(b, c, h, w + 2 * p))
    return out.gather(3, cols[:, None, None, :].expand(b, c, h, w))

