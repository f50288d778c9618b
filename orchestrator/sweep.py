"""Launch a sweep: Ray Tune runs the trials, Optuna proposes them, MLflow and Parquet record them.

Everything that can be checked is checked before anything is written: config, search space
bounds, and that the dataset is on disk.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import ray
import yaml
from ray import tune

from lottery.config import ExperimentConfig, to_flat_dict
from lottery.errors import ConfigError
from lottery.methods.common import prepare_trial
from orchestrator.config import SweepConfig, baseline_overrides, with_overrides
from orchestrator.loopback import loopback_only
from orchestrator.preflight import check_device, check_local_machine, check_tracking_uri
from orchestrator.parquet_store import ParquetResults
from orchestrator.searcher import TicketSearcher, check_space
from orchestrator.tracking import MlflowTracker, default_tracking_uri
from orchestrator.tune_callback import RecorderCallback, RecorderSpec
from analysis.report import format_front, plot_front, plot_training_cost
from search_spaces import SEARCH_SPACES
from trainables import ticket_trainable


@dataclass(frozen=True)
class SweepPaths:
    """Where one sweep's files live (all absolute: Tune changes the trials' working directory)."""

    results_dir: Path
    name: str

    @property
    def root(self) -> Path:
        return self.results_dir / self.name

    @property
    def tickets(self) -> Path:
        return self.root / "tickets"

    @property
    def artifacts(self) -> Path:
        return self.results_dir / "mlartifacts"

    @property
    def journal(self) -> Path:
        return self.root / "optuna.journal"

    @property
    def plot(self) -> Path:
        return self.root / "pareto.png"

    @property
    def cost_plot(self) -> Path:
        return self.root / "training_cost.png"

    @property
    def config_file(self) -> Path:
        return self.root / "sweep.yaml"


@dataclass(frozen=True)
class SweepSummary:
    paths: SweepPaths
    tracking_uri: str
    experiment_name: str
    parent_run_id: str
    trials: pd.DataFrame
    front_text: str


def experiment_name(sweep: SweepConfig) -> str:
    return f"tickets/{sweep.name}"


def validate_sweep(cfg: ExperimentConfig, sweep: SweepConfig) -> None:
    """Fail before writing anything: search space bounds, baselines, dataset availability."""
    space = SEARCH_SPACES.get(sweep.search_space)
    check_space(cfg, space)
    grid = space.grid()
    if sweep.sampler == "grid":
        if grid is None:
            raise ConfigError(f"sampler 'grid' needs a search space of choices only; {sweep.search_space!r} has ranges")
        points = 1
        for options in grid.values():
            points *= len(options)
        if sweep.num_trials > points:
            raise ConfigError(f"sweep.num_trials={sweep.num_trials} exceeds the {points} points of the grid; set it <= {points}")
    for baseline in sweep.baselines:
        with_overrides(cfg, baseline_overrides(baseline))
    prepare_trial(cfg)  # loads the data: raises DatasetNotFoundError with instructions


def run_sweep(cfg: ExperimentConfig, sweep: SweepConfig, address: str | None = None) -> SweepSummary:
    """Run the whole sweep and return where everything landed, plus the Pareto front."""
    paths = SweepPaths(Path(sweep.results_dir).resolve(), sweep.name)
    check_tracking_uri(sweep.mlflow_uri or default_tracking_uri(paths.results_dir))  # seconds, before any write
    check_device(cfg.train.device, sweep.resources.gpu)
    if address is None:
        check_local_machine(cfg.train.device, sweep.resources.gpu, sweep.resources.cpu)
    validate_sweep(cfg, sweep)
    store = ParquetResults(paths.root)
    if store.has_results():
        raise ConfigError(
            f"sweep {sweep.name!r} already has results in {paths.root}; choose another --name "
            f"(or `tickets resume {sweep.name}` to finish it)"
        )
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(yaml.safe_dump({"experiment": to_flat_dict(cfg), "sweep": to_flat_dict(sweep)}))

    tracking_uri = sweep.mlflow_uri or default_tracking_uri(paths.results_dir)
    tracker = MlflowTracker(tracking_uri, experiment_name(sweep), artifact_root=paths.artifacts)
    parent = tracker.parent_run(sweep.name, {f"sweep.{k}": v for k, v in to_flat_dict(sweep).items()})
    spec = RecorderSpec(sweep.name, str(paths.root), tracking_uri, experiment_name(sweep), str(paths.artifacts), parent)

    _init_ray(address)
    try:
        searcher = TicketSearcher(cfg, SEARCH_SPACES.get(sweep.search_space), sweep, paths.journal)
        trainable = tune.with_resources(ticket_trainable, {"cpu": sweep.resources.cpu, "gpu": sweep.resources.gpu})
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                num_samples=sweep.num_trials + len(sweep.baselines),
                max_concurrent_trials=sweep.max_concurrent,
                trial_name_creator=_trial_name,
                trial_dirname_creator=_trial_name,
            ),
            run_config=tune.RunConfig(
                name=sweep.name,
                storage_path=sweep.storage_path or str(paths.root / "ray"),
                callbacks=[RecorderCallback(spec)],
                failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                verbose=1,
            ),
        )
        tuner.fit()
    finally:
        if address is None:
            ray.shutdown()
    return summarize(paths, sweep, tracker, parent, tracking_uri)


def summarize(paths: SweepPaths, sweep: SweepConfig, tracker: MlflowTracker, parent: str, uri: str) -> SweepSummary:
    """Front table, plot on disk and on the parent run; the parent run is closed."""
    trials = ParquetResults(paths.root).read_trials()
    objectives = sweep.objective_pairs()
    text = format_front(trials, objectives)
    if not trials.empty:
        for plot in (plot_front(trials, paths.plot), plot_training_cost(trials, paths.cost_plot)):
            tracker.log_artifact(parent, plot)
    tracker.finish(parent, ok=bool((trials["status"] == "completed").any()) if not trials.empty else False)
    return SweepSummary(paths, uri, experiment_name(sweep), parent, trials, text)


def _trial_name(trial: "tune.experiment.Trial") -> str:
    """Short trial names: the method and Tune's trial id (the default embeds the whole config)."""
    return f"{trial.config['experiment']['method.name']}_{trial.trial_id}"


def _init_ray(address: str | None) -> None:
    # Checkpointing every epoch with num_to_keep set forces frequent experiment snapshots; that is
    # intended here (small checkpoints), so Tune's warning about it is noise.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if ray.is_initialized():
        return
    logging_config = ray.LoggingConfig(log_level="WARNING")
    if address is None:
        with loopback_only():  # a local sweep is not reachable from the network
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING", logging_config=logging_config)
    else:
        ray.init(address=address, logging_level="WARNING", logging_config=logging_config)


def resume_sweep(name: str, results_dir: Path, address: str | None = None) -> SweepSummary:
    """Restore an interrupted sweep's Tune experiment and finish it; runs and rows are re-attached."""
    from orchestrator.commands import load_saved_experiment, load_saved_sweep

    paths = SweepPaths(Path(results_dir).resolve(), name)
    if not paths.config_file.exists():
        raise ConfigError(f"no sweep named {name!r} under {paths.results_dir} (missing {paths.config_file})")
    sweep = load_saved_sweep(paths.root)
    load_saved_experiment(paths.root)
    experiment_dir = Path(sweep.storage_path or paths.root / "ray") / name
    if not tune.Tuner.can_restore(str(experiment_dir)):
        raise ConfigError(f"sweep {name!r} has no restorable Ray Tune state in {experiment_dir}")
    tracking_uri = sweep.mlflow_uri or default_tracking_uri(paths.results_dir)
    check_tracking_uri(tracking_uri)
    tracker = MlflowTracker(tracking_uri, experiment_name(sweep), artifact_root=paths.artifacts)
    parent = tracker.parent_run(sweep.name, {})
    _init_ray(address)
    try:
        trainable = tune.with_resources(ticket_trainable, {"cpu": sweep.resources.cpu, "gpu": sweep.resources.gpu})
        tuner = tune.Tuner.restore(str(experiment_dir), trainable, resume_unfinished=True, resume_errored=True)
        tuner.fit()
    finally:
        if address is None:
            ray.shutdown()
    return summarize(paths, sweep, tracker, parent, tracking_uri)
