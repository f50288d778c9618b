"""No trial trained twice: completed trials of every sweep in a results folder, by config hash.

The config hash covers every field of the experiment config that differs from its default (seed
included) and nothing of the sweep, so the same configuration proposed again, by this sweep or by any
other sweep writing to the same results folder, has the same hash. A reused row points at the
original trial (`reused_from` = SWEEP/TRIAL_ID, `origin_run_id` = its MLflow run), never at a copy.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lottery.methods import all_final_columns
from orchestrator.layout import TRIALS_TABLE


class CompletedTrials:
    """An index {config hash: original completed trial}, refreshed from the Parquet files it has not
    read yet (each trial row is written once, atomically, when the trial ends)."""

    def __init__(self, results_dir: Path) -> None:
        self.results_dir = Path(results_dir)
        self.by_hash: dict[str, dict[str, Any]] = {}
        self._seen: set[Path] = set()

    def refresh(self) -> None:
        for path in sorted(self.results_dir.glob(f"*/{TRIALS_TABLE}/*.parquet")):
            if path in self._seen:
                continue
            try:
                rows = pq.read_table(path).to_pylist()
            except (pa.ArrowException, OSError):
                continue  # a damaged or half-copied file: that trial is simply not reusable
            self._seen.add(path)
            for row in rows:
                if row.get("status") == "completed" and row.get("config_hash"):
                    self.by_hash.setdefault(str(row["config_hash"]), row)

    def find(self, config_hash: str) -> dict[str, Any] | None:
        """The trial's preset (see trainables.protocol.PRESET) if this config already completed, else None."""
        self.refresh()
        row = self.by_hash.get(config_hash)
        return None if row is None else reused_preset(row)


def reused_preset(row: dict[str, Any]) -> dict[str, Any]:
    """What a reused trial reports and records: the original's final metrics, ticket and identity
    (a row that is itself a reuse points further back, at the trial that was trained)."""
    from trainables.protocol import REUSED

    numeric = {name for name, column in all_final_columns().items() if column.kind in (int, float, str, bool)}
    final = {k: v for k, v in row.items() if k in numeric and v is not None}
    origin = row.get("reused_from") or f"{row['sweep']}/{row['trial_id']}"
    run_id = row.get("origin_run_id") or row.get("mlflow_run_id") or ""
    return {"status": REUSED, "final": final, "reused_from": origin, "origin_run_id": run_id,
            "ticket_path": row.get("ticket_path") or ""}
