"""Which trial shapes a cluster can host: per node, including the node types the autoscaler may start."""
from pathlib import Path

from orchestrator.cluster import fits, launchable_shapes

CLUSTER_YAML = Path(__file__).parents[2] / "cluster.yaml"


def test_shipped_cluster_can_start_workers_for_a_one_gpu_trial() -> None:
    shapes = launchable_shapes(CLUSTER_YAML)
    assert {"CPU": 4.0, "GPU": 1.0} in shapes
    assert fits({"cpu": 4, "gpu": 1}, shapes)
    assert fits({"cpu": 2, "gpu": 0.5}, shapes)
    assert not fits({"cpu": 4, "gpu": 2}, shapes)
    assert not fits({"cpu": 8, "gpu": 1}, shapes)


def test_a_trial_must_fit_on_one_node_not_on_the_sum() -> None:
    two_small = [{"CPU": 2.0, "GPU": 1.0}, {"CPU": 2.0, "GPU": 1.0}]
    assert fits({"cpu": 2, "gpu": 1}, two_small)
    assert not fits({"cpu": 4, "gpu": 1}, two_small)
    assert not fits({"cpu": 1, "gpu": 2}, two_small)
    assert fits({"cpu": 1, "gpu": 0}, [{"CPU": 1.0}])  # a CPU trial needs no GPU key
    assert launchable_shapes(Path("/nonexistent/ray_bootstrap_config.yaml")) == []
