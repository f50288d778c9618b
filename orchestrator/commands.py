"""What each CLI command does; imported lazily so `tickets --help` stays fast."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from lottery.errors import ConfigError
from orchestrator.config import SweepConfig, config_hash, experiment_from_flat, load_configs, unflatten, build
from orchestrator.preflight import check_local_machine, check_sweep_tracking


def sweep_command(config: str, overrides: list[str], name: str | None, address: str | None) -> int:
    cfg, sweep = load_configs(config, overrides + ([f"sweep.name={name}"] if name else []))  # before importing Ray
    check_sweep_tracking(sweep.mlflow_uri, sweep.results_dir)  # a dead server: one line in seconds, before heavy imports

    from orchestrator.sweep import run_sweep

    summary = run_sweep(cfg, sweep, address)
    _print_summary(summary)
    return 0 if (summary.trials["status"] == "completed").any() else 1


def resume_command(name: str, results_dir: Path, address: str | None) -> int:
    from orchestrator.sweep import resume_sweep

    summary = resume_sweep(name, results_dir, address)
    _print_summary(summary)
    return 0


def _print_summary(summary) -> None:  # noqa: ANN001  (SweepSummary; import kept lazy)
    print()
    print(summary.front_text)
    print()
    print(f"MLflow:  {summary.tracking_uri}  experiment {summary.experiment_name!r}  (browse: mlflow ui --backend-store-uri {summary.tracking_uri})")
    print(f"Parquet: {summary.paths.root / 'trials'}  and  {summary.paths.root / 'epochs'}")
    print(f"Plots:   {summary.paths.plot}  {summary.paths.cost_plot}")


def run_command(config: str, overrides: list[str], name: str) -> int:
    """One experiment in-process; checkpointed by config hash, so re-running it trains nothing twice."""
    cfg, sweep = load_configs(config, overrides)
    check_sweep_tracking(sweep.mlflow_uri, sweep.results_dir)  # before MLflow's import and its minutes of retries
    check_local_machine(cfg.train.device)

    from lottery.methods import METHODS
    from lottery.methods.common import prepare_trial
    from lottery.session import LocalSession
    from lottery.training.divergence import TrialDiverged
    from orchestrator.parquet_store import ParquetResults
    from orchestrator.recorder import TrialRecorder
    from orchestrator.tracking import MlflowTracker, default_tracking_uri

    results_dir = Path(sweep.results_dir).resolve()
    uri = sweep.mlflow_uri or default_tracking_uri(results_dir)
    prepare_trial(cfg)  # dataset check before anything is written
    root = results_dir / name
    chash = config_hash(cfg)
    trial_id = f"run-{chash}"
    tracker = MlflowTracker(uri, f"tickets/{name}", results_dir / "mlartifacts")
    parent = tracker.parent_run(name, {})
    recorder = TrialRecorder(name, ParquetResults(root), tracker, parent)
    recorder.start(trial_id, cfg, chash, "single", -1)
    session = LocalSession(
        checkpoint_dir=root / "checkpoints" / trial_id,
        ticket_out=root / "tickets" / trial_id,
        on_epoch=lambda m: (recorder.epoch(trial_id, m), _print_epoch(m)),
        on_final=lambda m, d: recorder.complete(trial_id, m, d),
    )
    try:
        final = METHODS.get(cfg.method.name)().run(cfg, session)
    except TrialDiverged as diverged:
        recorder.epoch(trial_id, diverged.metrics)
        recorder.fail(trial_id, str(diverged))
        print(f"tickets: trial {trial_id} failed: {diverged}", file=sys.stderr)
        return 1
    except BaseException as err:
        recorder.fail(trial_id, f"{type(err).__name__}: {err}")
        raise
    finally:
        tracker.finish(parent)
    print("final: " + ", ".join(f"{k}={_fmt(v)}" for k, v in final.items()))
    print(f"trial {trial_id}: Parquet under {root}, MLflow {uri}, ticket in {root / 'tickets' / trial_id}")
    return 0


def _print_epoch(m: dict) -> None:
    keys = ("epoch", "phase", "train_loss", "val_accuracy", "flops", "mask_distance", "eb_drawn")
    print("  " + " ".join(f"{k}={_fmt(m[k])}" for k in keys if k in m), flush=True)


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def list_command() -> int:
    from lottery.data import DATASETS
    from lottery.methods import METHODS
    from lottery.models import MODELS
    from search_spaces import SEARCH_SPACES

    for title, registry in (("methods", METHODS), ("models", MODELS), ("datasets", DATASETS), ("search spaces", SEARCH_SPACES)):
        print(f"{title}:")
        for name in registry.names():
            print(f"  {name:<14} {registry.describe(name)}")
    return 0


def analyze_command(path: Path) -> int:
    """Print the front (and redraw the plot) of one sweep folder or of every sweep in a results folder."""
    from analysis.report import format_front, plot_front, plot_training_cost
    from orchestrator.parquet_store import ParquetResults

    path = path.resolve()
    if not path.is_dir():
        raise ConfigError(f"results folder not found: {str(path)!r}")
    sweep_dirs = [path] if (path / "trials").is_dir() else sorted(p for p in path.iterdir() if (p / "trials").is_dir())
    if not sweep_dirs:
        raise ConfigError(f"no sweep results in {str(path)!r}; expected a folder with trials/*.parquet (e.g. results/demo)")
    for sweep_dir in sweep_dirs:
        trials = ParquetResults(sweep_dir).read_trials()
        objectives = load_saved_sweep(sweep_dir).objective_pairs() if (sweep_dir / "sweep.yaml").exists() else SweepConfig().objective_pairs()
        print(f"== {sweep_dir.name} ({len(trials)} trials) ==")
        print(format_front(trials, objectives))
        if not trials.empty:
            print(f"plots: {plot_front(trials, sweep_dir / 'pareto.png')}, "
                  f"{plot_training_cost(trials, sweep_dir / 'training_cost.png')}")
        if not trials.empty and (trials["method"] == "robust_ticket").any():  # robust tickets: transfer vs sparsity
            from analysis.robust import format_robust, plot_robust

            print(format_robust(trials))
            print(f"plot: {plot_robust(trials, sweep_dir / 'robust_transfer.png')}")
    return 0


def load_saved_sweep(sweep_dir: Path) -> SweepConfig:
    raw = yaml.safe_load((sweep_dir / "sweep.yaml").read_text())
    return build(SweepConfig, unflatten(raw["sweep"]), "sweep.")


def load_saved_experiment(sweep_dir: Path):  # noqa: ANN201
    raw = yaml.safe_load((sweep_dir / "sweep.yaml").read_text())
    return experiment_from_flat(raw["experiment"])
