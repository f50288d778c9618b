"""Deterministic random data with a learnable label, for fast tests that must not touch the disk."""
from __future__ import annotations

import torch

from lottery.data.base import DATASETS, DataBundle, LoadOptions, class_selection
from lottery.data.device_loader import DeviceBatches

SYNTH_SIZES = (256, 64, 64)  # train, val, test
SYNTH_SHAPE = (3, 8, 8)
SYNTH_CLASSES = 4
SYNTH_DATA_SEED = 1234


@DATASETS.register("synthetic", help="256/64/64 random 3x8x8 tensors, 4 classes from a fixed linear map")
def load_synthetic(opts: LoadOptions) -> DataBundle:
    """Label = argmax of a fixed random projection of the input, so a linear model can fit it.

    The data never changes (fixed seed); split_seed, val_fraction and augment are ignored. The inputs
    are standard normal with no pixel range: the bundle's default identity normalisation and
    `pixel_range=None` mean an attack's epsilon is in input units and nothing is clamped.
    """
    gen = torch.Generator().manual_seed(SYNTH_DATA_SEED)
    n = sum(SYNTH_SIZES)
    x = torch.randn(n, *SYNTH_SHAPE, generator=gen)
    proj = torch.randn(x[0].numel(), SYNTH_CLASSES, generator=gen)
    y = (x.flatten(1) @ proj).argmax(dim=1)
    n_tr, n_va, _ = SYNTH_SIZES
    parts = [(x[:n_tr], y[:n_tr]), (x[n_tr : n_tr + n_va], y[n_tr : n_tr + n_va]), (x[n_tr + n_va :], y[n_tr + n_va :])]
    num_classes = SYNTH_CLASSES
    if opts.classes:
        selected = []
        for px, py in parts:
            keep, relabel = class_selection(py.numpy(), opts.classes, SYNTH_CLASSES, "synthetic")
            idx = torch.from_numpy(keep)
            selected.append((px[idx], torch.from_numpy(relabel)[py[idx]]))
        parts, num_classes = selected, len(opts.classes)
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = parts
    bs, dev = opts.batch_size, opts.device
    return DataBundle(
        train=DeviceBatches(x_tr, y_tr, bs, shuffle=True, seed=opts.shuffle_seed, device=dev),
        val=DeviceBatches(x_va, y_va, bs, device=dev),
        test=DeviceBatches(x_te, y_te, bs, device=dev),
        in_channels=SYNTH_SHAPE[0],
        num_classes=num_classes,
        input_size=SYNTH_SHAPE[1],
        num_train=len(x_tr),
    )
