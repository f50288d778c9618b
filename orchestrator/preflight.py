"""Checks of outside services before a sweep writes anything: is the MLflow tracking store usable?

MLflow's HTTP client retries a dead server for minutes (exponential backoff, several chained
tracebacks); one short request up front turns that into a single clear error line.
"""
from __future__ import annotations

import math
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from lottery.errors import ConfigError

PROBE_TIMEOUT_S = 5.0


def is_server_uri(uri: str) -> bool:
    """Whether the tracking URI names an MLflow tracking server (runs and artifacts go through it)."""
    return uri.startswith(("http://", "https://"))


def check_sweep_tracking(mlflow_uri: str, results_dir: str | Path) -> None:
    """check_tracking_uri on `sweep.mlflow_uri`, or on the default SQLite store under `results_dir`
    (the same path as orchestrator.tracking.default_tracking_uri, without importing MLflow)."""
    check_tracking_uri(mlflow_uri or f"sqlite:///{Path(results_dir).resolve() / 'mlflow.db'}")


def check_tracking_uri(uri: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise ConfigError unless `uri` looks usable: an HTTP(S) server answers, or a SQLite file's
    folder can be created and written. Writes nothing."""
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme in ("http", "https"):
        _probe_http(uri, timeout_s)
    elif scheme == "sqlite":
        _check_sqlite(uri)


def _probe_http(uri: str, timeout_s: float) -> None:
    """Any HTTP answer from the server's /health endpoint counts as alive (a proxy may answer 401/404)."""
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s):
            return
    except urllib.error.HTTPError:
        return  # the server answered
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ConfigError(
            f"MLflow tracking server {uri!r} (sweep.mlflow_uri) is not reachable: {reason}; "
            "start it (mlflow server ...) or set sweep.mlflow_uri to a reachable URI"
        ) from None


def _check_sqlite(uri: str) -> None:
    path = Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None
    if path is None or not str(path):
        return  # in-memory or unusual forms: left to MLflow
    if path.is_dir():
        raise ConfigError(f"MLflow tracking URI {uri!r} names a folder; valid: sqlite:///PATH/FILE.db")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write the MLflow store {str(path)!r}: {str(folder)!r} is not a writable folder")


def check_device(device: str, gpus_per_trial: float | None = None) -> None:
    """The requested device can exist where trials run.

    `gpus_per_trial` None: in-process (`tickets run`). In a Ray sweep a trial sees only the GPUs it
    asked for (Ray sets CUDA_VISIBLE_DEVICES, empty for a trial asking none), numbered from 0.
    """
    index = _cuda_index(device)
    if index is None or gpus_per_trial is None:
        return
    if gpus_per_trial <= 0:
        raise ConfigError(
            f"train.device={device!r} needs sweep.resources.gpu > 0 (Ray hides GPUs from trials that ask for none); "
            "set sweep.resources.gpu (e.g. 1 or 0.5) or train.device=auto"
        )
    visible = max(1, math.ceil(gpus_per_trial))
    if index >= visible:
        raise ConfigError(
            f"train.device={device!r}: a trial sees only its own {visible} GPU(s), numbered from 0; valid: cuda, cuda:0"
            + (f"..cuda:{visible - 1}" if visible > 1 else "")
        )


def check_local_machine(device: str, gpus_per_trial: float | None = None, cpus_per_trial: float | None = None) -> None:
    """This machine has the requested GPU (in-process runs, local sweeps) and the per-trial resources a
    local Ray needs to schedule a trial (otherwise Tune waits forever for a trial it cannot place)."""
    import torch  # lazy: keeps this module light for the URI probe

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = _cuda_index(device)
    if index is not None and count == 0:
        raise ConfigError(f"train.device={device!r} but this machine has no CUDA GPU (torch sees none); valid: auto, cpu")
    if index is not None and gpus_per_trial is None and index >= count:
        raise ConfigError(f"train.device={device!r} but this machine has {count} GPU(s); valid: cuda:0..cuda:{count - 1}, auto, cpu")
    if gpus_per_trial is not None and gpus_per_trial > count:
        raise ConfigError(f"sweep.resources.gpu={gpus_per_trial:g} but this machine has {count} GPU(s); valid: 0..{count}")
    cpus = os.cpu_count() or 1
    if cpus_per_trial is not None and cpus_per_trial > cpus:
        raise ConfigError(f"sweep.resources.cpu={cpus_per_trial:g} but this machine has {cpus} CPU(s); valid: a number in (0, {cpus}]")


def _cuda_index(device: str) -> int | None:
    """None for cpu / auto, else the CUDA index ('cuda' is 0)."""
    if not device.startswith("cuda"):
        return None
    return int(device.partition(":")[2] or 0)
