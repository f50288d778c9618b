"""Ticket latency: the timing protocol's shape (not its speed: speed belongs to the benchmark)."""
from __future__ import annotations

import torch
from torch import nn

from lottery.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lottery.latency import LATENCY_METRICS, measure, ticket_latency
from lottery.methods import METHODS
from lottery.methods.earlybird import EarlyBirdParams
from lottery.session import LocalSession


def test_measure_interleaves_every_model_and_restores_train_mode() -> None:
    a, b = nn.Linear(16, 4), nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 4))
    a.train()
    b.eval()
    out = measure({"a": a, "b": b}, (16,), 8, "cpu", warmup=1, reps=3)
    assert set(out) == {"a", "b"}
    for lat in out.values():
        assert len(lat.samples_ms) == 3 and lat.median_ms > 0 and lat.spread >= 0
        assert min(lat.samples_ms) <= lat.median_ms <= max(lat.samples_ms)
    assert a.training and not b.training


def test_ticket_latency_reports_the_fixed_columns() -> None:
    small, big = nn.Linear(16, 4), nn.Linear(16, 4)
    out = ticket_latency(small, big, (16,), torch.device("cpu"))
    assert set(out) == set(LATENCY_METRICS)
    assert out["latency_device"] == "cpu" and out["latency_ms"] > 0 and out["latency_speedup_b256"] > 0


def test_final_metrics_carry_latency_and_device() -> None:
    cfg = ExperimentConfig(
        data=DataConfig(name="synthetic", batch_size=64), model=ModelConfig(name="vgg_tiny"),
        train=TrainConfig(epochs=2, device="cpu", threads=1), method=EarlyBirdParams(eb_epsilon=1.0),
    )
    final = METHODS.get("earlybird")().run(cfg, LocalSession())
    assert final["latency_ms"] > 0 and final["latency_ms_b256"] > 0 and final["latency_speedup_b256"] > 0
    assert final["latency_device"] == "cpu" and final["train_device"] == "cpu"
