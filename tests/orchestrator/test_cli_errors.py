"""The `tickets` CLI as a user meets it: bad input is one `tickets: error:` line, exit 2, nothing written.

Each command is a fresh interpreter (importing torch, MLflow and for `sweep` Ray takes seconds), so
every command of this module is started at once by a module fixture, a few in parallel, and the
tests only read their results.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    needles: tuple[str, ...]  # substrings the error line must contain
    files: tuple[tuple[str, bytes | None], ...] = ()  # made in the working dir first (None: a folder)


NO_CUDA = not torch.cuda.is_available()


EXTRA_CASES = [
    # config files that are not a preset
    Case("sweep-empty-config", ("sweep", "empty.yaml"), ("'empty.yaml' is empty", "sweep"), (("empty.yaml", b""),)),
    Case("run-comments-only-config", ("run", "blank.yaml"), ("'blank.yaml' is empty",), (("blank.yaml", b"# nothing\n\n"),)),
    Case("sweep-binary-config", ("sweep", "model.pt"), ("'model.pt' is not", "text"), (("model.pt", bytes(range(256)) * 4),)),
    Case("run-nul-config", ("run", "nul.yaml"), ("'nul.yaml' is not a text file",), (("nul.yaml", b"seed: 1\x00\n"),)),
    Case("sweep-list-config", ("sweep", "list.yaml"), ("'list.yaml' must hold a mapping",), (("list.yaml", b"- train\n- data\n"),)),
    Case("run-scalar-config", ("run", "scalar.yaml"), ("'scalar.yaml' must hold a mapping",), (("scalar.yaml", b"42\n"),)),
    Case("sweep-folder-config", ("sweep", "configs"), ("'configs' is a folder",), (("configs", None),)),
    Case("run-bad-yaml", ("run", "bad.yaml"), ("'bad.yaml' is not valid YAML",), (("bad.yaml", b"train: [1, 2\n"),)),
    Case("sweep-section-not-mapping", ("sweep", "demo.yaml", "--set", "train=5"), ("section train", "mapping")),
    # overrides with stray spaces or malformed keys
    Case("sweep-override-spaces", ("sweep", "demo.yaml", "--set", "train.epochs = 5"), ("'train.epochs '", "no spaces")),
    Case("run-override-empty-part", ("run", "demo.yaml", "--set", "train..epochs=5"), ("'train..epochs'", "key.path=value")),
    Case("sweep-override-no-equals", ("sweep", "demo.yaml", "--set", "train.epochs"), ("'train.epochs'", "key.path=value")),
    Case("run-override-bad-yaml", ("run", "demo.yaml", "--set", "train.lr_milestones=[0.5"), ("train.lr_milestones=[0.5",)),
    # every value type the config accepts
    Case("run-int-given-float", ("run", "demo.yaml", "--set", "train.epochs=2.5"), ("train.epochs", "integer", "2.5")),
    Case("sweep-bool-given-int", ("sweep", "demo.yaml", "--set", "data.augment=2"), ("data.augment", "true or false")),
    Case("run-str-given-int", ("run", "demo.yaml", "--set", "model.name=5"), ("model.name", "string")),
    Case("sweep-str-given-null", ("sweep", "demo.yaml", "--set", "data.name=null"), ("data.name", "string", "None")),
    Case("run-float-nan", ("run", "demo.yaml", "--set", "train.lr=.nan"), ("train.lr", "finite number")),
    Case("sweep-float-inf", ("sweep", "demo.yaml", "--set", "method.bn_l1=.inf"), ("method.bn_l1", "finite number")),
    Case("run-float-given-text", ("run", "demo.yaml", "--set", "train.momentum=high"), ("train.momentum", "'high'")),
    Case("sweep-tuple-bad-element", ("sweep", "demo.yaml", "--set", "train.lr_milestones=[0.5,x]"), ("train.lr_milestones", "'x'")),
    Case("run-nested-given-scalar", ("run", "demo.yaml", "--set", "sweep.resources=2"), ("section sweep.resources", "mapping")),
    Case("sweep-seed-too-large", ("sweep", "demo.yaml", "--set", "seed=99999999999999999999"), ("seed", "2147483648")),
    Case("run-sampler-seed-negative", ("run", "demo.yaml", "--set", "sweep.sampler_seed=-1"), ("sweep.sampler_seed", "-1")),
    # devices and resources the trials cannot have
    Case("sweep-cuda-without-gpu-resource", ("sweep", "demo.yaml", "--set", "train.device=cuda"), ("'cuda'", "sweep.resources.gpu > 0")),
    Case("run-cuda-index-absent", ("run", "demo.yaml", "--set", "train.device=cuda:99"), ("'cuda:99'", "GPU")),
    Case("run-device-typo", ("run", "demo.yaml", "--set", "train.device=cuda0"), ("'cuda0'", "cuda:N")),
    Case("sweep-too-many-cpus", ("sweep", "demo.yaml", "--set", "sweep.resources.cpu=4096"), ("sweep.resources.cpu=4096", "CPU")),
    *([Case("run-cuda-without-cuda", ("run", "demo.yaml", "--set", "train.device=cuda"), ("'cuda'", "no CUDA GPU", "cpu")),
       Case("sweep-gpu-without-cuda", ("sweep", "demo.yaml", "--set", "train.device=cuda", "--set", "sweep.resources.gpu=1"),
            ("'cuda'", "no CUDA GPU"))] if NO_CUDA else []),
]
# one of each new class also runs as a real CLI process; the rest run in-process through main() (fast)
SUBPROCESS_EXTRA = {'run-cuda-without-cuda', 'sweep-binary-config', 'sweep-cuda-without-gpu-resource', 'sweep-empty-config', 'sweep-override-spaces'}

BAD_CASES = [
    Case("sweep-unknown-key", ("sweep", "demo.yaml", "--set", "train.nope=1"), ("'train.nope'", "epochs")),
    Case("sweep-wrong-type", ("sweep", "demo.yaml", "--set", "train.epochs=ten"), ("train.epochs", "'ten'")),
    Case("run-prune-ratio", ("run", "demo.yaml", "--set", "method.prune_ratio=1.5"), ("method.prune_ratio", "1.5", "(0, 1)")),
    Case("sweep-unknown-model", ("sweep", "demo.yaml", "--set", "model.name=alexnet"), ("'alexnet'", "vgg11")),
    Case("run-unknown-dataset", ("run", "demo.yaml", "--set", "data.name=mnist"), ("'mnist'", "digits", "cifar10")),
    Case("sweep-unknown-method", ("sweep", "demo.yaml", "--set", "method.name=lth"), ("'lth'", "dense", "earlybird")),
    Case("run-missing-config", ("run", "missing.yaml"), ("config file not found", "missing.yaml")),
    Case(
        "sweep-cifar10-absent",
        ("sweep", "demo.yaml", "--set", "data.name=cifar10", "--set", "data.download=false"),
        ("cifar10 not found", "data.download=true"),
    ),
    Case("sweep-unknown-sampler", ("sweep", "demo.yaml", "--set", "sweep.sampler=cmaes"), ("'cmaes'", "tpe")),
    # budgets: a malformed one, an unknown column, one no configuration of the space can meet
    Case("sweep-budget-form", ("sweep", "demo.yaml", "--set", "sweep.budgets=[flops=5]"), ("'flops=5'", "COLUMN<=NUMBER")),
    Case("sweep-budget-column", ("sweep", "demo.yaml", "--set", "sweep.budgets=[flop<=5e7]"), ("'flop'", "sweep.budgets", "sparse_flops")),
    Case("sweep-budget-impossible", ("sweep", "demo.yaml", "--set", "method.name=magnitude", "--set", "sweep.search_space=magnitude",
                                     "--set", "sweep.budgets=[flops<=1000]"),
         ("budget flops<=1000 cannot be met", "'magnitude'", "flops = 1.643e+06")),
    Case("sweep-unknown-scheduler", ("sweep", "demo.yaml", "--set", "sweep.scheduler=pbt"), ("'pbt'", "asha", "hyperband")),
    Case("sweep-negative-train-hours", ("sweep", "demo.yaml", "--set", "sweep.max_train_hours=-2"), ("-2", "sweep.max_train_hours", "hours >= 0")),
    # --extend: a sweep that does not exist, a --set it does not take
    Case("sweep-extend-missing", ("sweep", "--extend", "nope", "--set", "sweep.num_trials=3"), ("no sweep named 'nope'",)),
    Case("sweep-extend-bad-set", ("sweep", "--extend", "demo", "--set", "train.epochs=3"), ("--extend accepts only", "train.epochs=3")),
    *[c for c in EXTRA_CASES if c.id in SUBPROCESS_EXTRA],
]

# `tickets analyze` over a results folder with two sweeps trained for 3 and 5 epochs (written by the fixture).
ANALYZE_CASES = [
    Case("analyze-unknown-x", ("analyze", "results/s3", "--x", "watts"), ("'watts'", "--x", "flops, sparse_flops, params, latency, train_flops")),
    Case("analyze-unknown-y", ("analyze", "results/s3", "--y", "top5"), ("'top5'", "--y", "val_accuracy", "transfer_accuracy")),
    Case("analyze-absent-latency", ("analyze", "results/s3", "--x", "latency"), ("--x latency", "latency_ms", "valid here:")),
    Case("analyze-bad-budget", ("analyze", "results/s3", "--budget", "flops=3"), ("'flops=3'", "COLUMN<=NUMBER")),
    Case("analyze-budget-column", ("analyze", "results/s3", "--budget", "watts<=3"), ("'watts'", "flops")),
    Case("analyze-unknown-by", ("analyze", "results/s3", "--by", "colour"), ("'colour'", "--by", "method")),
    Case("analyze-mixed-fidelity", ("analyze", "results"), ("mix fidelities", "train.epochs = 3, 5", "--fidelity")),
    Case("analyze-absent-fidelity", ("analyze", "results", "--fidelity", "7"), ("--fidelity", "valid: 3, 5, each, all")),
    Case("analyze-missing-folder", ("analyze", "results/nope"), ("results folder not found", "nope")),
]


def _write_analyze_results(cwd: Path) -> None:
    """Two one-trial sweeps, 3 and 5 epochs, through the real Parquet writer."""
    from lottery.codec import config_hash, to_flat_dict
    from lottery.config import ExperimentConfig, TrainConfig
    from lottery.methods.dense import DenseParams
    from orchestrator.parquet_store import ParquetResults

    for epochs in (3, 5):
        cfg = ExperimentConfig(train=TrainConfig(epochs=epochs), method=DenseParams())
        ParquetResults(cwd / "results" / f"s{epochs}").write_trial({
            **to_flat_dict(cfg), "sweep": f"s{epochs}", "trial_id": f"t{epochs}", "config_hash": config_hash(cfg), "method": "dense",
            "seed": 0, "status": "completed", "val_accuracy": 0.9, "flops": 100, "sparse_flops": 100, "train_flops_total": 1e6,
        })


def _tickets_cmd() -> list[str]:
    script = Path(sys.executable).parent / "tickets"
    return [str(script)] if script.exists() else [sys.executable, "-m", "orchestrator.cli"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S)


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory) -> dict[str, tuple[Path, Future]]:
    """Start every command of this module; {case id: (its working dir, future of its CompletedProcess)}."""
    jobs: dict[str, tuple[Path, list[str]]] = {}
    for case in BAD_CASES:
        cwd = tmp_path_factory.mktemp(case.id)
        shutil.copy(REPO / "configs" / "demo.yaml", cwd / "demo.yaml")
        for name, content in case.files:
            if content is None:
                (cwd / name).mkdir()
            else:
                (cwd / name).write_bytes(content)
        argv = [sys.executable, "-m", "orchestrator.cli", *case.argv, "--set", f"sweep.results_dir={cwd / 'results'}"]
        jobs[case.id] = (cwd, argv)
    for case in ANALYZE_CASES:
        cwd = tmp_path_factory.mktemp(case.id)
        _write_analyze_results(cwd)
        jobs[case.id] = (cwd, [sys.executable, "-m", "orchestrator.cli", *case.argv])
    misc = tmp_path_factory.mktemp("misc")
    jobs["help"] = (misc, _tickets_cmd() + ["--help"])
    jobs["sweep-help"] = (misc, _tickets_cmd() + ["sweep", "--help"])
    jobs["list"] = (misc, _tickets_cmd() + ["list"])
    pool = ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2)))
    futures = {key: (cwd, pool.submit(_run, argv, cwd)) for key, (cwd, argv) in jobs.items()}
    yield futures
    pool.shutdown(wait=True)


def assert_one_error_line(proc: subprocess.CompletedProcess, needles: tuple[str, ...]) -> None:
    """Exit 2 and exactly one stderr line, `tickets: error: ...`, naming every needle."""
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tickets: error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.id for c in BAD_CASES])
def test_bad_input_is_one_error_line_exit_2_and_writes_nothing(case: Case, cli_results) -> None:
    cwd, future = cli_results[case.id]
    proc = future.result()
    assert_one_error_line(proc, case.needles)
    assert "Traceback" not in proc.stdout
    assert not (cwd / "results").exists()
    made = sorted(["demo.yaml", *(name for name, _ in case.files)])
    assert sorted(p.name for p in cwd.iterdir()) == made  # no results/, data/, mlruns/, mlflow.db


@pytest.mark.parametrize("case", ANALYZE_CASES, ids=[c.id for c in ANALYZE_CASES])
def test_bad_analyze_options_are_one_error_line_exit_2_and_write_nothing(case: Case, cli_results) -> None:
    cwd, future = cli_results[case.id]
    proc = future.result()
    assert_one_error_line(proc, case.needles)
    assert proc.stdout == ""
    written = sorted(str(p.relative_to(cwd)) for p in cwd.rglob("*") if p.is_file())
    assert written == ["results/s3/trials/t3.parquet", "results/s5/trials/t5.parquet"]  # no report, no plots


def test_help_exits_0(cli_results) -> None:
    proc = cli_results["help"][1].result()
    assert proc.returncode == 0, proc.stderr
    for command in ("sweep", "run", "list", "resume", "analyze"):
        assert command in proc.stdout
    proc = cli_results["sweep-help"][1].result()
    assert proc.returncode == 0, proc.stderr
    assert "--set" in proc.stdout and "--address" in proc.stdout and "config" in proc.stdout


def test_list_names_registered_components(cli_results) -> None:
    proc = cli_results["list"][1].result()
    assert proc.returncode == 0, proc.stderr
    sections: dict[str, list[str]] = {}
    current = ""
    for line in proc.stdout.splitlines():
        if line and not line.startswith(" "):
            current = line.rstrip(":")
            sections[current] = []
        elif line.strip():
            sections[current].append(line.split()[0])
    assert {"earlybird", "dense"} <= set(sections["methods"])
    assert {"vgg11", "resnet20"} <= set(sections["models"])
    assert {"digits", "cifar10", "synthetic"} <= set(sections["datasets"])
    assert "earlybird" in sections["search spaces"]


def test_usage_error_is_argparse_exit_2(tmp_path) -> None:
    proc = _run([sys.executable, "-m", "orchestrator.cli", "frobnicate"], tmp_path)
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
    assert list(tmp_path.iterdir()) == []


INPROCESS_CASES = [c for c in EXTRA_CASES if c.id not in SUBPROCESS_EXTRA]


@pytest.mark.parametrize("case", INPROCESS_CASES, ids=[c.id for c in INPROCESS_CASES])
def test_bad_input_in_process_is_one_error_line_exit_2_and_writes_nothing(case: Case, tmp_path, monkeypatch, capsys) -> None:
    from orchestrator.cli import main

    shutil.copy(REPO / "configs" / "demo.yaml", tmp_path / "demo.yaml")
    for name, content in case.files:
        (tmp_path / name).mkdir() if content is None else (tmp_path / name).write_bytes(content)
    monkeypatch.chdir(tmp_path)
    code = main([*case.argv, "--set", f"sweep.results_dir={tmp_path / 'results'}"])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tickets: error: "), err
    for needle in case.needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    made = sorted(["demo.yaml", *(name for name, _ in case.files)])
    assert sorted(p.name for p in tmp_path.iterdir()) == made
