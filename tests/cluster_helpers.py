"""Shared pieces of the cluster tests: a private Ray temp folder, free ports, the CLI, tiny sweeps.

Every Ray these tests start records itself under a private `RAY_TMPDIR`, never in the machine's
/tmp/ray, so other Ray users on the machine (other test runs) never auto-connect to it; and every
process they start is stopped by its own id, never with `ray stop`.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from collections.abc import Iterator

ROOT = Path(__file__).parents[1]
DEMO = ROOT / "configs" / "demo.yaml"
TICKETS = [sys.executable, "-c", "from orchestrator.cli import main; raise SystemExit(main())"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def private_ray_tmpdir() -> Iterator[Path]:
    """A short private RAY_TMPDIR (Ray's socket paths must stay under ~100 characters)."""
    folder = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    previous = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = previous
        shutil.rmtree(folder, ignore_errors=True)


def tiny_overrides(results: Path, name: str, trials: int = 1, epochs: int = 3, baselines: str = "[]") -> list[str]:
    """configs/demo.yaml shrunk to seconds per trial."""
    return [
        f"sweep.results_dir={results}", f"sweep.name={name}", f"sweep.num_trials={trials}",
        f"sweep.baselines={baselines}", "model.name=vgg_tiny", f"train.epochs={epochs}",
        "method.retrain_epochs=1", "method.eb_queue=2",
    ]


def tickets_cli(args: list[str], cwd: Path, timeout_s: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([*TICKETS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s)


def sweep_args(overrides: list[str], *extra: str) -> list[str]:
    return ["sweep", str(DEMO), *extra] + [a for o in overrides for a in ("--set", o)]


@contextlib.contextmanager
def ray_head(num_cpus: int = 1) -> Iterator[str]:
    """A real `ray start --head --block` on a free port (inside private_ray_tmpdir); yields the address it
    recorded for `ray.init()` to find; stops its process group."""
    port = free_port()
    args = [
        str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", f"--port={port}",
        f"--num-cpus={num_cpus}", "--num-gpus=0", "--include-dashboard=false", "--node-ip-address=127.0.0.1",
        f"--dashboard-agent-listen-port={free_port()}",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    recorded = Path(os.environ["RAY_TMPDIR"]) / "ray" / "ray_current_cluster"
    try:
        _wait_for(recorded, proc)
        yield recorded.read_text().strip()
    finally:  # SIGKILL to the group: a SIGTERM'd head drains for 30 s first
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _wait_for(recorded: Path, proc: subprocess.Popen, timeout_s: float = 90) -> None:
    """Until the head has written its address file (the last step of `ray start`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"`ray start --head` exited with {proc.returncode}")
        if recorded.exists() and recorded.read_text().strip():
            return
        time.sleep(0.5)
    raise RuntimeError("`ray start --head` did not record its address in time")
