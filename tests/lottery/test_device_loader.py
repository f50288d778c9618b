"""Device-resident datasets: same splits, shapes and values as the DataLoader path; augmentation on
the device varies per epoch and replays exactly from the generator state."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from lottery.data import Augment, DeviceBatches, load_dataset
from lottery.data.device_loader import crop_flip
from lottery.data.torchvision_sets import CIFAR_STATS

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def collect(batches) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*list(batches))
    return torch.cat(xs).cpu(), torch.cat(ys).cpu()


@pytest.fixture
def fake_cifar10(tmp_path, monkeypatch) -> Path:
    """A tiny CIFAR-10 in torchvision's on-disk format (5 train batches of 40, a test batch of 30);
    torchvision's md5 check is bypassed for this test only (the files are not the real ones)."""
    from torchvision import datasets

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)

    def write(name: str, n: int) -> None:
        labels = [int(i % 10) for i in range(n)]
        data = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
        with open(folder / name, "wb") as fh:
            pickle.dump({"data": data, "labels": labels}, fh)

    for i in range(1, 6):
        write(f"data_batch_{i}", 40)
    write("test_batch", 30)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, fh)
    monkeypatch.setattr(datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(datasets.cifar, "check_integrity", lambda *a, **k: True)
    return tmp_path


def _cifar(root: Path, resident: bool, **kw):
    return load_dataset(
        kw.pop("name", "cifar10"), data_root=str(root), batch_size=16, val_fraction=0.2, device=DEVICE,
        resident_max_mb=1024.0 if resident else 0.0, **kw,
    )


def test_resident_cifar_matches_the_dataloader_path(fake_cifar10: Path) -> None:
    dev = _cifar(fake_cifar10, resident=True, augment=False)
    ref = _cifar(fake_cifar10, resident=False, augment=False)
    assert isinstance(dev.train, DeviceBatches) and not isinstance(ref.train, DeviceBatches)
    for field in ("in_channels", "num_classes", "input_size", "num_train", "mean", "std", "pixel_range"):
        assert getattr(dev, field) == getattr(ref, field), field
    for split in ("val", "test"):  # not shuffled: identical batches, up to float rounding
        xd, yd = collect(getattr(dev, split))
        xr, yr = collect(getattr(ref, split))
        assert torch.equal(yd, yr)
        assert torch.allclose(xd, xr, atol=1e-5)
    xd, yd = collect(dev.train)  # shuffled by different streams: the same samples in another order
    xr, yr = collect(ref.train)
    key = lambda x: torch.sort(x.flatten(1).sum(1)).values  # noqa: E731
    assert xd.shape == xr.shape == (160, 3, 32, 32) and torch.allclose(key(xd), key(xr), atol=1e-3)
    assert sorted(yd.tolist()) == sorted(yr.tolist())
    batch_x, batch_y = next(iter(dev.train))
    assert batch_x.device.type == DEVICE and batch_x.dtype == torch.float32 and batch_y.dtype == torch.int64


def test_resident_cifar_augmentation_range_and_variation(fake_cifar10: Path) -> None:
    dev = _cifar(fake_cifar10, resident=True, augment=True)
    ref = _cifar(fake_cifar10, resident=False, augment=True)
    xd, _ = collect(dev.train)
    xr, _ = collect(ref.train)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in CIFAR_STATS["cifar10"])
    lo, hi = (0 - mean) / std, (1 - mean) / std  # normalised [0, 1] pixels; padding is black (raw 0)
    for x in (xd, xr):
        assert x.shape == (160, 3, 32, 32)
        assert torch.all(x >= lo - 1e-5) and torch.all(x <= hi + 1e-5)
    # Both pad with black: the share of exactly-black pixels agrees within sampling noise.
    black_d = (xd - lo).abs().lt(1e-5).all(1).float().mean()
    black_r = (xr - lo).abs().lt(1e-5).all(1).float().mean()
    assert abs(black_d - black_r) < 0.03 and black_d > 0.05
    assert not torch.equal(xd, collect(dev.train)[0])  # a new crop / flip / order each epoch


def test_resident_cifar_class_subset_and_val_split(fake_cifar10: Path) -> None:
    for resident in (True, False):
        b = _cifar(fake_cifar10, resident=resident, augment=False, name="cifar10[3,1]")
        _, y_train = collect(b.train)
        _, y_val = collect(b.val)
        _, y_test = collect(b.test)
        assert b.num_classes == 2 and b.num_train == len(y_train) == 32  # 40 of each class, 20 % held out
        assert len(y_val) == 8 and len(y_test) == 6
        assert set(y_train.tolist()) == set(y_val.tolist()) == {0, 1}


def test_crop_flip_is_a_shifted_mirrored_window() -> None:
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.uint8).view(2, 3, 5, 5)
    aug = Augment(pad=2, flip=True, fill=0)
    dy, dx, flip = torch.tensor([2, 0]), torch.tensor([2, 4]), torch.tensor([0, 1])
    out = crop_flip(x, dy, dx, flip, aug)
    assert out.dtype == torch.uint8
    assert torch.equal(out[0], x[0])  # offset (pad, pad), no flip: the image itself
    padded = torch.nn.functional.pad(x[1], (2, 2, 2, 2))
    assert torch.equal(out[1], padded[:, 0:5, 4:9].flip(-1))


def test_resume_replays_identical_batches() -> None:
    b = load_dataset("digits", augment=True, shuffle_seed=4, device=DEVICE)
    collect(b.train)  # epoch 1
    saved = b.train.generator.get_state()  # what the checkpoint stores after epoch 1
    epoch2 = collect(b.train)
    fresh = load_dataset("digits", augment=True, shuffle_seed=4, device=DEVICE)
    fresh.train.generator.set_state(saved)
    again = collect(fresh.train)
    assert torch.equal(epoch2[0], again[0]) and torch.equal(epoch2[1], again[1])


def test_digits_device_path_keeps_the_normalisation_and_shift() -> None:
    plain = load_dataset("digits", augment=False, device=DEVICE)
    x, _ = collect(plain.train)
    assert abs(x.mean().item()) < 1e-4 and x.std().item() == pytest.approx(1.0, abs=1e-3)
    aug = load_dataset("digits", augment=True, device=DEVICE)
    xa, _ = collect(aug.train)
    background = (0.0 - plain.mean[0]) / plain.std[0]
    assert xa.shape == x.shape and xa.min().item() >= background - 1e-4  # shifted-in pixels are blank paper
    assert torch.allclose(x.max(), xa.max())


def test_resident_max_mb_must_be_non_negative() -> None:
    from lottery.errors import ConfigError

    with pytest.raises(ConfigError, match="resident_max_mb"):
        load_dataset("digits", resident_max_mb=-1)
