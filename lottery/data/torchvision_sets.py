"""On-disk datasets through torchvision: CIFAR-10/100 and a generic ImageFolder.

A missing dataset is a DatasetNotFoundError that names the path and the fix, never a
silent download: downloads only happen when the config says `data.download=true`.

CIFAR is decoded once by torchvision and, when its decoded uint8 size is at most
`data.resident_max_mb`, held on the training device (lottery.data.device_loader: crop, flip and
normalisation batched there); above that, and always for ImageFolder (images of any size decoded
from files: too large to hold, and resized per image), a DataLoader with `data.num_workers` streams it.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from lottery.data.base import AVAILABILITY_CHECKS, DATASETS, DataBundle, LoadOptions, availability_check, class_selection, loader_kwargs, stratified_split
from lottery.data.device_loader import Augment, DeviceBatches
from lottery.errors import DatasetNotFoundError

CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
EVAL_BATCH = 1024  # evaluation batch of device-resident CIFAR (bench/trial_speed.py times an epoch part by part)
IMAGEFOLDER_SIZE = 64  # every ImageFolder image is resized to 64x64: small enough for lottery-ticket sweeps


class TransformedSubset(Dataset):
    """A view of `base[indices]` with its own transform, so train and val share one decoded copy;
    `relabel` (old label -> new label) renumbers a class subset."""

    def __init__(
        self, base: Any, indices: Sequence[int] | np.ndarray, transform: Optional[Callable] = None, relabel: Optional[np.ndarray] = None
    ) -> None:
        self.base, self.indices, self.transform, self.relabel = base, list(indices), transform, relabel

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        img, label = self.base[self.indices[i]]
        if self.relabel is not None:
            label = int(self.relabel[label])
        return (self.transform(img) if self.transform else img), label


def _selected(base: Any, opts: LoadOptions, dataset: str) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """Indices of `base` in the selected classes (all when none are selected) and the relabelling."""
    targets = np.asarray(base.targets)
    if not opts.classes:
        return np.arange(len(targets)), None
    return class_selection(targets, opts.classes, len(base.classes), dataset)


def _split_train(base: Any, opts: LoadOptions, dataset: str) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Train and val indices of `base` (stratified by split_seed) within the selected classes."""
    chosen, relabel = _selected(base, opts, dataset)
    keep, held = stratified_split(np.asarray(base.targets)[chosen], float(opts.val_fraction), opts.split_seed)
    return chosen[keep], chosen[held], relabel


def _make_loaders(
    train_ds: Dataset, val_ds: Dataset, test_ds: Dataset, opts: LoadOptions
) -> tuple[DataLoader, DataLoader, DataLoader]:
    kw = loader_kwargs(opts)
    gen = torch.Generator().manual_seed(opts.shuffle_seed)
    return (
        DataLoader(train_ds, shuffle=True, generator=gen, **kw),
        DataLoader(val_ds, shuffle=False, **kw),
        DataLoader(test_ds, shuffle=False, **kw),
    )


def _load_cifar(name: str, opts: LoadOptions) -> DataBundle:
    from torchvision import datasets, transforms as T

    cls = datasets.CIFAR10 if name == "cifar10" else datasets.CIFAR100
    root = os.path.abspath(opts.data_root)
    folder = os.path.join(root, CIFAR_FOLDERS[name])
    AVAILABILITY_CHECKS[name](opts)
    try:
        train_base = cls(root, train=True, download=opts.download)
        test_base = cls(root, train=False, download=False)
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted"
        raise DatasetNotFoundError(
            f"{name} at {folder} is missing or corrupted ({exc}); set data.download=true to fetch it again"
        ) from exc

    mean, std = CIFAR_STATS[name]
    train_idx, val_idx, relabel = _split_train(train_base, opts, name)
    test_idx = _selected(test_base, opts, name)[0]
    num_classes = len(opts.classes or train_base.classes)

    def bundle(train: Any, val: Any, test: Any) -> DataBundle:
        return DataBundle(train=train, val=val, test=test, in_channels=3, num_classes=num_classes, input_size=32,
                          num_train=len(train_idx), mean=tuple(mean), std=tuple(std), pixel_range=(0.0, 1.0))

    decoded_mb = (len(train_base.data) + len(test_base.data)) * 3 * 32 * 32 / 2**20
    if decoded_mb <= opts.resident_max_mb:
        return bundle(*_resident_cifar(train_base, test_base, train_idx, val_idx, test_idx, relabel, opts, mean, std))

    normalize = [T.ToTensor(), T.Normalize(mean, std)]
    plain = T.Compose(normalize)
    train_tf = T.Compose([T.Pad(4), T.RandomCrop(32), T.RandomHorizontalFlip(), *normalize]) if opts.augment else plain

    train_ds = TransformedSubset(train_base, train_idx, train_tf, relabel)
    val_ds = TransformedSubset(train_base, val_idx, plain, relabel)
    test_ds = TransformedSubset(test_base, test_idx, plain, relabel)
    return bundle(*_make_loaders(train_ds, val_ds, test_ds, opts))


def _resident_cifar(
    train_base: Any, test_base: Any, train_idx: np.ndarray, val_idx: np.ndarray, test_idx: np.ndarray,
    relabel: Optional[np.ndarray], opts: LoadOptions, mean: Sequence[float], std: Sequence[float],
) -> tuple[DeviceBatches, DeviceBatches, DeviceBatches]:
    """The same splits as the DataLoader path, as uint8 NCHW tensors on `opts.device`; same augmentation
    (pad 4 with black, random 32x32 crop, horizontal flip) and normalisation, batched on the device."""

    def split(base: Any, idx: np.ndarray, batch_size: int = opts.batch_size, **kw: Any) -> DeviceBatches:
        raw = torch.from_numpy(np.ascontiguousarray(base.data[idx])).permute(0, 3, 1, 2)  # NHWC -> NCHW
        labels = np.asarray(base.targets)[idx]
        if relabel is not None:
            labels = relabel[labels]
        return DeviceBatches(
            raw, torch.as_tensor(labels, dtype=torch.long), batch_size, mean=mean, std=std,
            pixel_scale=1.0 / 255.0, device=opts.device, **kw,
        )

    augment = Augment(pad=4, flip=True, fill=0.0) if opts.augment else None
    # Evaluation batches are larger: accuracy does not depend on them (BN in eval mode), and a
    # launch-bound GPU evaluates val + test every epoch in a quarter of the launches.
    eval_batch = max(opts.batch_size, EVAL_BATCH)
    return (split(train_base, train_idx, shuffle=True, seed=opts.shuffle_seed, augment=augment),
            split(train_base, val_idx, eval_batch), split(test_base, test_idx, eval_batch))


@DATASETS.register("cifar10", help="CIFAR-10 via torchvision (3x32x32, 10 classes)")
def load_cifar10(opts: LoadOptions) -> DataBundle:
    return _load_cifar("cifar10", opts)


@DATASETS.register("cifar100", help="CIFAR-100 via torchvision (3x32x32, 100 classes)")
def load_cifar100(opts: LoadOptions) -> DataBundle:
    return _load_cifar("cifar100", opts)


@DATASETS.register("imagefolder", help="ImageFolder at data.path with train/ and val/ and/or test/, resized to 64")
def load_imagefolder(opts: LoadOptions) -> DataBundle:
    """`path/train` is required. With both `val/` and `test/` each is used as named; with only one of
    them it becomes the test set and val is carved from train by val_fraction (stratified, split_seed).
    """
    from torchvision import datasets, transforms as T

    AVAILABILITY_CHECKS["imagefolder"](opts)
    root = os.path.abspath(opts.path)
    train_dir, val_dir, test_dir = (os.path.join(root, part) for part in ("train", "val", "test"))
    has_val, has_test = os.path.isdir(val_dir), os.path.isdir(test_dir)

    mean, std = IMAGENET_STATS
    size = (IMAGEFOLDER_SIZE, IMAGEFOLDER_SIZE)
    plain = T.Compose([T.Resize(size), T.ToTensor(), T.Normalize(mean, std)])
    train_tf = (
        T.Compose([T.Resize(size), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(mean, std)])
        if opts.augment
        else plain
    )
    train_base = datasets.ImageFolder(train_dir)
    eval_dir = test_dir if has_test else val_dir
    eval_base = datasets.ImageFolder(eval_dir)
    if eval_base.classes != train_base.classes:
        raise DatasetNotFoundError(f"imagefolder: class folders of {eval_dir} differ from {train_dir}")
    eval_idx, relabel = _selected(eval_base, opts, "imagefolder")
    test_ds = TransformedSubset(eval_base, eval_idx, plain, relabel)
    if has_val and has_test:
        train_ds = TransformedSubset(train_base, _selected(train_base, opts, "imagefolder")[0], train_tf, relabel)
        val_base = datasets.ImageFolder(val_dir)
        val_ds: Dataset = TransformedSubset(val_base, _selected(val_base, opts, "imagefolder")[0], plain, relabel)
    else:
        train_idx, val_idx, relabel = _split_train(train_base, opts, "imagefolder")
        train_ds = TransformedSubset(train_base, train_idx, train_tf, relabel)
        val_ds = TransformedSubset(train_base, val_idx, plain, relabel)
    train, val, test = _make_loaders(train_ds, val_ds, test_ds, opts)
    return DataBundle(
        train=train, val=val, test=test, in_channels=3, num_classes=len(opts.classes or train_base.classes),
        input_size=IMAGEFOLDER_SIZE, num_train=len(train_ds),
        mean=tuple(mean), std=tuple(std), pixel_range=(0.0, 1.0),
    )


def _cifar_on_disk(name: str) -> Callable[[LoadOptions], None]:
    def check(opts: LoadOptions) -> None:
        """The extracted CIFAR folder exists under data_root (or data.download is set)."""
        root = os.path.abspath(opts.data_root)
        folder = os.path.join(root, CIFAR_FOLDERS[name])
        if not opts.download and not os.path.isdir(folder):
            raise DatasetNotFoundError(
                f"{name} not found at {folder}; set data.download=true to download it into {root} "
                f"(or put the extracted '{CIFAR_FOLDERS[name]}' folder there)"
            )

    return check


availability_check("cifar10")(_cifar_on_disk("cifar10"))
availability_check("cifar100")(_cifar_on_disk("cifar100"))


@availability_check("imagefolder")
def imagefolder_on_disk(opts: LoadOptions) -> None:
    """data.path holds train/ and val/ or test/."""
    root = os.path.abspath(opts.path) if opts.path else ""
    train_dir = os.path.join(root, "train")
    if not root or not os.path.isdir(train_dir):
        raise DatasetNotFoundError(
            f"imagefolder: no 'train' folder under data.path={opts.path!r} ({train_dir or 'path is empty'}); "
            "set data.path to a folder holding train/ and val/ (or test/) class subfolders"
        )
    if not (os.path.isdir(os.path.join(root, "val")) or os.path.isdir(os.path.join(root, "test"))):
        raise DatasetNotFoundError(f"imagefolder: neither {os.path.join(root, 'val')} nor {os.path.join(root, 'test')} exists")
