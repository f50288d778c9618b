"""A CIFAR-10 of random pixels in torchvision's on-disk format (`cifar-10-batches-py`), so the real
file-based data path (torchvision decode, device-resident copy, augmentation) is timed on a machine
that cannot download the real one. Timing does not depend on the pixel values."""
from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

TRAIN_FILES = 5


def write_fake_cifar10(root: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """Writes `root/cifar-10-batches-py` (n_train split over the 5 train files) and returns `root`."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def write(name: str, n: int) -> None:
        data = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump({"data": data, "labels": [int(i % 10) for i in range(n)]}, fh)

    per_file = -(-n_train // TRAIN_FILES)
    for i in range(TRAIN_FILES):
        write(f"data_batch_{i + 1}", min(per_file, n_train - i * per_file))
    write("test_batch", n_test)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, fh)
    return root


@contextmanager
def integrity_checks_skipped() -> Iterator[None]:
    """torchvision checks the real files' md5 sums; the fake files pass only inside this block."""
    from torchvision import datasets

    patched = [(datasets.CIFAR10, "_check_integrity", lambda self: True), (datasets.cifar, "check_integrity", lambda *a, **k: True)]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patched]
    for owner, name, fake in patched:
        setattr(owner, name, fake)
    try:
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
