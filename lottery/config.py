"""Typed, frozen experiment configuration: plain values only, validated on construction.

The method's own parameters live in a per-method dataclass (registered with the method), so a
config is `ExperimentConfig(data, model, train, method=<that method's Params>)`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lottery.errors import ConfigError

MAX_SEED = 2**31  # numpy's and torch's seeders take it (np.random.seed needs < 2**32), with room for offsets


def require(condition: bool, key: str, value: Any, valid: str) -> None:
    if not condition:
        raise ConfigError(f"invalid value {value!r} for {key}; valid: {valid}")


@dataclass(frozen=True)
class DataConfig:
    """Which dataset and how it is split and batched."""

    name: str = "digits"
    data_root: str = "data"
    download: bool = False
    path: str = ""
    batch_size: int = 64
    val_fraction: float = 0.2
    split_seed: int = 0
    augment: bool = True
    num_workers: int = 0

    def __post_init__(self) -> None:
        require(self.batch_size >= 1, "data.batch_size", self.batch_size, "an integer >= 1")
        require(0.0 <= self.val_fraction < 1.0, "data.val_fraction", self.val_fraction, "a number in [0, 1)")
        require(self.num_workers >= 0, "data.num_workers", self.num_workers, "an integer >= 0")
        require(0 <= self.split_seed < MAX_SEED, "data.split_seed", self.split_seed, f"an integer in [0, {MAX_SEED})")


@dataclass(frozen=True)
class ModelConfig:
    """Which registered model, and its width multiplier."""

    name: str = "vgg11"
    width: float = 1.0

    def __post_init__(self) -> None:
        require(self.width > 0, "model.width", self.width, "a number > 0")


@dataclass(frozen=True)
class TrainConfig:
    """The dense training recipe (SGD with step decay), shared by every method's training phases."""

    epochs: int = 20
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_milestones: tuple[float, ...] = (0.5, 0.75)
    lr_gamma: float = 0.1
    device: str = "auto"
    threads: int = 1

    def __post_init__(self) -> None:
        require(self.epochs >= 1, "train.epochs", self.epochs, "an integer >= 1")
        require(self.lr > 0, "train.lr", self.lr, "a number > 0")
        require(0.0 <= self.momentum < 1.0, "train.momentum", self.momentum, "a number in [0, 1)")
        require(self.weight_decay >= 0, "train.weight_decay", self.weight_decay, "a number >= 0")
        require(
            all(0.0 < m < 1.0 for m in self.lr_milestones),
            "train.lr_milestones",
            self.lr_milestones,
            "fractions of train.epochs, each in (0, 1)",
        )
        require(0.0 < self.lr_gamma <= 1.0, "train.lr_gamma", self.lr_gamma, "a number in (0, 1]")
        require(
            re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device) is not None,
            "train.device",
            self.device,
            "auto, cpu, cuda, cuda:N",
        )
        require(self.threads >= 1, "train.threads", self.threads, "an integer >= 1")


@dataclass(frozen=True)
class MethodParams:
    """Base of every method's parameter dataclass; `name` selects the registered method."""

    name: str = ""


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines one trial; its canonical form is hashed into the trial's identity."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    method: MethodParams = field(default_factory=MethodParams)

    def __post_init__(self) -> None:
        require(0 <= self.seed < MAX_SEED, "seed", self.seed, f"an integer in [0, {MAX_SEED})")
