"""Figure 2: sweep overhead, the time per trial of `tickets sweep` (Ray Tune, Optuna, MLflow,
Parquet, a checkpoint every epoch) vs `tickets run` of the same config (in-process, MLflow and
Parquet too), both as fresh CLI processes. The sweep runs its trials one at a time, so the ratio is
(sweep wall / trials) / run wall: Ray's start-up is spread over the trials, as in real sweeps."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TICKETS = [sys.executable, "-c", "from orchestrator.cli import main; raise SystemExit(main())"]


def _cli(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled"}
    began = time.perf_counter()
    done = subprocess.run([*TICKETS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"tickets {args[0]} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - began


def run(smoke: bool) -> list[dict[str, Any]]:
    epochs, trials = (2, 2) if smoke else (60, 3)
    config = str(ROOT / "configs" / "demo.yaml")
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        results = Path(tmp) / "results"
        # Random unstructured pruning: the sweep samples the sparsity, which does not change the cost
        # (dense compute plus a mask), so every swept trial costs what the single run costs.
        common = ["method.name=random", f"train.epochs={epochs}", f"sweep.results_dir={results}"]
        sets = lambda extra: [a for o in common + extra for a in ("--set", o)]  # noqa: E731
        # run, sweep, run: the single run is timed before and after the sweep (its mean is the
        # reference), so a load change on a shared machine weighs on both sides alike.
        run_before = _cli(["run", config, "--name", "single", *sets([])], Path(tmp))
        sweep_s = _cli(["sweep", config, "--name", "swept", *sets([
            "sweep.search_space=random", f"sweep.num_trials={trials}", "sweep.max_concurrent=1", "sweep.baselines=[]",
            "sweep.sampler=random", "sweep.reuse=false",  # every trial trained, none taken from an earlier run
        ])], Path(tmp))
        run_after = _cli(["run", config, "--name", "single2", *sets([])], Path(tmp))
        run_s = (run_before + run_after) / 2
        in_trial = pd.read_parquet(results / "swept" / "trials")["wall_time_s"]
        single = pd.concat([pd.read_parquet(results / n / "trials")["wall_time_s"] for n in ("single", "single2")])
    per_trial = sweep_s / trials
    return [{
        "epochs": epochs, "trials": trials, "run_wall_s": run_s, "run_wall_s_before_after": [run_before, run_after],
        "sweep_wall_s": sweep_s, "sweep_per_trial_s": per_trial,
        "overhead_ratio": per_trial / run_s,
        "in_trial_training_s_sweep": float(in_trial.median()), "in_trial_training_s_run": float(single.median()),
        "in_trial_ratio": float(in_trial.median() / single.median()),
    }]
