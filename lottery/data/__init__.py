"""Datasets as `DataBundle`s of re-iterable (x, y) batch streams: `load_dataset(name, ...)`."""
from __future__ import annotations

from lottery.data.base import AVAILABILITY_CHECKS, DATASETS, DataBundle, LoadOptions, num_batches, parse_dataset_spec
from lottery.data import digits as _digits  # noqa: F401  (registers "digits")
from lottery.data import synthetic as _synthetic  # noqa: F401  (registers "synthetic")
from lottery.data import torchvision_sets as _tv  # noqa: F401  (registers cifar10/cifar100/imagefolder)
from lottery.data.device_loader import Augment, DeviceBatches
from lottery.data.tensor_loader import TensorBatches


def load_dataset(
    name: str,
    *,
    data_root: str = "data",
    download: bool = False,
    batch_size: int = 64,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    augment: bool = True,
    path: str = "",
    num_workers: int = 0,
    shuffle_seed: int = 0,
    device: str = "cpu",
    resident_max_mb: float = 1024.0,
) -> DataBundle:
    """Build train/val/test batches for a registered dataset; bad names/values raise ConfigError.

    `name` may select classes: 'digits[0-4]' is digits restricted to 0..4, relabelled 0..4.
    `device`: where in-memory splits live (lottery.data.device_loader); CIFAR is held there when its
    decoded size is at most `resident_max_mb` MiB, else it streams through a DataLoader.
    """
    name, classes = parse_dataset_spec(name)
    loader = DATASETS.get(name)
    opts = LoadOptions(classes=classes, 
        data_root=data_root, download=download, batch_size=batch_size, val_fraction=val_fraction,
        split_seed=split_seed, augment=augment, path=path, num_workers=num_workers, shuffle_seed=shuffle_seed,
        device=str(device), resident_max_mb=resident_max_mb,
    )
    opts.validate()
    return loader(opts)


def check_available(name: str, *, data_root: str = "data", download: bool = False, path: str = "",
                    batch_size: int = 64, val_fraction: float = 0.2, num_workers: int = 0) -> None:
    """Raise what `load_dataset` would for a bad name, bad options or data not on disk, without
    loading anything, seeding anything or touching torch's settings (the driver's pre-flight check)."""
    name, classes = parse_dataset_spec(name)
    DATASETS.get(name)
    opts = LoadOptions(classes=classes, data_root=data_root, download=download, path=path, batch_size=batch_size,
                       val_fraction=val_fraction, num_workers=num_workers)
    opts.validate()
    check = AVAILABILITY_CHECKS.get(name)
    if check is not None:
        check(opts)


__all__ = ["Augment", "check_available", "num_batches", "DATASETS", "DataBundle", "DeviceBatches", "LoadOptions", "TensorBatches",
           "load_dataset", "parse_dataset_spec"]
