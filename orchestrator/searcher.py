"""A Ray Tune searcher that drives an Optuna multi-objective study directly (ask / tell).

Why not Ray's OptunaSearch: it cannot run fixed baseline arms beside the search, it tells NaN
objectives to Optuna (which then fails), and it sets no constraints. Here the baselines are
suggested first and never told to Optuna; failed or NaN trials are told as FAIL; the study lives
in a journal file in the sweep folder so it can be reloaded and extended.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

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
from orchestrator.config import SAMPLERS, SweepConfig, baseline_overrides
from search_spaces.base import AnySpace, SearchSpace
from orchestrator.layout import TRIALS_TABLE, SweepLayout
from trainables.protocol import FINAL_PREFIX, RECORD_FILE

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
        self.seed_results: dict[int, list[list[float] | None]] = {}
        self.study = open_study(sweep, journal, space)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("study", None)  # reopened from the journal file; storage handles do not pickle
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.study = open_study(self.sweep, self.journal, self.space)

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
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
        number = self.live.pop(trial_id, None)
        if number is None:
            return
        values = objective_values(result, self.sweep) if (result and not error) else None
        results = self.seed_results.setdefault(number, [])
        results.append(values)
        if len(results) < self.sweep.seeds:
            return  # the configuration's other seeds are still running
        del self.seed_results[number]
        self._tell(number, mean_values(results), trial_id)

    def _tell(self, number: int, values: list[float] | None, trial_id: str) -> None:
        if self._state(number) != TrialState.RUNNING:
            return  # told before a driver restart (a replayed trial): the first answer stands
        try:
            if values is None:
                self.study.tell(number, state=TrialState.FAIL)
            else:
                self.study.tell(number, values)
        except Exception as err:  # a sampler error must not fail a finished trial; its row is recorded anyway
            logger.warning("could not tell Optuna trial %s the result of %s: %s", number, trial_id, err)

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
        done = rows[(rows["arm"] == "search") & (rows["status"] == "completed")]
        for number in orphans:
            seeds = done[done["optuna_trial_number"] == number].to_dict("records")
            per_seed = [objective_values({FINAL_PREFIX + k: v for k, v in row.items()}, self.sweep) for row in seeds]
            values = mean_values(per_seed) if len(per_seed) >= self.sweep.seeds else None
            self._tell(number, values, f"orphan {number}")
        return orphans

    def get_state(self) -> dict:
        return {"pending_baselines": self.pending_baselines, "live": self.live, "replicas": self.replicas,
                "seed_results": {str(k): v for k, v in self.seed_results.items()}}

    def set_state(self, state: dict) -> None:
        self.pending_baselines = list(state["pending_baselines"])
        self.live = dict(state["live"])
        self.replicas = list(state.get("replicas", []))
        self.seed_results = {int(k): v for k, v in state.get("seed_results", {}).items()}

    def save(self, checkpoint_path: str) -> None:
        import json

        Path(checkpoint_path).write_text(json.dumps(self.get_state()))

    def restore(self, checkpoint_path: str) -> None:
        import json

        self.set_state(json.loads(Path(checkpoint_path).read_text()))
        closed = self.close_orphans()
        if closed:
            logger.warning("closed Optuna trials %s: asked before the driver stopped, never started by Tune", closed)


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
