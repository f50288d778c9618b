"""The tracking-URI probe: a live HTTP server passes (whatever it answers), a closed port or an
unwritable SQLite location fails at once with one message, and nothing is written."""
from __future__ import annotations

import http.server
import socket
import threading
import time
from pathlib import Path

import pytest

from lottery.errors import ConfigError
from orchestrator.preflight import check_tracking_uri


@pytest.fixture
def http_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # answers 501 to GET
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_any_http_answer_counts_as_alive(http_server: str) -> None:
    check_tracking_uri(http_server)


def test_closed_port_fails_fast_naming_the_uri() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    began = time.monotonic()
    with pytest.raises(ConfigError, match=rf"'http://127.0.0.1:{port}' \(sweep.mlflow_uri\) is not reachable"):
        check_tracking_uri(f"http://127.0.0.1:{port}")
    assert time.monotonic() - began < 5


def test_sqlite_location_checked_without_writing(tmp_path: Path) -> None:
    check_tracking_uri(f"sqlite:///{tmp_path}/new/deeper/mlflow.db")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="names a folder"):
        check_tracking_uri(f"sqlite:///{tmp_path}")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="not a writable folder"):
        check_tracking_uri(f"sqlite:///{blocker}/mlflow.db")
