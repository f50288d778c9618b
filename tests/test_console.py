"""What a user sees while a sweep runs: the demo sweep (9 trials, shrunk epochs) prints one line per
trial event and a status line, not Ray's boxes and hints, in well under 60 lines."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def test_demo_sweep_console_is_compact(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "sweep", str(ROOT / "configs/demo.yaml"), "--name", "console",
         "--set", f"sweep.results_dir={tmp_path}", "--set", "model.name=vgg_tiny", "--set", "train.epochs=3",
         "--set", "method.eb_queue=2", "--set", "method.retrain_epochs=1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    starts = [line for line in lines if "] start " in line]
    dones = [line for line in lines if "] done " in line]
    statuses = [line for line in lines if "] status " in line]
    assert len(starts) == 9 and len(dones) == 9, "\n".join(lines)
    assert "9/9 done" in statuses[-1] and "best val_accuracy" in statuses[-1]
    assert len(lines) < 60, f"{len(lines)} lines:\n" + "\n".join(lines)
    text = "\n".join(lines)
    for noise in ("tensorboard", "╭", "Trial status", "token authentication", "Tuner.restore"):
        assert noise.lower() not in text.lower(), f"{noise!r} reached the console:\n{text}"
