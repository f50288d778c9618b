"""Dataset registry, the DataBundle every loader returns, and option checks shared by all datasets."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import torch

from lottery.errors import ConfigError
from lottery.registry import Registry

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class LoadOptions:
    """Everything `load_dataset` accepts besides the name; each dataset uses the keys that apply to it."""

    data_root: str = "data"
    download: bool = False
    batch_size: int = 64
    val_fraction: float = 0.2
    split_seed: int = 0
    augment: bool = True
    path: str = ""
    num_workers: int = 0
    shuffle_seed: int = 0

    def validate(self) -> None:
        """Raise ConfigError naming any out-of-range value."""
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"data.batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not isinstance(self.val_fraction, (int, float)) or not 0.0 <= float(self.val_fraction) < 1.0:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ConfigError(f"data.num_workers must be an integer >= 0, got {self.num_workers!r}")


@dataclass
class DataBundle:
    """Train/val/test batch iterables (re-iterable each epoch, train shuffled) plus the shape facts models need."""

    train: Batches
    val: Batches
    test: Batches
    in_channels: int
    num_classes: int
    input_size: int
    num_train: int


DatasetLoader = Callable[[LoadOptions], DataBundle]

DATASETS: Registry[DatasetLoader] = Registry("dataset")


def stratified_split(labels: np.ndarray | list[int], fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held_out) with `fraction` held out per class, fixed by `seed`; fraction 0 holds out nothing."""
    labels = np.asarray(labels)
    idx = np.arange(len(labels))
    if fraction <= 0.0:
        return idx, idx[:0]
    from sklearn.model_selection import train_test_split

    keep, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=labels)
    return np.sort(keep), np.sort(held)


def loader_kwargs(opts: LoadOptions) -> dict[str, Any]:
    """DataLoader settings shared by the on-disk datasets."""
    return {
        "batch_size": opts.batch_size,
        "num_workers": opts.num_workers,
        "persistent_workers": opts.num_workers > 0,
        "pin_memory": torch.cuda.is_available(),
    }
