"""Joining a Ray cluster: check, before the first trial, that one of its nodes can host a trial.

A trial's resources (`sweep.resources`) must fit on ONE node, so the check is per node, not on the
cluster-wide sum of `ray.cluster_resources()`. An autoscaling cluster may have no GPU worker running
yet: the node types its autoscaler may still launch count too, from the autoscaler's record in the GCS
(what Ray Train checks its worker groups against) or from the launcher's config that `ray up` leaves
on the head (`~/ray_bootstrap_config.yaml`, where the driver runs).
"""
from __future__ import annotations

from pathlib import Path
from collections.abc import Iterable, Mapping

import ray
import yaml

from lottery.errors import ConfigError

# Tune keys "cpu" / "gpu" -> Ray resource names.
RAY_NAMES = {"cpu": "CPU", "gpu": "GPU"}
BOOTSTRAP_CONFIG = Path("~/ray_bootstrap_config.yaml")


def launchable_shapes(launcher_config: Path) -> list[dict[str, float]]:
    """Declared resources of the node types a cluster-launcher config lets the autoscaler start."""
    path = launcher_config.expanduser()
    if not path.is_file():
        return []
    config = yaml.safe_load(path.read_text()) or {}
    return [
        {k: float(v) for k, v in (node_type.get("resources") or {}).items()}
        for node_type in (config.get("available_node_types") or {}).values()
        if node_type.get("max_workers", 1) != 0
    ]


def node_shapes() -> list[dict[str, float]]:
    """Resources of every alive node plus of every node type the autoscaler may still start."""
    shapes = [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]
    try:
        config = ray._private.state.state.get_cluster_config()  # None without an autoscaler
    except Exception:  # noqa: BLE001  (an older GCS without the record: alive nodes only)
        config = None
    if config is not None:
        for group in config.node_group_configs:
            if group.max_count != 0:
                shapes.append({k: float(v) for k, v in group.resources.items()})
    return shapes + launchable_shapes(BOOTSTRAP_CONFIG)


def fits(request: Mapping[str, float], shapes: Iterable[Mapping[str, float]]) -> bool:
    """Whether some node shape offers every requested resource (keys in Tune's spelling)."""
    needed = {RAY_NAMES[k]: v for k, v in request.items() if v > 0}
    return any(all(shape.get(name, 0.0) >= amount for name, amount in needed.items()) for shape in shapes)


def check_cluster_offers(request: Mapping[str, float], address: str) -> None:
    """Raise a ConfigError naming what the trial asks for and what the nodes offer."""
    shapes = node_shapes()
    if fits(request, shapes):
        return
    asked = ", ".join(f"{k}={v:g}" for k, v in request.items())
    offered = "; ".join(
        "{" + ", ".join(f"{n}: {s.get(n, 0.0):g}" for n in RAY_NAMES.values()) + "}" for s in shapes
    ) or "no alive node"
    raise ConfigError(
        f"the Ray cluster at {address!r} has no node that can host one trial (sweep.resources: {asked}); "
        f"its nodes offer {offered}. Lower sweep.resources (e.g. --set sweep.resources.gpu=0) or add such workers"
    )
