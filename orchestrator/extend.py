"""Extend a finished sweep with more trials: `tickets sweep --extend NAME --set sweep.num_trials=N`.

The sweep's saved configs are reloaded, its Optuna study is reopened from its journal (the sampler
continues from every trial it was told, and the n-th proposal's seed stays a function of n), and only
the new configurations run, as a fresh Tune experiment recorded into the same Parquet tables and
MLflow parent run. Baseline arms already ran and are not repeated.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import ray

from lottery.errors import ConfigError
from orchestrator.config import load_sweep_file, save_sweep_file
from orchestrator.layout import SweepLayout
from orchestrator.parquet_store import ParquetResults
from orchestrator.preflight import check_tracking_uri
from orchestrator.searcher import TicketSearcher
from orchestrator.storage_check import check_storage
from orchestrator.sweep import SweepSummary, fit_tune, start_ray, summarize, validate_sweep
from orchestrator.tracking import MlflowTracker
from search_spaces import SEARCH_SPACES

# What an extension may change; everything else is the sweep as launched (its identity).
EXTENDABLE = ("sweep.num_trials", "sweep.max_concurrent", "sweep.results_dir")


def parse_extend_overrides(overrides: list[str]) -> dict[str, str]:
    """{key: value text} of the `--set` items an extension accepts; anything else is one clear error."""
    parsed: dict[str, str] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or key not in EXTENDABLE:
            raise ConfigError(f"--extend accepts only --set {', '.join(k + '=...' for k in EXTENDABLE)}; got {item!r} "
                              "(the rest of an extended sweep is its saved sweep.yaml)")
        parsed[key] = value
    if "sweep.num_trials" not in parsed:
        raise ConfigError("--extend needs the new total: --set sweep.num_trials=N (N > the configurations already run)")
    return parsed


def _int(text: str, key: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"invalid value {text!r} for {key}; valid: an integer >= 1") from None


def extend_sweep(name: str, overrides: list[str], address: str | None = None, verbose: bool = False) -> SweepSummary:
    """Run the trials that bring sweep `name` to `sweep.num_trials` configurations; refuses, before
    anything is written, a missing sweep, an unfinished one, and a total not above what already ran."""
    parsed = parse_extend_overrides(overrides)
    paths = SweepLayout.of(Path(parsed.get("sweep.results_dir", "results")), name)
    if not paths.config_file.exists():
        raise ConfigError(f"no sweep named {name!r} under {paths.results_dir} (missing {paths.config_file})")
    cfg, sweep = load_sweep_file(paths.config_file)
    if paths.search_budget_spent.exists():
        raise ConfigError(f"sweep {name!r} ended at its training budget (sweep.max_train_hours={sweep.max_train_hours:g}); "
                          "run a new sweep with a larger sweep.max_train_hours: its completed configurations are reused, not retrained")
    target = _int(parsed["sweep.num_trials"], "sweep.num_trials")
    trials = ParquetResults(paths.root).read_trials()
    search = trials[trials["arm"] == "search"]
    done = int(search["optuna_trial_number"].nunique())
    baseline_rows = int((trials["arm"] == "baseline").sum())
    if baseline_rows < len(sweep.baselines) * sweep.seeds or len(search) < done * sweep.seeds:
        raise ConfigError(f"sweep {name!r} is unfinished ({len(trials)} trials recorded); finish it with `tickets resume {name}` first")
    if target <= done:
        raise ConfigError(f"sweep {name!r} already ran {done} configurations; --set sweep.num_trials must be above {done} to extend it")
    extended = replace(sweep, num_trials=target, max_concurrent=_int(parsed.get("sweep.max_concurrent", str(sweep.max_concurrent)),
                                                                        "sweep.max_concurrent"))
    validate_sweep(cfg, extended)
    tracking_uri = paths.tracking_uri(sweep.mlflow_uri)
    check_tracking_uri(tracking_uri)
    check_storage(sweep.storage_path)
    start_ray(address, extended)
    try:
        save_sweep_file(paths.config_file, cfg, extended)
        tracker = MlflowTracker(tracking_uri, paths.experiment_name, artifact_root=paths.artifacts)
        parent = tracker.parent_run(sweep.name, {})
        searcher = TicketSearcher(cfg, SEARCH_SPACES.get(sweep.search_space), replace(extended, baselines=()), paths.journal)
        searcher.close_orphans()  # Optuna trials an interrupted run asked for but never told: closed from Parquet
        new = (target - done) * sweep.seeds
        fit_tune(cfg, extended, paths, tracking_uri, searcher, new, f"{name}-extend-{done}-{target}", parent, tracker, verbose)
    finally:
        if address is None:
            ray.shutdown()
    return summarize(paths, extended, tracker, parent, tracking_uri, cfg.data)
