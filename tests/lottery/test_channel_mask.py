"""Network-Slimming channel masks: global threshold, per-layer keeps, mask distance."""
from __future__ import annotations

import pytest
import torch

from lottery.errors import ConfigError
from lottery.models import create_model
from lottery.pruning.channel_mask import (
    bn_scores, flatten_mask, global_channel_mask, kept_fraction, mask_distance,
)

# vgg_tiny has prunable widths (8, 16, 16): 40 channels in all. Gammas chosen so every |gamma| is distinct:
#   layer 0: two large (0.9 and -0.8, |.| is the score) and six small 0.01..0.06
#   layer 1: 0.30, 0.31, ..., 0.45
#   layer 2: 0.0001, 0.0002, ..., 0.0016 (all below every other score)
# Ascending order: layer 2 (ranks 0-15), layer 0's small ones (16-21), layer 1 (22-37), 0.8 (38), 0.9 (39).
GAMMA_L0 = [0.9, -0.8, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06]
GAMMA_L1 = [0.30 + 0.01 * i for i in range(16)]
GAMMA_L2 = [0.0001 * (i + 1) for i in range(16)]


def hand_model() -> torch.nn.Module:
    model = create_model("vgg_tiny", in_channels=3, num_classes=4, input_size=8)
    with torch.no_grad():
        for (_, bn), gammas in zip(model.prunable_bns(), (GAMMA_L0, GAMMA_L1, GAMMA_L2)):
            bn.weight.copy_(torch.tensor(gammas))
    return model


def kept(masks: list[torch.Tensor]) -> list[list[int]]:
    return [torch.nonzero(m).flatten().tolist() for m in masks]


def test_bn_scores_are_abs_gamma_per_layer() -> None:
    scores = bn_scores(hand_model())
    assert [s.numel() for s in scores] == [8, 16, 16]
    assert torch.allclose(scores[0], torch.tensor([0.9, 0.8, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06]))
    assert all(not s.requires_grad for s in scores)


def test_threshold_p_half_keeps_exact_channels() -> None:
    scores = bn_scores(hand_model())
    flat_sorted = torch.sort(torch.cat(scores)).values
    threshold = flat_sorted[int(40 * 0.5)]  # rank 20: layer 0's 0.05
    assert threshold.item() == pytest.approx(0.05)
    masks = global_channel_mask(scores, 0.5)
    assert all(m.dtype == torch.bool for m in masks)
    assert [m.numel() for m in masks] == [8, 16, 16]
    # layer 0: only 0.9, |-0.8| and 0.06 exceed 0.05 (0.05 itself is not kept: strictly greater)
    # layer 1: everything; layer 2: all below -> keeps exactly its single best channel (index 15)
    assert kept(masks) == [[0, 1, 7], list(range(16)), [15]]
    assert kept_fraction(masks) == 20 / 40


def test_threshold_p_03_keeps_exact_channels() -> None:
    masks = global_channel_mask(bn_scores(hand_model()), 0.3)
    # int(40 * 0.3) = 12 -> threshold is layer 2's 13th value (0.0013): layer 2 keeps 0.0014..0.0016
    assert kept(masks) == [list(range(8)), list(range(16)), [13, 14, 15]]
    assert flatten_mask(masks).sum().item() == 27


def test_threshold_p_09_several_layers_fall_back_to_best_channel() -> None:
    masks = global_channel_mask(bn_scores(hand_model()), 0.9)
    # int(40 * 0.9) = 36 -> threshold 0.44 (layer 1 index 14): only 0.45, 0.8, 0.9 are above it
    assert kept(masks) == [[0, 1], [15], [15]]


def test_empty_layer_keeps_single_best_channel_not_the_first() -> None:
    scores = [torch.tensor([5.0, 6.0, 7.0, 8.0]), torch.tensor([0.3, 0.1, 0.4, 0.2])]
    masks = global_channel_mask(scores, 0.5)  # threshold = sorted[4] = 5.0
    assert kept(masks) == [[1, 2, 3], [2]]


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5, 0.7])
def test_kept_count_matches_rank_rule_on_distinct_scores(p: float) -> None:
    gen = torch.Generator().manual_seed(3)
    flat = torch.randperm(200, generator=gen).float() + 1.0  # distinct scores 1..200
    scores = [flat[:50], flat[50:120], flat[120:]]
    masks = global_channel_mask(scores, p)
    expected_kept = 200 - int(200 * p) - 1  # strictly above sorted[int(total * p)]
    assert flatten_mask(masks).sum().item() == expected_kept
    threshold = torch.sort(flat).values[int(200 * p)]
    assert torch.equal(flatten_mask(masks), flat > threshold)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_invalid_prune_ratio_raises(p: float) -> None:
    with pytest.raises(ConfigError, match="prune ratio"):
        global_channel_mask([torch.ones(4)], p)


def test_flatten_mask_concatenates_in_layer_order() -> None:
    a, b = torch.tensor([True, False]), torch.tensor([[False], [True], [True]])
    assert flatten_mask([a, b]).tolist() == [True, False, False, True, True]


def test_mask_distance_identical_and_complement() -> None:
    m = torch.tensor([True, False, True, True, False, False, True, False])
    assert mask_distance(m, m.clone()) == 0.0
    assert mask_distance(m, ~m) == 1.0


def test_mask_distance_hand_example() -> None:
    a = torch.tensor([1, 1, 0, 0, 1, 0, 1, 0]).bool()
    b = torch.tensor([1, 0, 0, 0, 1, 1, 1, 0]).bool()  # positions 1 and 5 differ
    assert mask_distance(a, b) == 0.25
    assert mask_distance(b, a) == 0.25


def test_mask_distance_is_exact_at_tenths() -> None:
    """2 of 20 must be exactly 0.1, or a distance equal to epsilon would not count as <= epsilon."""
    a = torch.zeros(20, dtype=torch.bool)
    b = a.clone()
    b[:2] = True
    assert mask_distance(a, b) == 0.1
    assert mask_distance(a, b) <= 0.1


def test_mask_distance_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="different shapes"):
        mask_distance(torch.zeros(8, dtype=torch.bool), torch.zeros(7, dtype=torch.bool))
