"""cluster.yaml must stay a valid Ray cluster-launcher config that ships only the source to its nodes."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.command_runner import SSHCommandRunner
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).parents[1]


def _config() -> dict:
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_passes_ray_schema() -> None:
    config = _config()
    validate_config(prepare_config(config))
    assert config["provider"]["region"] == "us-west-2"
    assert config["available_node_types"]["head"]["resources"] == {"CPU": 0}
    assert config["available_node_types"]["gpu_worker"]["resources"]["GPU"] == 1
    for node_type in config["available_node_types"].values():
        assert node_type["node_config"]["ImageId"].startswith(("ami-", "resolve:ssm:/aws/service/"))
    head_commands = " ".join(config["head_start_ray_commands"])
    assert "mlflow server" in head_commands and "--host 127.0.0.1" in head_commands
    assert "--artifacts-destination" in head_commands
    assert all("ulimit -n" in c for c in (config["head_start_ray_commands"][1], config["worker_start_ray_commands"][1]))
    worker_start = config["worker_start_ray_commands"][1]  # MPS first, in the shell that starts Ray (its workers inherit the pipe)
    assert worker_start.index("nvidia-cuda-mps-control -d") < worker_start.index("ray start")
    assert "export CUDA_MPS_PIPE_DIRECTORY=" in worker_start


def _synced(source: Path, config: dict) -> set[str]:
    """Files `ray up` would upload: rsync --dry-run with the very arguments Ray builds from the config."""
    options = {"rsync_exclude": config.get("rsync_exclude"), "rsync_filter": config.get("rsync_filter")}
    filter_args = SSHCommandRunner._create_rsync_filter_args(None, options)  # noqa: SLF001  (Ray's own builder)
    target = source.parent / "target"
    done = subprocess.run(
        ["rsync", "-avz", "--dry-run", "--out-format=%n", *filter_args, f"{source}/", str(target)],
        capture_output=True, text=True, check=True,
    )
    return {line.strip() for line in done.stdout.splitlines() if line.strip() and not line.strip().endswith("/")}


@pytest.mark.skipif(shutil.which("rsync") is None, reason="needs the rsync binary (apt-get install rsync)")
def test_rsync_rules_ship_only_the_source(tmp_path: Path) -> None:
    config = _config()
    mount_sources = set(config["file_mounts"].values())
    assert mount_sources == {"."}
    source = tmp_path / "repo"
    files = [
        "lottery/config.py", "orchestrator/sweep.py", "configs/demo.yaml", "pyproject.toml", "cluster.yaml",
        ".venv/bin/python", ".venv/lib/torch/big.so", "results/demo/trials/t.parquet", "results/mlflow.db",
        "data/cifar-10-batches-py/data_batch_1", ".git/HEAD", ".git/objects/ab/cdef", "lottery/__pycache__/x.pyc",
        "tickets.egg-info/PKG-INFO", ".pytest_cache/v/cache", "lottery/data/digits.py",
    ]
    for name in files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("x")
    shutil.copy(ROOT / ".gitignore", source / ".gitignore")
    synced = _synced(source, config)
    assert {"lottery/config.py", "orchestrator/sweep.py", "configs/demo.yaml", "pyproject.toml", "lottery/data/digits.py"} <= synced
    for left_out in (".venv/", "results/", "data/cifar", ".git/", "__pycache__", ".egg-info", ".pytest_cache"):
        assert not [f for f in synced if left_out in f], (left_out, sorted(synced))

    # the repository itself: source only (whatever caches or results this checkout holds)
    real = _synced(ROOT, config)
    assert "orchestrator/cluster.py" in real and "README.md" in real
    assert not [f for f in real if f.startswith((".git/", ".venv/", "results/", "data/"))]
