"""Attacks: they stay in the eps ball and the pixel range, hurt a trained model, leave no trace in it,
and at eps = 0 training is vanilla training bit for bit."""
from __future__ import annotations

import pytest
import torch

from lottery.adversarial import InputSpace, TrainAttack, pgd, robust_accuracy, train_attack
from lottery.data import load_dataset
from lottery.errors import ConfigError
from lottery.models import create_model
from lottery.training.loop import evaluate, make_optimizer, train_one_epoch
from lottery.config import TrainConfig

CPU = torch.device("cpu")


def digits_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("vgg_tiny", in_channels=1, num_classes=10, input_size=8)


def train(model: torch.nn.Module, data, epochs: int, perturb=None) -> torch.nn.Module:
    optimizer = make_optimizer(model, TrainConfig(lr=0.05))
    for _ in range(epochs):
        train_one_epoch(model, data.train, optimizer, CPU, perturb=perturb)
    return model


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", batch_size=64)


@pytest.fixture(scope="module")
def trained(digits):
    torch.manual_seed(0)
    return train(digits_model(), digits, epochs=12)


def test_digits_bundle_records_its_normalisation(digits) -> None:
    space = InputSpace.of(digits)
    x = torch.cat([xb for xb, _ in digits.test])
    raw = space.to_raw(x)
    assert digits.pixel_range == (0.0, 1.0) and len(digits.mean) == len(digits.std) == 1
    assert raw.min().item() == pytest.approx(0.0, abs=1e-5) and raw.max().item() == pytest.approx(1.0, abs=1e-5)
    # sklearn's pixels are 0..16 / 16: the raw values are multiples of 1/16 again
    assert torch.allclose(raw * 16, (raw * 16).round(), atol=1e-3)
    inverted = load_dataset("digits_invert", batch_size=64)
    raw_inv = InputSpace.of(inverted).to_raw(torch.cat([xb for xb, _ in inverted.test]))
    assert torch.allclose(raw_inv, 1.0 - raw, atol=1e-5)


@pytest.mark.parametrize("attack", ["pgd", "fgsm"])
def test_attack_stays_in_the_eps_ball_and_the_pixel_range(digits, trained, attack) -> None:
    space, eps = InputSpace.of(digits), 0.1
    x, y = next(iter(digits.test))
    torch.manual_seed(1)
    x_adv = train_attack(space, attack, eps, steps=7)(trained.train(), x, y)  # type: ignore[misc]
    raw, raw_adv = space.to_raw(x), space.to_raw(x_adv)
    delta = (raw_adv - raw).abs()
    assert delta.max().item() <= eps + 1e-5
    assert delta.max().item() >= eps - 1e-5  # the attack uses its whole budget somewhere
    assert raw_adv.min().item() >= -1e-5 and raw_adv.max().item() <= 1 + 1e-5
    # pixels at the range's ends can only move inwards
    assert (raw_adv[raw < 1e-6] >= -1e-5).all() and (raw_adv[raw > 1 - 1e-6] <= 1 + 1e-5).all()


def test_per_channel_normalisation_scales_eps_per_channel() -> None:
    space = InputSpace(mean=(0.5, 0.4, 0.3), std=(0.25, 0.5, 0.1), pixel_range=(0.0, 1.0))
    torch.manual_seed(0)
    model = create_model("vgg_tiny", in_channels=3, num_classes=4, input_size=8).eval()
    raw = torch.rand(16, 3, 8, 8)
    x = (raw - torch.tensor(space.mean).view(1, 3, 1, 1)) / torch.tensor(space.std).view(1, 3, 1, 1)
    y = torch.randint(0, 4, (16,))
    x_adv = pgd(model, x, y, space, eps=8 / 255, step=2 / 255, steps=10)
    raw_delta = (space.to_raw(x_adv) - raw).abs()
    for c in range(3):
        assert raw_delta[:, c].max().item() <= 8 / 255 + 1e-5
        assert raw_delta[:, c].max().item() >= 8 / 255 - 1e-5
    assert space.to_raw(x_adv).min() >= -1e-5 and space.to_raw(x_adv).max() <= 1 + 1e-5


def test_pgd_lowers_a_trained_models_accuracy(digits, trained) -> None:
    space = InputSpace.of(digits)
    clean = evaluate(trained, digits.test, CPU)
    robust = robust_accuracy(trained, digits.test, CPU, space, eps=0.2, steps=20)
    weak = robust_accuracy(trained, digits.test, CPU, space, eps=0.05, steps=20)
    assert clean >= 0.8
    assert robust <= clean - 0.3
    assert robust <= weak <= clean  # a larger ball never helps the model
    assert robust_accuracy(trained, digits.test, CPU, space, eps=0.2, steps=20) == robust  # own seeded generator
    assert robust_accuracy(trained, digits.test, CPU, space, eps=0.0, steps=20) == clean


def test_attack_leaves_no_trace_in_the_model(digits, trained) -> None:
    trained.zero_grad(set_to_none=True)
    before = {k: v.clone() for k, v in trained.state_dict().items()}
    x, y = next(iter(digits.train))
    trained.train()
    TrainAttack(InputSpace.of(digits), 0.1, 0.04, 3)(trained, x, y)
    after = trained.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running statistics included
    assert all(p.grad is None for p in trained.parameters())


def test_eps_zero_training_is_vanilla_training_bit_for_bit(digits) -> None:
    space = InputSpace.of(digits)
    assert train_attack(space, "pgd", 0.0, steps=3) is None
    runs = []
    for perturb in (None, TrainAttack(space, 0.0, 0.0, 3)):
        fresh = load_dataset("digits", batch_size=64)
        torch.manual_seed(5)
        runs.append(train(digits_model(1), fresh, epochs=2, perturb=perturb).state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_adversarial_training_changes_the_weights_and_adds_robustness(digits) -> None:
    space = InputSpace.of(digits)
    torch.manual_seed(5)
    vanilla = train(digits_model(1), load_dataset("digits", batch_size=64), epochs=6)
    torch.manual_seed(5)
    robust = train(digits_model(1), load_dataset("digits", batch_size=64), epochs=6, perturb=train_attack(space, "fgsm", 0.15, 1))
    rob = [robust_accuracy(m, digits.test, CPU, space, eps=0.15, steps=10) for m in (vanilla, robust)]
    assert rob[1] >= rob[0] + 0.1, f"FGSM-RS training did not add robustness: vanilla {rob[0]:.3f}, robust {rob[1]:.3f}"


def test_attack_choices_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown attack 'cw'; valid: pgd, fgsm"):
        train_attack(InputSpace((0.0,), (1.0,), None), "cw", 0.1, 3)
    pgd_attack = train_attack(InputSpace((0.0,), (1.0,), None), "pgd", 0.1, 4)
    fgsm_attack = train_attack(InputSpace((0.0,), (1.0,), None), "fgsm", 0.1, 4)
    assert pgd_attack is not None and (pgd_attack.steps, pgd_attack.passes) == (4, 4)
    assert pgd_attack.step == pytest.approx(2.5 * 0.1 / 4)
    assert fgsm_attack is not None and (fgsm_attack.steps, fgsm_attack.step) == (1, pytest.approx(0.125))
