"""Golden values that must survive every refactor: config hashes (a trial's identity, used by resume
and dedup) and the metrics of a seeded `tickets run` of the demo config.

If a change moves one of these on purpose, it changes every old trial's identity or result: say so
in the commit, and regenerate the file with `python tests/test_golden.py` (it rewrites
tests/golden/demo_run.json).
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lottery.codec import config_hash, with_overrides
from lottery.config import ExperimentConfig
from lottery.latency import TIMING_METRICS
from lottery.methods import METHODS
from orchestrator.config import load_configs

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_RUN = ROOT / "tests" / "golden" / "demo_run.json"

PRESET_HASHES = {
    "configs/cifar10-earlybird.yaml": "232a34fbee8e",  # bf16 + channels_last + cuda_graph since the H100 bench (deliberate change)
    "configs/compare-digits.yaml": "c3bf6cdf2b6e",
    "configs/demo.yaml": "7724e06b9020",
    "configs/robust-cifar10.yaml": "e73cb75eb62f",
    "configs/robust-digits.yaml": "ccbb83bba726",
    "configs/robust-imagefolder.yaml": "7ed5fd4253bb",
    "configs/supertickets-cifar10.yaml": "c129d04ed1fa",
    "configs/supertickets-digits.yaml": "fee729da99e4",
}


def _hand_made() -> dict[str, ExperimentConfig]:
    demo, _ = load_configs(ROOT / "configs/demo.yaml")
    return {
        "7cd1bea10056": ExperimentConfig(method=METHODS.get("earlybird").Params()),
        "3ca0e82e92f5": ExperimentConfig(seed=3, method=METHODS.get("dense").Params()),
        "954790662047": with_overrides(demo, {"method.name": "imp", "method.rounds": 2, "train.lr": 0.01}),
        "f44392a6cef5": with_overrides(demo, {"train.lr_milestones": [0.3, 0.6, 0.9]}),
        "7917022502d5": with_overrides(demo, {"method.name": "magnitude", "data.name": "digits[0-4]", "method.pattern": "channel"}),
    }


@pytest.mark.parametrize("preset", sorted(PRESET_HASHES))
def test_preset_config_hash_is_pinned(preset: str) -> None:
    cfg, _ = load_configs(ROOT / preset)
    assert config_hash(cfg) == PRESET_HASHES[preset]


def test_hand_made_config_hashes_are_pinned() -> None:
    assert {config_hash(cfg): h for h, cfg in _hand_made().items()} == {h: h for h in _hand_made()}


_SKIP = {*TIMING_METRICS, "mlflow_run_id", "ticket_path", "train.lr_milestones"}


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in _SKIP or value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        out[key] = value.item() if hasattr(value, "item") else value
    return out


def seeded_demo_run(results_dir: Path) -> dict[str, Any]:
    """`tickets run configs/demo.yaml` (6 epochs) through the CLI; the rows it wrote, minus wall times."""
    from orchestrator.cli import main

    rc = main(["run", str(ROOT / "configs/demo.yaml"), "--name", "golden", "--set", "train.epochs=6",
               "--set", f"sweep.results_dir={results_dir}"])
    assert rc == 0
    trials = pd.read_parquet(results_dir / "golden" / "trials")
    epochs = pd.read_parquet(results_dir / "golden" / "epochs").sort_values("epoch")
    return {"final": _clean(trials.iloc[0].to_dict()), "epochs": [_clean(r) for r in epochs.to_dict("records")]}


def _assert_same(got: Any, want: Any, where: str) -> None:
    if isinstance(want, dict):
        assert set(got) == set(want), f"{where}: keys differ: {sorted(set(got) ^ set(want))}"
        for key in want:
            _assert_same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            _assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        # Losses may be summed in another order (e.g. on the device); everything else is exact.
        assert got == pytest.approx(want, rel=1e-5, abs=1e-9), where
    else:
        assert got == want, where


def test_seeded_demo_run_matches_golden_metrics(tmp_path: Path) -> None:
    _assert_same(seeded_demo_run(tmp_path), json.loads(GOLDEN_RUN.read_text()), "run")


if __name__ == "__main__":  # regenerate the golden run (only for a deliberate change)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN_RUN.write_text(json.dumps(seeded_demo_run(Path(tmp)), indent=1, sort_keys=True))
    sys.exit(0)
