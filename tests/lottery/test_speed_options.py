"""train.precision / channels_last / compile / cuda_graph: validated, off by default (old config
hashes unchanged), and a ticket's shrink and weight-mask hooks keep working under them on CPU."""
from __future__ import annotations

import time
from typing import Any

import pytest
import torch

from lottery.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lottery.errors import ConfigError
from lottery.methods import METHODS
from lottery.methods.earlybird import EarlyBirdParams
from lottery.methods.magnitude import MagnitudeParams
from lottery.session import LocalSession
from lottery.training.speed import StepOptions


def cfg(method: Any, **train: Any) -> ExperimentConfig:
    return ExperimentConfig(
        data=DataConfig(name="synthetic", batch_size=64),
        model=ModelConfig(name="vgg_tiny"),
        train=TrainConfig(epochs=2, device="cpu", threads=1, **train),
        method=method,
    )


def run(config: ExperimentConfig) -> tuple[LocalSession, dict[str, Any]]:
    session = LocalSession()
    return session, METHODS.get(config.method.name)().run(config, session)


def test_defaults_change_nothing_and_keep_hashes() -> None:
    from lottery.codec import config_hash

    base = cfg(EarlyBirdParams())
    assert StepOptions.from_train(base.train, torch.device("cpu")).is_default
    explicit = cfg(EarlyBirdParams(), precision="fp32", channels_last=False, compile=False, cuda_graph=False)
    assert config_hash(explicit) == config_hash(base)
    assert config_hash(cfg(EarlyBirdParams(), precision="bf16")) != config_hash(base)


@pytest.mark.parametrize("kw,needle", [
    (dict(precision="fp16"), "train.precision"),
    (dict(cuda_graph=True), "train.cuda_graph"),  # device cpu: refused
])
def test_bad_speed_values_are_refused(kw: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        TrainConfig(device="cpu", **kw)


def test_cuda_graph_is_ignored_when_auto_resolves_to_cpu() -> None:
    opts = StepOptions.from_train(TrainConfig(device="auto", cuda_graph=True), torch.device("cpu"))
    assert not opts.cuda_graph


@pytest.mark.parametrize("speed", [dict(precision="bf16"), dict(channels_last=True), dict(precision="bf16", channels_last=True)])
def test_earlybird_shrinks_and_saves_under_speed_options(tmp_path, speed: dict) -> None:
    config = cfg(EarlyBirdParams(eb_epsilon=1.0, prune_ratio=0.5), **speed)
    session, final = run(config)
    plain_session, plain = run(cfg(EarlyBirdParams(eb_epsilon=1.0, prune_ratio=0.5)))
    assert final["flops"] == plain["flops"] < final["dense_flops"]  # same shrunk architecture
    assert 0.0 <= final["val_accuracy"] <= 1.0
    assert all(torch.isfinite(torch.tensor(e["train_loss"])) for e in session.epochs)
    if speed.get("precision") == "bf16":  # bf16 rounding changes the numbers, not the recipe
        assert session.epochs[0]["train_loss"] != plain_session.epochs[0]["train_loss"]
        assert session.epochs[0]["train_loss"] == pytest.approx(plain_session.epochs[0]["train_loss"], rel=0.05)
    else:  # channels_last alone: the same arithmetic, up to summation order
        assert session.epochs[0]["train_loss"] == pytest.approx(plain_session.epochs[0]["train_loss"], rel=1e-4)


def test_weight_masks_stay_zero_under_bf16_channels_last() -> None:
    config = cfg(MagnitudeParams(sparsity=0.6), precision="bf16", channels_last=True)
    session, final = run(config)
    assert final["weight_sparsity"] == pytest.approx(0.6, abs=0.01)
    assert session.final is not None
    state = session.last_state
    assert state is not None and state["masks"] is not None
    for name, mask in state["masks"].items():
        assert torch.all(state["model"][name][~mask.bool()] == 0), name


@pytest.mark.slow  # inductor builds kernels on first use: tens of seconds on 2 cores
def test_compile_trains_and_matches_eager() -> None:
    began = time.perf_counter()
    try:
        session, final = run(cfg(EarlyBirdParams(eb_epsilon=1.0), compile=True))
    except Exception as exc:  # no C compiler on the runner: inductor cannot build kernels
        pytest.skip(f"torch.compile unavailable here: {type(exc).__name__}: {exc}")
    if time.perf_counter() - began > 30:
        pytest.skip("torch.compile too slow on this machine for a unit test")
    _, plain = run(cfg(EarlyBirdParams(eb_epsilon=1.0)))
    assert final["flops"] == plain["flops"]
    assert final["val_accuracy"] == pytest.approx(plain["val_accuracy"], abs=0.1)
