"""The Parquet results schema, assembled from declarations: the trials table, the epochs table and
any long table a method declares (IMP's `rounds`).

Every file of a table is written with the full schema, so `pandas.read_parquet(folder)` sees the
same columns in every file whatever the method. Metric columns are the common columns of
`lottery/results.py` plus every registered method's declared ones; config columns are the flat
config keys of the codec (`train.lr`, `method.prune_ratio`, ...). Nothing here names a method.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import pyarrow as pa

from lottery.codec import config_column_types
from lottery.methods import METHODS, all_epoch_columns, all_final_columns
from lottery.results import Column, merge

logger = logging.getLogger(__name__)

_ARROW_TYPES = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}

# Identity and bookkeeping columns of every row of every table.
ID_FIELDS = [
    pa.field("sweep", pa.string()),
    pa.field("trial_id", pa.string()),
    pa.field("config_hash", pa.string()),
    pa.field("method", pa.string()),
    pa.field("seed", pa.int64()),
]

TRIAL_STATUS_FIELDS = [
    pa.field("status", pa.string()),  # completed | failed | rejected (over a budget before training) | stopped (scheduler)
    pa.field("error", pa.string()),
    pa.field("arm", pa.string()),  # search (told to Optuna) | baseline | single (tickets run)
    pa.field("optuna_trial_number", pa.int64()),
    pa.field("mlflow_run_id", pa.string()),
    pa.field("ticket_path", pa.string()),
    pa.field("feasible", pa.bool_()),  # meets every sweep budget (null: no budgets, or not judged: failed, stopped)
    pa.field("reused_from", pa.string()),  # SWEEP/TRIAL_ID of the trial whose result this row reuses
    pa.field("origin_run_id", pa.string()),  # that trial's MLflow run
    pa.field("stopped_epoch", pa.int64()),  # the global epoch a scheduler stopped the trial at
]


def _fields(columns: dict[str, Column]) -> list[pa.Field]:
    return [pa.field(c.name, _ARROW_TYPES[c.kind]) for c in columns.values()]


def long_tables() -> dict[str, dict[str, Column]]:
    """Table name -> its columns, over every registered method (a name two methods share must agree)."""
    tables: dict[str, list[tuple[Column, ...]]] = {}
    for name in METHODS.names():
        for table, cols in METHODS.get(name).tables.items():
            tables.setdefault(table, []).append(cols)
    return {table: merge(groups, f" of table {table!r}") for table, groups in tables.items()}


def config_fields() -> list[pa.Field]:
    """Columns for the experiment config: common sections plus every registered method's params."""
    return [pa.field(key, _ARROW_TYPES[kind]) for key, kind in config_column_types().items()]


def trials_schema() -> pa.Schema:
    fixed = ID_FIELDS + TRIAL_STATUS_FIELDS + _fields(all_final_columns())
    taken = {f.name for f in fixed}
    return pa.schema(fixed + [f for f in config_fields() if f.name not in taken])


def epochs_schema() -> pa.Schema:
    return pa.schema(ID_FIELDS + _fields(all_epoch_columns()))


def table_schema(table: str) -> pa.Schema:
    return pa.schema(ID_FIELDS + _fields(long_tables()[table]))


def conform(row: dict[str, Any], schema: pa.Schema, where: str = "") -> dict[str, Any]:
    """Keep the schema's columns (missing ones null); tuples and lists become JSON text.

    A key without a column is logged, never silently lost: the method contract suite makes every
    reported metric a declared column, so this only fires for a method that skipped its contract."""
    out: dict[str, Any] = {}
    for f in schema:
        value = row.get(f.name)
        if isinstance(value, (list, tuple)):
            value = json.dumps(list(value))
        out[f.name] = value
    extra = sorted(set(row) - set(schema.names))
    if extra:
        logger.warning("results%s: no column for %s (undeclared metrics are not stored)", where, ", ".join(extra))
    return out
