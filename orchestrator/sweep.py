"""Launch a sweep: Ray Tune runs the trials, Optuna proposes them, MLflow and Parquet record them.

Everything that can be checked is checked before anything is written: config, search space
bounds, and that the dataset is on disk.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import ray
from ray import tune

from lottery.codec import arm_config, to_flat_dict
from lottery.config import DataConfig, ExperimentConfig
from lottery.errors import ConfigError
from lottery.methods.base import check_data_available
from orchestrator.cluster import check_cluster_offers
from orchestrator.console import ConsoleReporter
from orchestrator.config import SweepConfig, baseline_overrides, load_sweep_file, save_sweep_file
from orchestrator.layout import SweepLayout
from orchestrator.loopback import loopback_only
from orchestrator.preflight import check_device, check_local_machine, check_tracking_uri
from orchestrator.parquet_store import ParquetResults
from orchestrator.precost import check_budgets_reachable
from orchestrator.savings import savings_text
from orchestrator.search_budget import budget_spent_line
from orchestrator.searcher import TicketSearcher, check_space
from orchestrator.storage_check import check_storage
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
    experiment_id: str = ""
    interrupted: bool = False  # stopped before every trial was recorded (Ctrl-C / SIGTERM): resumable
    already_finished: bool = False  # `tickets resume` of a sweep that had nothing left to do


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
        arm_config(cfg, baseline_overrides(baseline))
    check_data_available(cfg.data)  # raises DatasetNotFoundError with instructions; loads nothing
    check_budgets_reachable(cfg, space, sweep.budget_list())  # a provably impossible budget: refused here


def run_sweep(cfg: ExperimentConfig, sweep: SweepConfig, address: str | None = None, verbose: bool = False) -> SweepSummary:
    """Run the whole sweep and return where everything landed, plus the Pareto front. `verbose`
    brings back Ray Tune's own progress output; by default one line per trial event is printed."""
    paths = SweepLayout.of(sweep.results_dir, sweep.name)
    check_tracking_uri(paths.tracking_uri(sweep.mlflow_uri))  # seconds, before any write
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
    tracking_uri = paths.tracking_uri(sweep.mlflow_uri)
    check_tracking_uri(tracking_uri)
    check_storage(sweep.storage_path)
    start_ray(address, sweep)  # joining a cluster: checks it can host a trial, before anything is written
    try:
        paths.root.mkdir(parents=True, exist_ok=True)
        save_sweep_file(paths.config_file, cfg, sweep)
        tracker = MlflowTracker(tracking_uri, paths.experiment_name, artifact_root=paths.artifacts)
        parent = tracker.parent_run(sweep.name, {f"sweep.{k}": v for k, v in to_flat_dict(sweep).items()})
        searcher = TicketSearcher(cfg, SEARCH_SPACES.get(sweep.search_space), sweep, paths.journal)
        tracker, parent = fit_tune(cfg, sweep, paths, tracking_uri, searcher, sweep.total_trials, sweep.name, parent, tracker, verbose)
    finally:
        if address is None:
            ray.shutdown()
    return summarize(paths, sweep, tracker, parent, tracking_uri, cfg.data)


def fit_tune(cfg: ExperimentConfig, sweep: SweepConfig, paths: SweepLayout, tracking_uri: str, searcher: TicketSearcher,
         num_samples: int, experiment: str, parent: str, tracker: MlflowTracker, verbose: bool) -> tuple[MlflowTracker, str]:
    """One Tune experiment of `num_samples` trials proposed by `searcher`, recorded into the sweep."""
    spec = RecorderSpec(str(paths.results_dir), sweep.name, tracking_uri, parent, sweep.budgets, sweep.scheduler)
    trainable = tune.with_resources(ticket_trainable, {"cpu": sweep.resources.cpu, "gpu": sweep.resources.gpu})
    # Ray's new console output prints an experiment box and result paths even at verbose 0; the
    # legacy reporter is silent at 0, and ConsoleReporter prints instead.
    os.environ["RAY_AIR_NEW_OUTPUT"] = "1" if verbose else "0"
    if sweep.scheduler != "none":
        # The scheduler reads `val_accuracy` from epoch results only; the final report (prefixed keys)
        # and a rejected or reused trial's report carry none, which Tune's strict check would refuse.
        os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=make_scheduler(sweep),
            num_samples=num_samples,
            max_concurrent_trials=sweep.max_concurrent,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
        ),
        run_config=tune.RunConfig(
            name=experiment,
            storage_path=paths.ray_storage(sweep.storage_path),
            callbacks=[RecorderCallback(spec), _console(cfg, sweep, num_samples)],
            failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            verbose=1 if verbose else 0,
        ),
    )
    with _graceful_stop():
        tuner.fit()
    return tracker, parent


# The epoch key every trainable reports (lottery.results: `epoch`, the global epoch across phases) and
# the metric the scheduler compares: validation accuracy, as Optuna's objective.
FIDELITY_KEY = "epoch"
SCHEDULER_METRIC = "val_accuracy"


# Tune's ASHA stops every trial that reaches max_t, before its final report; a trial must end on its
# own (its final report carries the ticket), so max_t is out of reach: rungs above a trial's last epoch
# are simply never reached, and a method with several phases is compared at its later epochs too.
UNREACHABLE_EPOCH = 2**20
HYPERBAND_BRACKETS = 3


def make_scheduler(sweep: SweepConfig) -> tune.schedulers.TrialScheduler | None:
    """ASHA (`asha`) or asynchronous HyperBand (`hyperband`: ASHA over HYPERBAND_BRACKETS brackets of
    different grace periods, Li et al. 2020) over the global epoch, or None (every trial runs to the
    end). Only epoch results carry `epoch` and `val_accuracy`; the final report does not, so it is
    never a decision point. A stopped trial is recorded `stopped` and told to Optuna as PRUNED."""
    if sweep.scheduler == "none":
        return None
    from ray.tune.schedulers import AsyncHyperBandScheduler

    return AsyncHyperBandScheduler(time_attr=FIDELITY_KEY, metric=SCHEDULER_METRIC, mode="max", max_t=UNREACHABLE_EPOCH,
                                   grace_period=sweep.grace_period, reduction_factor=sweep.reduction_factor,
                                   brackets=HYPERBAND_BRACKETS if sweep.scheduler == "hyperband" else 1)


def expected_trials(sweep: SweepConfig) -> int:
    return sweep.total_trials


def ended_at_training_budget(paths: SweepLayout, trials: pd.DataFrame) -> bool:
    """The searcher stopped at sweep.max_train_hours and every trial that started has its row (a
    Ctrl-C while the last trials ran leaves trials with epochs but no row: that sweep is interrupted)."""
    if not paths.search_budget_spent.exists():
        return False
    epochs = ParquetResults(paths.root).read_epochs()
    started = set(epochs["trial_id"]) if not epochs.empty else set()
    return started <= set(trials["trial_id"] if not trials.empty else [])


@contextlib.contextmanager
def _graceful_stop() -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the sweep the same way: Tune's graceful stop (it checkpoints the
    experiment once more), without Tune's own hint on how to restore it (we print `tickets resume`)."""
    tune_logger = logging.getLogger("ray.tune.tune")
    level = tune_logger.level
    tune_logger.setLevel(logging.CRITICAL)  # its interrupt and restore messages name Tune's API, not ours
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: os.kill(os.getpid(), signal.SIGUSR1)) if main else None
    try:
        yield
    finally:
        tune_logger.setLevel(level)
        if main:
            signal.signal(signal.SIGTERM, previous)


def summarize(paths: SweepLayout, sweep: SweepConfig, tracker: MlflowTracker, parent: str, uri: str,
              data: DataConfig | None = None) -> SweepSummary:
    """Front table (feasible trials only when the sweep has budgets) and the training-cost line, plot
    on disk and on the parent run; the parent run is closed: FINISHED, FAILED (no trial completed) or
    KILLED when the sweep was stopped before every trial was recorded."""
    trials = ParquetResults(paths.root).read_trials()
    ended_at_budget = ended_at_training_budget(paths, trials)  # fewer trials than planned, by design
    interrupted = len(trials) < expected_trials(sweep) and not ended_at_budget
    objectives = sweep.objective_pairs()
    text = format_front(trials, objectives, budgets=sweep.budget_list())
    if ended_at_budget:
        text += "\n" + budget_spent_line(paths.search_budget_spent, len(trials), expected_trials(sweep))
    if data is not None and not trials.empty:
        try:
            text += "\n" + savings_text(trials, data, sweep.resources.gpu)
        except Exception as err:  # noqa: BLE001  (a summary line must not lose the sweep's results)
            logging.getLogger(__name__).warning("training cost summary not computed: %s: %s", type(err).__name__, err)
    if not trials.empty:
        for plot in (plot_front(trials, paths.plot("pareto")), plot_training_cost(trials, paths.plot("training_cost"))):
            tracker.log_artifact(parent, plot)
        _write_report(paths, tracker, parent)
    tracker.finish(parent, ok=bool((trials["status"] == "completed").any()) if not trials.empty else False, killed=interrupted)
    return SweepSummary(paths, uri, paths.experiment_name, parent, trials, text, tracker.experiment_id, interrupted=interrupted)


def _console(cfg: ExperimentConfig, sweep: SweepConfig, total: int | None = None) -> ConsoleReporter:
    return ConsoleReporter(sweep.total_trials if total is None else total, sweep.objective_pairs(), to_flat_dict(cfg))


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


def start_ray(address: str | None, sweep: SweepConfig) -> None:
    """Start a local Ray, or join the cluster at `address` after checking a node can host a trial."""
    _init_ray(address)
    if address is None:
        return
    try:
        check_cluster_offers({"cpu": sweep.resources.cpu, "gpu": sweep.resources.gpu}, address)
    except ConfigError:
        ray.shutdown()  # disconnects this driver; the cluster keeps running
        raise


def _init_ray(address: str | None) -> None:
    # Checkpointing every epoch with num_to_keep set forces frequent experiment snapshots; that is
    # intended here (small checkpoints), so Tune's warning about it is noise.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # "Creating initial MLflow database tables"
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if ray.is_initialized():
        return
    logging_config = ray.LoggingConfig(log_level="WARNING")
    if address is None:  # "local": a new Ray even where RAY_ADDRESS or `ray start` records a cluster
        # A private, loopback-only Ray of this process: token authentication is off on purpose, said
        # explicitly so Ray does not warn about it on every start.
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        with loopback_only():  # a local sweep is not reachable from the network
            ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.WARNING,
                     logging_config=logging_config)
    else:
        ray.init(address=address, logging_level=logging.WARNING, logging_config=logging_config)


def resume_sweep(name: str, results_dir: Path, address: str | None = None) -> SweepSummary:
    """Restore an interrupted sweep's Tune experiment and finish it; runs and rows are re-attached."""
    paths = SweepLayout.of(results_dir, name)
    if not paths.config_file.exists():
        raise ConfigError(f"no sweep named {name!r} under {paths.results_dir} (missing {paths.config_file})")
    base, sweep = load_sweep_file(paths.config_file)
    check_storage(sweep.storage_path)
    experiment_dir = paths.ray_experiment(sweep.storage_path)  # a URI (s3://, gs://) or a folder: no Path()
    if not tune.Tuner.can_restore(experiment_dir):
        raise ConfigError(f"sweep {name!r} has no restorable Ray Tune state in {experiment_dir}")
    tracking_uri = paths.tracking_uri(sweep.mlflow_uri)
    check_tracking_uri(tracking_uri)
    trials = ParquetResults(paths.root).read_trials()
    # nothing to do: say so, touch nothing (the parent run stays closed)
    if len(trials) >= expected_trials(sweep) or ended_at_training_budget(paths, trials):
        tracker = MlflowTracker(tracking_uri, paths.experiment_name, artifact_root=paths.artifacts)
        text = format_front(trials, sweep.objective_pairs())
        return SweepSummary(paths, tracking_uri, paths.experiment_name, tracker.find_parent(name) or "", trials, text,
                            tracker.experiment_id, already_finished=True)
    start_ray(address, sweep)
    try:
        tracker = MlflowTracker(tracking_uri, paths.experiment_name, artifact_root=paths.artifacts)
        parent = tracker.parent_run(sweep.name, {})
        trainable = tune.with_resources(ticket_trainable, {"cpu": sweep.resources.cpu, "gpu": sweep.resources.gpu})
        if sweep.scheduler != "none":
            os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"  # as in fit_tune: the scheduler's metric is per epoch only
        tuner = tune.Tuner.restore(experiment_dir, trainable, resume_unfinished=True, resume_errored=True)
        with _graceful_stop():
            tuner.fit()
    finally:
        if address is None:
            ray.shutdown()
    return summarize(paths, sweep, tracker, parent, tracking_uri, base.data)
