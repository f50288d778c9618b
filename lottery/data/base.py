"""Dataset registry, the DataBundle every loader returns, and option checks shared by all datasets."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sized

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
    classes: tuple[int, ...] = ()  # keep only these classes, relabelled 0..k-1 in this order; () = all
    device: str = "cpu"  # where device-resident splits live (the trial's training device)
    resident_max_mb: float = 1024.0  # decoded size up to which an on-disk dataset is held on the device

    def validate(self) -> None:
        """Raise ConfigError naming any out-of-range value."""
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"data.batch_size must be an integer >= 1, got {self.batch_size!r}")
        if not isinstance(self.val_fraction, (int, float)) or not 0.0 <= float(self.val_fraction) < 1.0:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ConfigError(f"data.num_workers must be an integer >= 0, got {self.num_workers!r}")
        if isinstance(self.resident_max_mb, bool) or not isinstance(self.resident_max_mb, (int, float)) or self.resident_max_mb < 0:
            raise ConfigError(f"data.resident_max_mb must be a number >= 0, got {self.resident_max_mb!r}")
        if len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"dataset class list {list(self.classes)} repeats a class")


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
    # The loader's per-channel normalisation (model input = (raw - mean) / std) and the valid raw pixel
    # range, so attacks can work in raw pixel units; () / None: identity normalisation, unbounded input.
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    pixel_range: tuple[float, float] | None = None


def num_batches(stream: Batches) -> int:
    """Batches per epoch of a train/val/test stream (every loader here has a length)."""
    if not isinstance(stream, Sized):
        raise TypeError(f"{type(stream).__name__} does not know its number of batches")
    return len(stream)


DatasetLoader = Callable[[LoadOptions], DataBundle]

DATASETS: Registry[DatasetLoader] = Registry("dataset")

# Optional cheap checks that a dataset is on disk, by name (datasets bundled with a package need none):
# the driver runs them before a sweep starts, without loading anything.
AvailabilityCheck = Callable[[LoadOptions], None]
AVAILABILITY_CHECKS: dict[str, AvailabilityCheck] = {}


def availability_check(name: str) -> Callable[[AvailabilityCheck], AvailabilityCheck]:
    """Register `check(opts)` that raises DatasetNotFoundError when dataset `name` is not on disk."""

    def decorator(check: AvailabilityCheck) -> AvailabilityCheck:
        AVAILABILITY_CHECKS[name] = check
        return check

    return decorator


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


_SPEC = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:\[([0-9,\s-]*)\])?\s*$")


def parse_dataset_spec(spec: str) -> tuple[str, tuple[int, ...]]:
    """'digits[0-4]' -> ('digits', (0, 1, 2, 3, 4)); 'cifar10' -> ('cifar10', ()).

    The bracket selects classes (ranges and commas: '[0-2,7]'), relabelled 0..k-1 in the listed
    order, so one dataset yields a source and a target task for transfer experiments.
    """
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise ConfigError(f"invalid dataset {spec!r}; valid: NAME or NAME[CLASSES], e.g. digits or digits[0-4] or digits[0,2,4]")
    name, selector = match.group(1), match.group(2)
    if selector is None:
        return name, ()
    classes: list[int] = []
    for part in (p.strip() for p in selector.split(",")):
        bounds = part.split("-")
        if not part or len(bounds) > 2 or not all(b.strip().isdigit() for b in bounds):
            raise ConfigError(f"invalid class selector {part!r} in dataset {spec!r}; valid: N or A-B, comma separated")
        lo, hi = int(bounds[0]), int(bounds[-1])
        if hi < lo:
            raise ConfigError(f"invalid class range {part!r} in dataset {spec!r}; the end must be >= the start")
        classes += range(lo, hi + 1)
    if len(set(classes)) != len(classes):
        raise ConfigError(f"dataset {spec!r} selects a class twice")
    if len(classes) < 2:
        raise ConfigError(f"dataset {spec!r} selects {len(classes)} class(es); a classification task needs at least 2")
    return name, tuple(classes)


def class_selection(labels: np.ndarray, classes: tuple[int, ...], num_classes: int, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the rows whose label is in `classes`, the new label of every old label or -1)."""
    for c in classes:
        if not 0 <= c < num_classes:
            raise ConfigError(f"dataset {dataset!r} has classes 0..{num_classes - 1}; class {c} does not exist")
    relabel = np.full(num_classes, -1, dtype=np.int64)
    relabel[list(classes)] = np.arange(len(classes))
    return np.nonzero(relabel[np.asarray(labels)] >= 0)[0], relabel
