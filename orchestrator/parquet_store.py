"""Parquet results of one sweep: `trials/<trial_id>.parquet` and `epochs/<trial_id>.parquet`.

One file per trial, keyed by trial id and replaced atomically, so a rewrite never duplicates rows
and a crash never leaves half a file. `pandas.read_parquet(folder)` reads a whole table.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from lottery.damaged import warn_damaged
from orchestrator.layout import EPOCHS_TABLE, TRIALS_TABLE, SweepLayout
from orchestrator.results_schema import conform, epochs_schema, table_schema, trials_schema


def write_table_atomic(rows: list[dict[str, Any]], schema: pa.Schema, path: Path) -> None:
    """Write rows with exactly `schema` to a temp file beside `path`, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    where = f" {path.parent.name}/{path.name}"
    table = pa.Table.from_pylist([conform(r, schema, where) for r in rows], schema=schema)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class ParquetResults:
    """Writer and reader of one sweep's two tables."""

    def __init__(self, sweep_dir: Path) -> None:
        self.layout = SweepLayout.at(sweep_dir)
        self.sweep_dir = self.layout.root
        self.trials_dir = self.layout.trials
        self.epochs_dir = self.layout.epochs

    def write_trial(self, row: dict[str, Any]) -> Path:
        path = self.layout.table_file(TRIALS_TABLE, row["trial_id"])
        write_table_atomic([row], trials_schema(), path)
        return path

    def write_epochs(self, trial_id: str, rows: list[dict[str, Any]]) -> Path:
        path = self.layout.table_file(EPOCHS_TABLE, trial_id)
        write_table_atomic(rows, epochs_schema(), path)
        return path

    def write_table(self, table: str, trial_id: str, rows: list[dict[str, Any]]) -> Path:
        """A method's long table (e.g. IMP's `rounds`): one file per trial, like the epochs."""
        path = self.layout.table_file(table, trial_id)
        write_table_atomic(rows, table_schema(table), path)
        return path

    def read_table(self, table: str) -> pd.DataFrame:
        return _read(self.layout.table(table), table_schema(table))

    def read_trial(self, trial_id: str) -> dict[str, Any] | None:
        """The trial's row if one was written (by this driver or one before it), else None.
        A damaged file counts as no row (named once on stderr): the trial's next record replaces it."""
        rows = _read_rows(self.layout.table_file(TRIALS_TABLE, trial_id), "trial row; it counts as not recorded")
        return rows[0] if rows else None

    def read_trial_epochs(self, trial_id: str) -> list[dict[str, Any]]:
        """The trial's epoch rows; a damaged file counts as none (the resumed trial rewrites it)."""
        return _read_rows(self.layout.table_file(EPOCHS_TABLE, trial_id), "epoch rows; they count as not recorded")

    def has_results(self) -> bool:
        return self.trials_dir.is_dir() and any(self.trials_dir.glob("*.parquet"))

    def read_trials(self) -> pd.DataFrame:
        return _read(self.trials_dir, trials_schema())

    def read_epochs(self) -> pd.DataFrame:
        return _read(self.epochs_dir, epochs_schema())


def _read(folder: Path, schema: pa.Schema) -> pd.DataFrame:
    """The whole table; files that cannot be read are left out, each named once on stderr."""
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        return schema.empty_table().to_pandas()
    try:
        return ds.dataset(str(folder), schema=schema, format="parquet").to_table().to_pandas()
    except (pa.ArrowException, OSError):
        pass  # some file is damaged: read them one by one
    tables = []
    for path in sorted(folder.glob("*.parquet")):
        try:
            tables.append(ds.dataset(str(path), schema=schema, format="parquet").to_table())
        except (pa.ArrowException, OSError) as err:
            warn_damaged("results file", path, err, f"trial {path.stem} is left out of this table")
    return pa.concat_tables(tables).to_pandas() if tables else schema.empty_table().to_pandas()


def _read_rows(path: Path, consequence: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as err:
        warn_damaged("results file", path, err, f"trial {path.stem}'s {consequence}")
        return []
