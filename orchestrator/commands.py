"""What each CLI command does; imported lazily so `tickets --help` stays fast."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lottery.errors import ConfigError
from lottery.codec import config_hash
from orchestrator.config import SweepConfig, load_configs, load_sweep_file
from orchestrator.layout import SweepLayout, find_sweeps, run_trial_id
from orchestrator.preflight import check_local_machine, check_sweep_tracking


def sweep_command(config: str | None, overrides: list[str], name: str | None, address: str | None, verbose: bool = False,
                  extend: str | None = None) -> int:
    if extend is not None:
        return extend_command(config, extend, overrides, name, address, verbose)
    if config is None:
        raise ConfigError("tickets sweep needs a CONFIG file (e.g. configs/demo.yaml), or --extend NAME")
    cfg, sweep = load_configs(config, overrides + ([f"sweep.name={name}"] if name else []))  # before importing Ray
    check_sweep_tracking(sweep.mlflow_uri, sweep.results_dir)  # a dead server: one line in seconds, before heavy imports

    from orchestrator.sweep import run_sweep

    summary = run_sweep(cfg, sweep, address, verbose)
    _print_summary(summary)
    if summary.interrupted:
        return _interrupted(sweep.name)
    return 0 if (summary.trials["status"] == "completed").any() else 1


def extend_command(config: str | None, extend: str, overrides: list[str], name: str | None, address: str | None,
                   verbose: bool) -> int:
    """`tickets sweep --extend NAME --set sweep.num_trials=N`: more trials for a finished sweep."""
    if config is not None or name is not None:
        raise ConfigError(f"--extend {extend} takes no CONFIG and no --name: the sweep's saved sweep.yaml is its config")
    from orchestrator.extend import extend_sweep, parse_extend_overrides

    parse_extend_overrides(overrides)  # bad --set items: one line, before Ray is started
    summary = extend_sweep(extend, overrides, address, verbose)
    _print_summary(summary)
    if summary.interrupted:
        print(f"interrupted: run the same `tickets sweep --extend {extend} ...` again to finish it", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    return 0 if (summary.trials["status"] == "completed").any() else 1


EXIT_INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C


def _interrupted(name: str) -> int:
    print(f"interrupted: resume with `tickets resume {name}`", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


def resume_command(name: str, results_dir: Path, address: str | None) -> int:
    from orchestrator.sweep import resume_sweep

    summary = resume_sweep(name, results_dir, address)
    if summary.already_finished:
        print(f"sweep {name!r} is already finished ({len(summary.trials)} trials recorded); nothing was changed")
        return 0
    _print_summary(summary)
    return _interrupted(name) if summary.interrupted else 0


def _print_summary(summary) -> None:  # noqa: ANN001  (SweepSummary; import kept lazy)
    print()
    print(summary.front_text)
    print()
    print(f"MLflow:  {summary.tracking_uri}  experiment {summary.experiment_name!r}")
    server = summary.tracking_uri.startswith(("http://", "https://"))
    base = summary.tracking_uri.rstrip("/") if server else "http://127.0.0.1:5000"
    if not server:
        print(f"         browse: mlflow ui --backend-store-uri {summary.tracking_uri} --host 127.0.0.1 --port 5000, then")
    print(f"         open:   {runs_link(base, summary.experiment_id)}")
    print(f"Parquet: {summary.paths.trials}  and  {summary.paths.epochs}")
    print(f"Optuna:  optuna-dashboard {summary.paths.journal}  (the study; `--extend {summary.paths.name}` continues it)")
    print(f"Plots:   {summary.paths.plot('pareto')}  {summary.paths.plot('training_cost')}")
    print(f"Report:  {summary.paths.report / 'index.html'}  (also on the MLflow parent run, under report/)")


def runs_link(base: str, experiment_id: str) -> str:
    """The MLflow UI page of an experiment's runs table (MLflow 3 opens its GenAI overview otherwise)."""
    return f"{base}/#/experiments/{experiment_id}?workflowType=machine_learning"


def run_command(config: str, overrides: list[str], name: str) -> int:
    """One experiment in-process; checkpointed by config hash, so re-running it trains nothing twice."""
    cfg, sweep = load_configs(config, overrides)
    check_sweep_tracking(sweep.mlflow_uri, sweep.results_dir)  # before MLflow's import and its minutes of retries
    check_local_machine(cfg.train.device)

    from lottery.methods import METHODS
    from lottery.methods.base import check_data_available
    from lottery.session import LocalSession
    from lottery.training.divergence import TrialDiverged
    from orchestrator.parquet_store import ParquetResults
    from orchestrator.recorder import TrialRecorder
    from orchestrator.tracking import MlflowTracker

    check_data_available(cfg.data)  # before anything is written
    layout = SweepLayout.of(sweep.results_dir, name)
    chash = config_hash(cfg)
    trial_id = run_trial_id(chash)
    uri = layout.tracking_uri(sweep.mlflow_uri)
    tracker = MlflowTracker(uri, layout.experiment_name, layout.artifacts)
    parent = tracker.parent_run(name, {})
    recorder = TrialRecorder(name, ParquetResults(layout.root), tracker, parent)
    recorder.start(trial_id, cfg, chash, "single", -1)
    method_keys = tuple(c.name for c in METHODS.get(cfg.method.name).epoch_columns)

    def on_epoch(metrics: dict[str, Any]) -> None:
        recorder.epoch(trial_id, metrics)
        _print_epoch(metrics, method_keys)

    def on_final(metrics: dict[str, Any], ticket_dir: Path) -> None:
        recorder.complete(trial_id, metrics, ticket_dir)

    session = LocalSession(
        checkpoint_dir=layout.checkpoint(trial_id), ticket_out=layout.ticket(trial_id), on_epoch=on_epoch, on_final=on_final,
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
    print(f"trial {trial_id}: Parquet under {layout.root}, MLflow {uri}, ticket in {layout.ticket(trial_id)}")
    base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
    print(f"MLflow runs: {runs_link(base, tracker.experiment_id)}")
    return 0


EPOCH_KEYS = ("epoch", "phase", "train_loss", "val_accuracy", "flops")


def _print_epoch(m: dict[str, object], method_keys: tuple[str, ...]) -> None:
    """One line per epoch: the common keys, then the method's own declared epoch columns."""
    print("  " + " ".join(f"{k}={_fmt(m[k])}" for k in (*EPOCH_KEYS, *method_keys) if k in m), flush=True)


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


def analyze_command(paths: Path | list[Path], x: str = "sparse_flops", y: str = "val_accuracy", by: str = "method",
                    budgets: list[str] | tuple[str, ...] = (), out: Path | None = None, fidelity: str | None = None,
                    full: bool = False) -> int:
    """Each sweep's own front (and its plots, as before), then the comparison over all of them:
    comparable groups, fronts with seed intervals, hypervolume per method, budgets, and the report
    folder. Every option is checked before anything is written."""
    from analysis.compare import X_CHOICES, Y_CHOICES, analyze, check_by, format_analysis, resolve_axis
    from analysis.fronts import parse_budget
    from analysis.page import build_report
    from analysis.report import format_front, plot_front, plot_training_cost
    from analysis.results import load_results, load_table, sweep_layouts
    from orchestrator.parquet_store import ParquetResults

    folders = [paths] if isinstance(paths, Path) else list(paths)
    layouts = sweep_layouts(*folders)
    trials = load_results(*folders)
    x_col = resolve_axis(x, X_CHOICES, "--x", trials)
    y_col = resolve_axis(y, Y_CHOICES, "--y", trials)
    by_cols = check_by([c.strip() for c in by.split(",") if c.strip()], trials)
    numeric = [c for c in trials.columns if pd_numeric(trials[c])]
    parsed = [parse_budget(b, numeric) for b in budgets]
    groups = analyze(trials, x_col, y_col, by_cols, parsed, _fidelity(fidelity))

    for layout in layouts:
        sweep_trials = ParquetResults(layout.root).read_trials()
        saved = layout.config_file.exists()
        objectives = load_sweep_file(layout.config_file)[1].objective_pairs() if saved else SweepConfig().objective_pairs()
        print(f"== {layout.name} ({len(sweep_trials)} trials) ==")
        print(format_front(sweep_trials, objectives, full=full))
        if not sweep_trials.empty:
            print(f"plots: {plot_front(sweep_trials, layout.plot('pareto'))}, "
                  f"{plot_training_cost(sweep_trials, layout.plot('training_cost'))}")
    print()
    print(format_analysis(groups))
    out_dir = out.resolve() if out else (layouts[0].report if len(layouts) == 1 else folders[0].resolve() / "report")
    heading = layouts[0].name if len(layouts) == 1 else f"{len(layouts)} sweeps"
    index, lines = build_report(groups, trials, out_dir, lambda name: load_table(name, *folders), heading)
    for line in lines:
        print(line)
    print(f"report: {index}")
    return 0


def pd_numeric(column: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(column)) and not pd.api.types.is_bool_dtype(column)


def _fidelity(value: str | None) -> int | str | None:
    if value is None or value in ("all", "each"):
        return value
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"invalid value {value!r} for --fidelity; valid: an epoch count (train.epochs), each, all") from None


def claims_command(paths: list[Path]) -> int:
    """Print the claims table (analysis/claims.py) over every sweep under `paths`."""
    from analysis.claims import claims_table, format_claims
    from analysis.results import load_results

    missing = [str(p) for p in paths if not Path(p).is_dir()]
    if missing:
        raise ConfigError(f"results folder not found: {missing[0]!r}")
    if not any(find_sweeps(Path(p)) for p in paths):
        raise ConfigError(f"no sweep results in {', '.join(map(str, paths))}; expected folders with trials/*.parquet")
    print(format_claims(claims_table(load_results(*paths))))
    return 0
