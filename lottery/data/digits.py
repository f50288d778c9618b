"""sklearn's bundled 8x8 digits (1797 images, 10 classes): a real dataset that needs no download."""
from __future__ import annotations

import numpy as np
import torch

from lottery.data.base import DATASETS, DataBundle, LoadOptions, class_selection, stratified_split
from lottery.data.device_loader import Augment, DeviceBatches

DIGITS_TEST_FRACTION = 0.2


@DATASETS.register("digits", help="sklearn 8x8 digits, 1x8x8, 10 classes (offline)")
def load_digits_bundle(opts: LoadOptions) -> DataBundle:
    """Stratified test (20%, fixed by split_seed) and val splits; normalised with train-split mean/std."""
    return _digits(opts, invert=False)


@DATASETS.register("digits_invert", help="digits with inverted intensities (white ink on black -> a domain shift), offline")
def load_inverted_digits(opts: LoadOptions) -> DataBundle:
    """The same images and splits as `digits` with raw pixels 1 - x: a shifted domain for transfer tests."""
    return _digits(opts, invert=True)


def _digits(opts: LoadOptions, invert: bool) -> DataBundle:
    """Raw pixels are in [0, 1] (sklearn's 0..16 / 16); the bundle records the scalar mean/std used."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = raw.images.astype(np.float32) / 16.0
    if invert:
        images = 1.0 - images
    labels = raw.target.astype(np.int64)
    num_classes = 10
    if opts.classes:
        keep, relabel = class_selection(labels, opts.classes, num_classes, "digits")
        images, labels, num_classes = images[keep], relabel[labels[keep]], len(opts.classes)

    rest, test_idx = stratified_split(labels, DIGITS_TEST_FRACTION, opts.split_seed)
    train_pos, val_pos = stratified_split(labels[rest], float(opts.val_fraction), opts.split_seed)
    train_idx, val_idx = rest[train_pos], rest[val_pos]

    mean = float(images[train_idx].mean())
    std = float(images[train_idx].std())
    x = torch.from_numpy(images).unsqueeze(1)  # raw (N, 1, 8, 8); normalised per batch on the device
    y = torch.from_numpy(labels)

    # Shift by up to 1 px, padding with the background (raw 0, or 1 inverted) so shifted-in pixels look
    # like blank paper; no flip (digits are not mirror-symmetric).
    background = 1.0 if invert else 0.0
    shift = Augment(pad=1, flip=False, fill=background) if opts.augment else None
    def part(idx: np.ndarray, shuffle: bool = False, seed: int = 0, augment: Augment | None = None) -> DeviceBatches:
        t = torch.from_numpy(idx)
        return DeviceBatches(x[t], y[t], opts.batch_size, mean=(mean,), std=(std,), device=opts.device,
                             shuffle=shuffle, seed=seed, augment=augment)

    return DataBundle(
        train=part(train_idx, shuffle=True, seed=opts.shuffle_seed, augment=shift),
        val=part(val_idx),
        test=part(test_idx),
        in_channels=1,
        num_classes=num_classes,
        input_size=8,
        num_train=len(train_idx),
        mean=(mean,),
        std=(std,),
        pixel_range=(0.0, 1.0),
    )
