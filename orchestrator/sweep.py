"""Launch a sweep: Ray Tune runs the trials, Optuna proposes them, MLflow and Parquet record them.

Everything that can be checked is checked before anything is written: config, search space
bounds, and that the dataset is on disk.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import ray
from ray import tune

from lottery.codec import to_flat_dict, with_overrides
from lottery.config import ExperimentConfig
from lottery.errors import ConfigError
from lottery.methods.base import check_data_available
from orchestrator.config import SweepConfig, baseline_overrides, load_sweep_file, save_sweep_file
from orchestrator.layout import SweepLayout
from orchestrator.parquet_store import ParquetResults
from orchestrator.searcher import TicketSearcher, check_space
from orchestrator.tracking import MlflowTracker
from orchestrator.tune_callback import RecorderCallback, RecorderSpec
from analysis.report import format_front, plot_front, plot_training_cost
from search_spaces import SEARCH_SPACES
from trainables import ticket_trainable


@dataclass(frozen=True)
class SweepSummary:
    paths: SweepLayout
    tracking_uri: str
    experiment_name: str
    parent_run_id: str
    trials: pd.DataFrame
    front_text: str


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
    check_data_available(cfg.data)  # raises DatasetNotFoundError with instructions; loads nothing


def run_sweep(cfg: ExperimentConfig, sweep: SweepConfig, address: str | None = None) -> SweepSummary:
    """Run the whole sweep and return where everything landed, plus the Pareto front."""
    validate_sweep(cfg, sweep)
    paths = SweepLayout.of(sweep.results_dir, sweep.name)
    store = ParquetResults(paths.root)
    if store.has_results():
        raise ConfigError(
            f"sweep {sweep.name!r} already has results in {paths.root}; choose another --name "
            f"(or `tickets resume {sweep.name}` to finish it)"
        )
    paths.root.mkdir(parents=True, exist_ok=True)
    save_sweep_file(paths.config_file, cfg, sweep)

    tracking_uri = paths.tracking_uri(sweep.mlflow_uri)
    tracker = MlflowTracker(tracking_uri, paths.experiment_name, artifact_root=paths.artifacts)
    parent = tracker.parent_run(sweep.name, {f"sweep.{k}": v for k, v in to_flat_dict(sweep).items()})
    spec = RecorderSpec(str(paths.results_dir), sweep.name, tracking_uri, parent)

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
                storage_path=str(paths.ray_storage(sweep.storage_path)),
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


def summarize(paths: SweepLayout, sweep: SweepConfig, tracker: MlflowTracker, parent: str, uri: str) -> SweepSummary:
    """Front table, plot on disk and on the parent run; the parent run is closed."""
    trials = ParquetResults(paths.root).read_trials()
    objectives = sweep.objective_pairs()
    text = format_front(trials, objectives)
    if not trials.empty:
        for plot in (plot_front(trials, paths.plot("pareto")), plot_training_cost(trials, paths.plot("training_cost"))):
            tracker.log_artifact(parent, plot)
        _write_report(paths, tracker, parent)
    tracker.finish(parent, ok=bool((trials["status"] == "completed").any()) if not trials.empty else False)
    return SweepSummary(paths, uri, paths.experiment_name, parent, trials, text)


def _write_report(paths: SweepLayout, tracker: MlflowTracker, parent: str) -> None:
    """The analysis report (index.html and its figures) in the sweep's report/ folder and on the parent
    run. A report that cannot be built (e.g. mixed fidelities) is logged and skipped: results stay."""
    from analysis.report_folder import write_sweep_report

    try:
        folder = write_sweep_report(paths.root, out=paths.report)
    except Exception as err:  # noqa: BLE001  (the sweep's results matter more than its report)
        logging.getLogger(__name__).warning("sweep report not written: %s: %s", type(err).__name__, err)
        return
    tracker.log_artifacts(parent, folder, "report")


def _trial_name(trial: tune.experiment.Trial) -> str:
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
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.WARNING, logging_config=logging_config)
    else:
        ray.init(address=address, logging_level=logging.WARNING, logging_config=logging_config)


def resume_sweep(name: str, results_dir: Path, address: str | None = None) -> SweepSummary:
    """Restore an interrupted sweep's Tune experiment and finish it; runs and rows are re-attached."""
    paths = SweepLayout.of(results_dir, name)
    if not paths.config_file.exists():
        raise ConfigError(f"no sweep named {name!r} under {paths.results_dir} (missing {paths.config_file})")
    _, sweep = load_sweep_file(paths.config_file)
    experiment_dir = paths.ray_experiment(sweep.storage_path)
    if not tune.Tuner.can_restore(experiment_dir):
        raise ConfigError(f"sweep {name!r} has no restorable Ray Tune state in {experiment_dir}")
    tracking_uri = paths.tracking_uri(sweep.mlflow_uri)
    tracker = MlflowTracker(tracking_uri, paths.experiment_name, artifact_root=paths.artifacts)
    parent = tracker.parent_run(sweep.name, {})
    _init_ray(address)
    try:
        trainable = tune.with_resources(ticket_trainable, {"cpu": sweep.resources.cpu, "gpu": sweep.resources.gpu})
        tuner = tune.Tuner.restore(experiment_dir, trainable, resume_unfinished=True, resume_errored=True)
        tuner.fit()
    finally:
        if address is None:
            ray.shutdown()
    return summarize(paths, sweep, tracker, parent, tracking_uri)
