"""Figure 4: Early-Bird's total training FLOPs and wall time vs dense training + pruning +
retraining (Network Slimming: the same BN-L1 training to the end, the same prune rule and ratio,
the same retraining), same seed, same epochs, with the final accuracies side by side."""
from __future__ import annotations

from typing import Any

from lottery.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lottery.methods import METHODS
from lottery.methods.earlybird import EarlyBirdParams
from lottery.methods.slimming import SlimmingParams
from lottery.session import LocalSession


def run(smoke: bool) -> list[dict[str, Any]]:
    epochs = 3 if smoke else 30
    results = {}
    for params in (EarlyBirdParams(prune_ratio=0.5), SlimmingParams(prune_ratio=0.5)):
        cfg = ExperimentConfig(seed=0, data=DataConfig(name="digits", batch_size=64), model=ModelConfig(name="vgg11", width=0.25),
                               train=TrainConfig(epochs=epochs, lr=0.05, device="cpu", threads=1), method=params)
        results[params.name] = METHODS.get(params.name)().run(cfg, LocalSession())
    eb, dense = results["earlybird"], results["slimming"]
    return [{
        "model": "vgg11", "width": 0.25, "dataset": "digits", "epochs": epochs,
        "earlybird_train_flops": eb["train_flops_total"], "dense_prune_retrain_train_flops": dense["train_flops_total"],
        "train_flops_ratio": eb["train_flops_total"] / dense["train_flops_total"],
        "wall_time_ratio": eb["wall_time_s"] / dense["wall_time_s"],
        "earlybird_test_accuracy": eb["test_accuracy"], "dense_prune_retrain_test_accuracy": dense["test_accuracy"],
        "accuracy_diff_pts": 100 * (eb["test_accuracy"] - dense["test_accuracy"]),
        "eb_epoch": eb["eb_epoch"],
    }]
