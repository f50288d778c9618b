"""Datasets: split sizes, stratification, determinism, normalisation, loaders and error messages."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from lottery.data import DATASETS, DataBundle, load_dataset
from lottery.data.tensor_loader import TensorBatches, random_shift
from lottery.errors import ConfigError, DatasetNotFoundError


def collect(batches) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*list(batches))
    return torch.cat(xs), torch.cat(ys)


def count(batches) -> int:
    return sum(len(y) for _, y in batches)


def test_registry_names() -> None:
    assert set(DATASETS.names()) == {"digits", "digits_invert", "cifar10", "cifar100", "imagefolder", "synthetic"}


def test_digits_split_sizes_and_shapes() -> None:
    b = load_dataset("digits", augment=False)
    assert isinstance(b, DataBundle)
    assert (b.in_channels, b.num_classes, b.input_size) == (1, 10, 8)
    n_train, n_val, n_test = count(b.train), count(b.val), count(b.test)
    assert n_train + n_val + n_test == 1797
    assert n_test == 360
    assert n_val == 288 and n_train == 1149 == b.num_train
    x, y = next(iter(b.train))
    assert x.shape == (64, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64


def test_digits_val_fraction_zero_gives_empty_val() -> None:
    b = load_dataset("digits", val_fraction=0.0)
    assert count(b.val) == 0 and b.num_train == 1797 - 360


def test_digits_splits_are_stratified() -> None:
    from sklearn.datasets import load_digits

    totals = Counter(load_digits().target.tolist())
    b = load_dataset("digits", augment=False)
    for part, frac in ((b.test, 0.2), (b.val, 0.8 * 0.2)):
        _, y = collect(part)
        got = Counter(y.tolist())
        for c, total in totals.items():
            assert abs(got[c] - frac * total) <= 1.5, (c, got[c], frac * total)


def test_digits_split_seed_determinism_independent_of_shuffle_seed() -> None:
    a = collect(load_dataset("digits", split_seed=0, shuffle_seed=0).test)
    b = collect(load_dataset("digits", split_seed=0, shuffle_seed=5).test)
    c = collect(load_dataset("digits", split_seed=1).test)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].shape == c[0].shape
    assert not torch.equal(a[0], c[0])


def test_digits_normalised_on_train() -> None:
    x, _ = collect(load_dataset("digits", augment=False).train)
    assert abs(x.mean().item()) < 1e-4
    assert x.std().item() == pytest.approx(1.0, abs=1e-3)


def test_train_reshuffles_each_epoch_deterministically() -> None:
    b1 = load_dataset("digits", augment=False, shuffle_seed=3)
    b2 = load_dataset("digits", augment=False, shuffle_seed=3)
    e1, e2 = collect(b1.train)[1], collect(b1.train)[1]
    assert not torch.equal(e1, e2)  # a new order each epoch
    assert torch.equal(e1, collect(b2.train)[1])  # same order for the same seed
    assert torch.equal(collect(b2.train)[1], e2)
    assert sorted(e1.tolist()) == sorted(e2.tolist())
    v1, v2 = collect(b1.val)[1], collect(b1.val)[1]
    assert torch.equal(v1, v2)  # eval splits are not shuffled


def test_digits_augment_only_on_train() -> None:
    plain = load_dataset("digits", augment=False, shuffle_seed=0)
    aug = load_dataset("digits", augment=True, shuffle_seed=0)
    assert torch.equal(collect(plain.test)[0], collect(aug.test)[0])
    assert torch.equal(collect(plain.val)[0], collect(aug.val)[0])
    xp, yp = collect(plain.train)
    xa, ya = collect(aug.train)
    assert xa.shape == xp.shape
    assert not torch.equal(xa, xp)


def test_random_shift_moves_pixels_by_at_most_one() -> None:
    x = torch.zeros(200, 2, 6, 6)
    x[:, :, 3, 2] = 1.0
    out = random_shift(1, fill=0.0)(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert torch.all(out.sum(dim=(2, 3)) == 1.0)  # interior pixel is never cropped away
    pos = out[:, 0].flatten(1).argmax(1)
    rows, cols = pos // 6, pos % 6
    assert set(rows.tolist()) == {2, 3, 4} and set(cols.tolist()) == {1, 2, 3}
    assert torch.equal(out[:, 0], out[:, 1])  # both channels shifted alike
    filled = random_shift(1, fill=-7.0)(torch.zeros(50, 1, 4, 4), torch.Generator().manual_seed(1))
    assert set(filled.unique().tolist()) <= {0.0, -7.0} and (filled == -7.0).any()


def test_tensor_batches_len_and_tail() -> None:
    tb = TensorBatches(torch.arange(10).float(), torch.arange(10), 4)
    assert len(tb) == 3
    assert [len(y) for _, y in tb] == [4, 4, 2]


def test_synthetic_is_deterministic_and_learnable() -> None:
    from sklearn.linear_model import LogisticRegression

    b = load_dataset("synthetic", batch_size=32)
    assert (b.in_channels, b.num_classes, b.input_size, b.num_train) == (3, 4, 8, 256)
    assert (count(b.train), count(b.val), count(b.test)) == (256, 64, 64)
    x, y = collect(b.train)
    assert x.shape[1:] == (3, 8, 8)
    assert set(y.tolist()) == {0, 1, 2, 3}
    xv, yv = collect(b.test)
    assert torch.equal(collect(load_dataset("synthetic").test)[0], xv)
    clf = LogisticRegression(max_iter=2000).fit(x.flatten(1).numpy(), y.numpy())
    assert clf.score(x.flatten(1).numpy(), y.numpy()) > 0.95  # labels are a linear function of the input


@pytest.mark.parametrize("kw,needle", [
    (dict(val_fraction=1.0), "val_fraction"), (dict(val_fraction=-0.1), "val_fraction"),
    (dict(batch_size=0), "batch_size"), (dict(num_workers=-1), "num_workers"),
])
def test_bad_values_raise_config_error(kw: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        load_dataset("digits", **kw)
    assert str(next(iter(kw.values()))) in str(info.value)


def test_unknown_dataset_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        load_dataset("mnist")
    msg = str(info.value)
    assert "mnist" in msg and all(n in msg for n in DATASETS.names())


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_missing_on_disk(tmp_path, name: str) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset(name, data_root=str(tmp_path), download=False)
    msg = str(info.value)
    assert "data.download=true" in msg and str(tmp_path) in msg


def test_imagefolder_missing_path(tmp_path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(DatasetNotFoundError, match="nope"):
        load_dataset("imagefolder", path=str(missing))
    with pytest.raises(DatasetNotFoundError, match="data.path"):
        load_dataset("imagefolder")


def test_imagefolder_small(tmp_path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("val", 2)):
        for cls in ("cat", "dog"):
            d = tmp_path / split / cls
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(d / f"{i}.png")
    b = load_dataset("imagefolder", path=str(tmp_path), batch_size=4, val_fraction=0.5)
    assert (b.in_channels, b.num_classes, b.input_size) == (3, 2, 64)
    assert (b.num_train, count(b.val), count(b.test)) == (6, 6, 4)  # val carved from train, val/ is the test set
    x, y = next(iter(b.train))
    assert x.shape == (4, 3, 64, 64) and y.dtype == torch.int64
