"""Tracking-server mode: an http(s) `sweep.mlflow_uri` must answer before any trial trains.

MlflowClient retries an unreachable server for minutes with a traceback at the end; one short
request to the server's `/health` endpoint turns that into one clear line up front.
"""
from __future__ import annotations

import urllib.error
import urllib.request

from lottery.errors import ConfigError

PROBE_TIMEOUT_S = 5.0


def is_server_uri(uri: str) -> bool:
    """Whether the tracking URI names an MLflow tracking server (runs and artifacts go through it)."""
    return uri.startswith(("http://", "https://"))


def check_tracking_server(uri: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Raise a ConfigError unless an http(s) tracking URI answers; other URIs (sqlite, file) pass."""
    if not is_server_uri(uri):
        return
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310  (http(s) only, checked above)
            if response.status == 200:
                return
            problem = f"HTTP {response.status}"
    except urllib.error.HTTPError as err:
        problem = f"HTTP {err.code}"
    except (urllib.error.URLError, OSError) as err:
        problem = str(getattr(err, "reason", err))
    raise ConfigError(
        f"MLflow tracking server {uri!r} is not reachable ({problem}); start it "
        f"(`mlflow server --host 127.0.0.1 --port PORT --artifacts-destination DIR`) or set sweep.mlflow_uri"
    )
