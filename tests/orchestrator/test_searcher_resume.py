"""A driver killed and resumed proposes what an uninterrupted one would, and leaves no RUNNING orphan.

The kill is simulated the way Tune resumes: a new TicketSearcher over the same journal file, given
the state Tune last saved (`save` / `restore`), which may predate the last `suggest`.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from optuna.trial import TrialState

from lottery.codec import config_hash
from orchestrator.config import load_configs
from orchestrator.parquet_store import ParquetResults
from orchestrator.searcher import TicketSearcher
from search_spaces import SEARCH_SPACES

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


def make(journal: Path, sampler: str) -> TicketSearcher:
    cfg, sweep = load_configs(DEMO, ["sweep.baselines=[]", f"sweep.sampler={sampler}", "sweep.sampler_seed=7"])
    return TicketSearcher(cfg, SEARCH_SPACES.get(sweep.search_space), sweep, journal)


def result(i: int) -> dict:
    return {"final_val_accuracy": 0.5 + i / 100, "final_flops": 1000 - i}


def restarted(searcher: TicketSearcher, snapshot: Path) -> TicketSearcher:
    """What Tune does after a driver kill: unpickle the searcher, then restore its last saved state."""
    again = pickle.loads(pickle.dumps(searcher))
    again.restore(str(snapshot))
    return again


@pytest.mark.parametrize("sampler", ["random", "tpe", "nsga2"])
def test_resumed_sweep_proposes_what_an_uninterrupted_one_would(tmp_path: Path, sampler: str) -> None:
    plain = make(tmp_path / "plain.journal", sampler)
    expected = []
    for i in range(6):
        expected.append(plain.suggest(f"t{i}")["config_hash"])
        plain.on_trial_complete(f"t{i}", result(i))

    killed = make(tmp_path / "killed.journal", sampler)
    got = []
    for i in range(3):
        got.append(killed.suggest(f"t{i}")["config_hash"])
        killed.on_trial_complete(f"t{i}", result(i))
    killed.save(str(tmp_path / "snapshot.json"))
    resumed = restarted(killed, tmp_path / "snapshot.json")
    for i in range(3, 6):
        got.append(resumed.suggest(f"t{i}")["config_hash"])
        resumed.on_trial_complete(f"t{i}", result(i))
    assert got == expected
    assert len(set(got)) == 6  # and nothing repeated


def test_orphans_are_closed_on_restore_and_a_recorded_result_is_kept(tmp_path: Path) -> None:
    searcher = make(tmp_path / "optuna.journal", "random")
    first = searcher.suggest("t0")
    searcher.save(str(tmp_path / "snapshot.json"))  # Tune's last snapshot knows t0 only
    searcher.suggest("t1")  # asked after the snapshot, then the driver died: t1 never ran
    third = searcher.suggest("t2")  # ran and was recorded complete, but Optuna was never told
    cfg, _ = load_configs(DEMO)
    ParquetResults(tmp_path).write_trial({
        "trial_id": "t2", "sweep": "demo", "status": "completed", "arm": "search",
        "optuna_trial_number": third["optuna_trial_number"], "val_accuracy": 0.8, "flops": 500.0,
        "config_hash": config_hash(cfg), "method": "earlybird",
    })
    resumed = restarted(searcher, tmp_path / "snapshot.json")
    states = {t.number: t.state for t in resumed.study.trials}
    assert states == {0: TrialState.RUNNING, 1: TrialState.FAIL, 2: TrialState.COMPLETE}
    assert resumed.study.trials[2].values == [0.8, 500.0]
    assert resumed.live == {"t0": first["optuna_trial_number"]}
    resumed.on_trial_complete("t0", result(0))  # the restored trial finishes normally
    resumed.on_trial_complete("t0", result(9))  # a replay is not told twice
    assert resumed.study.trials[0].state == TrialState.COMPLETE and resumed.study.trials[0].values == [0.5, 1000]
