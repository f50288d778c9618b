"""sklearn's bundled 8x8 digits (1797 images, 10 classes): a real dataset that needs no download."""
from __future__ import annotations

import numpy as np
import torch

from lottery.data.base import DATASETS, DataBundle, LoadOptions, class_selection, stratified_split
from lottery.data.tensor_loader import TensorBatches, random_shift

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
    x = torch.from_numpy((images - mean) / std).unsqueeze(1)  # (N, 1, 8, 8)
    y = torch.from_numpy(labels)

    def part(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.from_numpy(idx)
        return x[t], y[t]

    # Pad with the normalised background (raw 0, or 1 inverted), so shifted-in pixels look like blank paper.
    background = 1.0 if invert else 0.0
    shift = random_shift(1, fill=(background - mean) / std) if opts.augment else None
    bs = opts.batch_size
    return DataBundle(
        train=TensorBatches(*part(train_idx), bs, shuffle=True, seed=opts.shuffle_seed, transform=shift),
        val=TensorBatches(*part(val_idx), bs),
        test=TensorBatches(*part(test_idx), bs),
        in_channels=1,
        num_classes=num_classes,
        input_size=8,
        num_train=len(train_idx),
        mean=(mean,),
        std=(std,),
        pixel_range=(0.0, 1.0),
    )
