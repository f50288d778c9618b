"""Keep a local sweep's Ray on the loopback interface.

On Linux Ray gives every process of a new local cluster (GCS, raylet, the driver's and every
worker's gRPC server, the runtime-env agent) the machine's outward IP and binds it there, so a
laptop sweep is reachable from its network. Ray binds to 127.0.0.1 only in its "no cluster" mode,
which it picks when RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER is false (its default on Windows / macOS,
where it avoids firewall pop-ups). Ray reads that variable once at import, so the driver's copy of
the constant is set too; the child processes read the variable when they start. Only for a local
Ray: a driver joining a cluster (`--address`) must not resolve itself to loopback.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from ray._private import ray_constants  # private: no public switch exists (Ray 2.60)

LOCAL_ONLY_ENV = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Within this block, a Ray started by ray.init() listens on 127.0.0.1 only."""
    saved_env, saved_const = os.environ.get(LOCAL_ONLY_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[LOCAL_ONLY_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_const
        if saved_env is None:
            os.environ.pop(LOCAL_ONLY_ENV, None)
        else:
            os.environ[LOCAL_ONLY_ENV] = saved_env
