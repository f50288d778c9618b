"""Checks of outside services before a sweep writes anything: is the MLflow tracking store usable?

MLflow's HTTP client retries a dead server for minutes (exponential backoff, several chained
tracebacks); one short request up front turns that into a single clear error line.
"""
from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from lottery.errors import ConfigError

PROBE_TIMEOUT_S = 5.0


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
