"""A Ray Tune searcher that drives an Optuna multi-objective study directly (ask / tell).

Why not Ray's OptunaSearch: it cannot run fixed baseline arms beside the search, it tells NaN
objectives to Optuna (which then fails), and it sets no constraints. Here the baselines are
suggested first and never told to Optuna; failed or NaN trials are told as FAIL; the study lives
in a journal file in the sweep folder so it can be reloaded and extended.

Budgets (sweep.budgets) reach Optuna as constraints (`Trial.set_constraint`, feasible when <= 0),
set just before `tell`: TPE puts infeasible trials in its "bad" group, NSGA-II ranks them after every
feasible one; RandomSampler and GridSampler ignore them. Before a proposal is scheduled, the searcher
decides whether it needs training at all: a configuration already completed in the results folder
is reused (told the original's values), and one whose exactly known costs break a budget is
rejected. Rejected trials and trials a scheduler stopped are told PRUNED, never COMPLETE: a
half-trained accuracy (or none) is not passed off as a final one. TPE learns from PRUNED trials
(an infeasible one lands in its bad group); NSGA-II only reads COMPLETE trials.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, cast

import numpy as np
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.study import StudyDirection
from optuna.trial import TrialState
from ray.tune.search import Searcher

from lottery.codec import arm_config, config_hash, experiment_from_flat, to_flat_dict, with_overrides
from lottery.config import ExperimentConfig
from lottery.errors import ConfigError
from orchestrator.budgets import Budget, constraints
from orchestrator.config import SAMPLERS, SweepConfig, baseline_overrides
from orchestrator.precost import known_costs, rejection_reason
from orchestrator.reuse import CompletedTrials
from orchestrator.search_budget import TrainingBudget
from search_spaces.base import AnySpace, SearchSpace
from orchestrator.layout import TRIALS_TABLE, SweepLayout
from trainables.protocol import DIVERGED, EPOCH, FINAL_PREFIX, PRESET, RECORD_FILE, REJECTED, REPORT_KIND

logger = logging.getLogger(__name__)


class AskTellGridSampler(optuna.samplers.GridSampler):
    """GridSampler for ask/tell use: Optuna's calls `study.stop()` once the grid is exhausted, which
    raises outside `study.optimize`; here `sweep.num_trials` (checked against the grid) bounds it."""

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, state: TrialState, values: Any) -> None:
        return None


def make_sampler(name: str, seed: int, space: AnySpace | None = None) -> optuna.samplers.BaseSampler:
    if name == "grid":
        grid = space.grid() if space is not None else None
        if grid is None:
            raise ConfigError("sampler 'grid' needs a search space whose dimensions are all choices; use tpe, nsga2 or random")
        return AskTellGridSampler(grid, seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError(f"unknown sampler {name!r}; valid choices: {', '.join(SAMPLERS)}")


def trial_seed(sampler_seed: int, number: int) -> int:
    """The sampler seed for Optuna trial `number`: a pure function of the sweep's seed and the number,
    so the n-th proposal is the same whether or not the driver was killed and resumed before it
    (a sampler re-created with the sweep's seed would replay its first proposals instead)."""
    return int(np.random.SeedSequence([sampler_seed, number]).generate_state(1)[0])


def open_study(sweep: SweepConfig, journal: Path, space: AnySpace | None = None) -> optuna.Study:
    """The sweep's study, created or reloaded from its journal file."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "A new study created ..." is not the user's business
    journal.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(journal)))
    directions: list[StudyDirection] = [
        StudyDirection.MAXIMIZE if d == "max" else StudyDirection.MINIMIZE for _, d in sweep.objective_pairs()
    ]
    return optuna.create_study(
        study_name=sweep.name,
        storage=storage,
        directions=directions,
        sampler=make_sampler(sweep.sampler, sweep.sampler_seed, space),
        load_if_exists=True,
    )


def check_space(base: ExperimentConfig, space: AnySpace) -> None:
    """Build the config at every bound of every dimension so a bad range fails before any trial."""
    if isinstance(space, SearchSpace) and space.method != base.method.name:
        raise ConfigError(
            f"search space for method {space.method!r} does not match method.name {base.method.name!r}; "
            f"set method.name={space.method} or choose another sweep.search_space"
        )
    for overrides in space.corners():
        with_overrides(base, overrides)


class TicketSearcher(Searcher):
    """Suggests the baseline arms first, then Optuna's proposals; tells Optuna only search trials."""

    def __init__(self, base: ExperimentConfig, space: AnySpace, sweep: SweepConfig, journal: Path) -> None:
        super().__init__(metric=None, mode=None)
        self.base = base
        self.space = space
        self.sweep = sweep
        self.journal = journal
        self.pending_baselines = list(sweep.baselines)
        self.live: dict[str, int] = {}  # Tune trial id -> Optuna trial number
        # sweep.seeds > 1: the other seeds of a configuration already suggested, run next; and each
        # Optuna trial's results so far (told once every seed has reported: their mean, or FAIL)
        self.replicas: list[dict[str, Any]] = []
        self.seed_results: dict[int, list[dict[str, Any] | None]] = {}
        self.study = open_study(sweep, journal, space)
        self.completed: CompletedTrials | None = CompletedTrials(journal.parent.parent) if sweep.reuse else None
        self.train_budget = TrainingBudget.for_sweep(getattr(sweep, "max_train_hours", 0.0), sweep.resources.gpu,
                                                     SweepLayout.at(journal.parent).search_budget_spent)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("study", None)  # reopened from the journal file; storage handles do not pickle
        state["completed"] = None  # rebuilt from the Parquet files
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.study = open_study(self.sweep, self.journal, self.space)
        self.completed = CompletedTrials(self.journal.parent.parent) if getattr(self.sweep, "reuse", False) else None

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True

    @property
    def budgets(self) -> list[Budget]:
        return self.sweep.budget_list()

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        # sweep.max_train_hours spent: no new configuration (the other seeds of a started one still run)
        if not self.replicas and self.train_budget.exhausted():
            self.train_budget.mark_spent()
            return cast(dict[str, Any], Searcher.FINISHED)  # documented by Ray, missing from its annotation
        return self._decide(self._propose(trial_id))

    def _decide(self, suggestion: dict[str, Any] | None) -> dict[str, Any] | None:
        """Attach a preset when the proposal needs no training: reused (same config hash completed in
        the results folder) or rejected (a searched configuration whose known costs already break a
        budget; baseline arms are references and always run, their rows marked infeasible if so)."""
        if suggestion is None:
            return None
        suggestion.pop(PRESET, None)
        if self.completed is not None:
            reused = self.completed.find(str(suggestion["config_hash"]))
            if reused is not None:
                return {**suggestion, PRESET: reused}
        budgets = self.budgets
        if budgets and suggestion["arm"] == "search":  # a baseline arm is the reference: run, judged, never rejected
            figures = known_costs(experiment_from_flat(suggestion["experiment"]))
            reason = rejection_reason(budgets, figures)
            if reason:
                return {**suggestion, PRESET: {"status": REJECTED, "final": figures, "reason": f"rejected before training: {reason}"}}
        return suggestion

    def _propose(self, trial_id: str) -> dict[str, Any] | None:
        if self.replicas:
            replica = self.replicas.pop(0)
            if replica["arm"] == "search":
                self.live[trial_id] = int(replica["optuna_trial_number"])
            return {**replica, RECORD_FILE: self._record_file(trial_id)}
        if self.pending_baselines:
            name = self.pending_baselines.pop(0)
            cfg = arm_config(self.base, baseline_overrides(name))
            return self._with_replicas(_suggestion(cfg, arm="baseline", optuna_number=-1, record_file=self._record_file(trial_id)))
        if self.sweep.sampler != "grid":  # the grid sampler keeps its own walk in the study's storage
            number = len(self.study.get_trials(deepcopy=False))
            self.study.sampler = make_sampler(self.sweep.sampler, trial_seed(self.sweep.sampler_seed, number), self.space)
        trial = self.study.ask()
        try:
            cfg = with_overrides(self.base, self.space.sample(trial))
        except ConfigError:
            self.study.tell(trial, state=TrialState.FAIL)
            raise
        self.live[trial_id] = trial.number
        return self._with_replicas(_suggestion(cfg, arm="search", optuna_number=trial.number, record_file=self._record_file(trial_id)))

    def _with_replicas(self, suggestion: dict[str, Any]) -> dict[str, Any]:
        """Queue the same configuration with seeds seed+1 .. seed+N-1 (sweep.seeds = N)."""
        cfg = experiment_from_flat(suggestion["experiment"])
        for offset in range(1, self.sweep.seeds):
            other = with_overrides(cfg, {"seed": cfg.seed + offset})
            self.replicas.append({**suggestion, "experiment": to_flat_dict(other), "config_hash": config_hash(other)})
        return suggestion

    def _record_file(self, trial_id: str) -> str:
        return str(SweepLayout.at(self.journal.parent).table_file(TRIALS_TABLE, trial_id))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self.train_budget.add(result)  # every trial's training counts, baselines and failures included
        number = self.live.pop(trial_id, None)
        if number is None:
            return
        results = self.seed_results.setdefault(number, [])
        results.append(self.outcome(result, error))
        if len(results) < self.sweep.seeds:
            return  # the configuration's other seeds are still running
        del self.seed_results[number]
        self._tell(number, results, trial_id)

    def outcome(self, result: dict[str, Any] | None, error: bool = False) -> dict[str, Any] | None:
        """One seed's answer: {"values": objectives or None, "pruned": bool, "constraints": {...}},
        or None for a failure. A rejected trial and one a scheduler stopped (its last result is an
        epoch, not a final report) are `pruned`; their constraints are what is known of them."""
        if not result or error:
            return None
        final = {k[len(FINAL_PREFIX):]: v for k, v in result.items() if k.startswith(FINAL_PREFIX)}
        if result.get(PRESET) == REJECTED:
            known = {str(b): b.violation(float(final[b.column])) for b in self.budgets if b.met(final.get(b.column)) is not None}
            return {"values": None, "pruned": True, "constraints": known}
        if result.get(REPORT_KIND) == EPOCH and not result.get(DIVERGED) and self.sweep.scheduler != "none":
            return {"values": None, "pruned": True, "constraints": {}}
        values = objective_values(result, self.sweep)
        if values is None:
            return None
        return {"values": values, "pruned": False, "constraints": constraints(self.budgets, final) or {}}

    def _tell(self, number: int, per_seed: list[dict[str, Any] | None], trial_id: str) -> None:
        """Tell Optuna a configuration's result over its seeds: FAIL if one failed, PRUNED if one was
        rejected or stopped, else the mean objectives; constraints: the worst seed's violation."""
        if self._state(number) != TrialState.RUNNING:
            return  # told before a driver restart (a replayed trial): the first answer stands
        outcomes = [_legacy(o) for o in per_seed]
        try:
            worst: dict[str, float] = {}
            for o in outcomes:
                for key, value in (o or {}).get("constraints", {}).items():
                    worst[key] = max(value, worst.get(key, -math.inf))
            if worst and not any(o is None for o in outcomes):
                self._set_constraints(number, worst)
            if any(o is None for o in outcomes):
                self.study.tell(number, state=TrialState.FAIL)
            elif any(o is not None and o["pruned"] for o in outcomes):
                self.study.tell(number, state=TrialState.PRUNED)
            else:
                values = mean_values([o["values"] if o is not None else None for o in outcomes])
                if values is None:
                    self.study.tell(number, state=TrialState.FAIL)
                else:
                    self.study.tell(number, values)
        except Exception as err:  # a sampler error must not fail a finished trial; its row is recorded anyway
            logger.warning("could not tell Optuna trial %s the result of %s: %s", number, trial_id, err)

    def _set_constraints(self, number: int, values: dict[str, float]) -> None:
        frozen = next(t for t in self.study.get_trials(deepcopy=False) if t.number == number)
        trial = optuna.trial.Trial(self.study, frozen._trial_id)
        for key, value in values.items():
            trial.set_constraint(key, value)

    def _state(self, number: int) -> TrialState | None:
        for trial in self.study.get_trials(deepcopy=False):
            if trial.number == number:
                return trial.state
        return None

    def close_orphans(self) -> list[int]:
        """After a restore: study trials still RUNNING that no restored Tune trial will finish (asked
        after Tune's last snapshot) are closed: told their result if the sweep's Parquet records it
        completed, else FAIL. Returns their numbers."""
        from orchestrator.parquet_store import ParquetResults  # lazy: pandas only on restore

        live = set(self.live.values()) | {int(r["optuna_trial_number"]) for r in self.replicas if r["arm"] == "search"}
        orphans = [t.number for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if t.number not in live]
        if not orphans:
            return []
        rows = ParquetResults(self.journal.parent).read_trials()
        done = rows[(rows["arm"] == "search") & rows["status"].isin(["completed", REJECTED])]
        for number in orphans:
            seeds = done[done["optuna_trial_number"] == number].to_dict("records")
            per_seed = [self.outcome({**{FINAL_PREFIX + k: v for k, v in row.items()},
                                      **({PRESET: REJECTED} if row["status"] == REJECTED else {})}) for row in seeds]
            self._tell(number, per_seed if len(per_seed) >= self.sweep.seeds else [None], f"orphan {number}")
        return orphans

    def get_state(self) -> dict:
        return {"pending_baselines": self.pending_baselines, "live": self.live, "replicas": self.replicas,
                "seed_results": {str(k): v for k, v in self.seed_results.items()}, "train_seconds": self.train_budget.spent_s}

    def set_state(self, state: dict) -> None:
        self.pending_baselines = list(state["pending_baselines"])
        self.live = dict(state["live"])
        self.replicas = list(state.get("replicas", []))
        self.seed_results = {int(k): v for k, v in state.get("seed_results", {}).items()}
        self.train_budget.spent_s = float(state.get("train_seconds", 0.0))

    def save(self, checkpoint_path: str) -> None:
        import json

        Path(checkpoint_path).write_text(json.dumps(self.get_state()))

    def restore(self, checkpoint_path: str) -> None:
        import json

        self.set_state(json.loads(Path(checkpoint_path).read_text()))
        closed = self.close_orphans()
        if closed:
            logger.warning("closed Optuna trials %s: asked before the driver stopped, never started by Tune", closed)


def _legacy(outcome: Any) -> dict[str, Any] | None:
    """An outcome saved by an older driver (a bare list of objective values) in today's form."""
    if outcome is None or isinstance(outcome, dict):
        return outcome
    return {"values": list(outcome), "pruned": False, "constraints": {}}


def mean_values(per_seed: list[list[float] | None]) -> list[float] | None:
    """The objectives Optuna is told for a configuration run with several seeds: their mean, or
    None (FAIL) when a seed failed (a configuration that diverges for some seeds is not a result)."""
    if not per_seed or any(v is None for v in per_seed):
        return None
    runs = [v for v in per_seed if v is not None]
    return [sum(column) / len(runs) for column in zip(*runs)]


def objective_values(result: dict[str, Any], sweep: SweepConfig) -> list[float] | None:
    """The objective values from a trial's final report, or None if missing or not finite."""
    values = []
    for metric, _ in sweep.objective_pairs():
        value = result.get(FINAL_PREFIX + metric)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        values.append(float(value))
    return values


def _suggestion(cfg: ExperimentConfig, arm: str, optuna_number: int, record_file: str) -> dict[str, Any]:
    return {
        "experiment": to_flat_dict(cfg),
        "arm": arm,
        "optuna_trial_number": optuna_number,
        "config_hash": config_hash(cfg),
        RECORD_FILE: record_file,  # where the trial finds its own record (a replayed finished trial)
    }
