"""cluster.yaml must stay a valid Ray cluster-launcher config (checked with Ray's own validator)."""
from pathlib import Path

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config


def test_cluster_yaml_passes_ray_schema() -> None:
    config = yaml.safe_load((Path(__file__).parents[1] / "cluster.yaml").read_text())
    validate_config(prepare_config(config))
    assert config["available_node_types"]["head"]["resources"] == {"CPU": 0}
    assert "mlflow server" in " ".join(config["head_start_ray_commands"])
    assert "--host 127.0.0.1" in " ".join(config["head_start_ray_commands"])
