"""The Early-Bird detector's firing rule on masks with exact Hamming distances."""
from __future__ import annotations

import pytest
import torch

from lottery.errors import ConfigError
from lottery.pruning.earlybird_detector import EarlyBirdDetector

N = 20  # mask length: one flip = distance 0.05, so eps 0.1 allows at most 2 flips


def mask(*flipped: int) -> torch.Tensor:
    m = torch.zeros(N, dtype=torch.bool)
    m[list(flipped)] = True
    return m


def test_does_not_fire_before_queue_is_full_even_if_identical() -> None:
    det = EarlyBirdDetector(queue_size=5, epsilon=0.1)
    fired = [det.push(mask()) for _ in range(4)]
    assert fired == [False, False, False, False]
    assert det.distances() == [0.0, 0.0, 0.0]
    assert det.push(mask()) is True  # 5th identical mask fills the queue
    assert det.distances() == [0.0, 0.0, 0.0, 0.0]


def test_fires_when_newest_within_eps_of_all_four_older() -> None:
    det = EarlyBirdDetector(queue_size=5, epsilon=0.1)
    # older masks; newest = mask(0): distances 2/20, 1/20, 0, 2/20 -> all <= 0.1 (two at exactly eps)
    for m in (mask(1), mask(), mask(0), mask(0, 3, 4)):
        assert det.push(m) is False
    assert det.push(mask(0)) is True
    assert det.distances() == [0.1, 0.05, 0.0, 0.1]
    assert det.max_distance() == 0.1
    assert det.fired()


def test_does_not_fire_if_any_one_older_mask_is_farther_than_eps() -> None:
    for far_position in range(4):
        det = EarlyBirdDetector(queue_size=5, epsilon=0.1)
        older = [mask(0)] * 4
        older[far_position] = mask(0, 5, 6, 7)  # 3 flips from the newest mask(0): distance 0.15
        for m in older:
            det.push(m)
        assert det.push(mask(0)) is False, far_position
        d = det.distances()
        assert d[far_position] == 0.15
        assert d[:far_position] + d[far_position + 1 :] == [0.0, 0.0, 0.0]


def test_oldest_mask_leaves_the_queue() -> None:
    det = EarlyBirdDetector(queue_size=5, epsilon=0.1)
    det.push(mask(*range(10)))  # the (very different) init mask
    results = [det.push(mask()) for _ in range(5)]
    # while the init mask is queued the newest is 0.5 away from it; the 5th push evicts it
    assert results == [False, False, False, False, True]
    assert det.distances() == [0.0] * 4


def test_distances_are_oldest_first_and_empty_before_two() -> None:
    det = EarlyBirdDetector(queue_size=3, epsilon=0.0)
    assert det.distances() == []
    det.push(mask(0, 1, 2, 3))
    assert det.distances() == []
    assert det.max_distance() != det.max_distance()  # NaN
    det.push(mask(0, 1))
    det.push(mask(0))
    assert det.distances() == [0.15, 0.05]
    assert det.max_distance() == 0.15
    det.push(mask())  # queue of 3: mask(0, 1, 2, 3) evicted
    assert det.distances() == [0.1, 0.05]


def test_epsilon_zero_needs_exactly_identical_masks() -> None:
    det = EarlyBirdDetector(queue_size=2, epsilon=0.0)
    det.push(mask(0))
    assert det.push(mask(1)) is False
    assert det.push(mask(1)) is True


def test_state_dict_round_trip_preserves_behaviour() -> None:
    det = EarlyBirdDetector(queue_size=5, epsilon=0.1)
    for m in (mask(1), mask(), mask(0), mask(0, 3)):
        det.push(m)
    state = det.state_dict()
    assert state["queue_size"] == 5 and state["epsilon"] == 0.1 and len(state["masks"]) == 4
    restored = EarlyBirdDetector(queue_size=2, epsilon=0.9)  # overwritten by the state
    restored.load_state_dict(state)
    assert restored.queue_size == 5 and restored.epsilon == 0.1
    assert restored.distances() == det.distances()
    # same next decisions as the original, including the sliding window
    decisions = []
    for m in (mask(0), mask(0, 5, 6), mask(0)):
        decisions.append(restored.push(m))
        assert det.push(m) == decisions[-1]
    assert decisions == [True, False, True]
    assert restored.distances() == det.distances() == [0.0, 0.05, 0.0, 0.1]


def test_state_dict_survives_torch_save_weights_only(tmp_path) -> None:
    det = EarlyBirdDetector(queue_size=3, epsilon=0.05)
    det.push(mask(0))
    det.push(mask(0, 1))
    torch.save(det.state_dict(), tmp_path / "d.pt")
    restored = EarlyBirdDetector()
    restored.load_state_dict(torch.load(tmp_path / "d.pt", weights_only=True))
    assert (restored.queue_size, restored.epsilon) == (3, 0.05)
    assert restored.push(mask(0, 1, 2)) is False  # 0.1 from mask(0) > 0.05
    assert restored.distances() == [0.1, 0.05]


def test_pushed_mask_is_copied() -> None:
    det = EarlyBirdDetector(queue_size=2, epsilon=0.0)
    m = mask(0)
    det.push(m)
    m[:] = True  # mutating the caller's tensor must not change the queued mask
    assert det.push(mask(0)) is True


@pytest.mark.parametrize("q", [0, 1, -3])
def test_queue_size_below_two_raises(q: int) -> None:
    with pytest.raises(ConfigError, match="eb_queue"):
        EarlyBirdDetector(queue_size=q, epsilon=0.1)


@pytest.mark.parametrize("eps", [-0.01, 1.01])
def test_epsilon_outside_unit_interval_raises(eps: float) -> None:
    with pytest.raises(ConfigError, match="eb_epsilon"):
        EarlyBirdDetector(queue_size=5, epsilon=eps)
