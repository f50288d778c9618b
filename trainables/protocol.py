"""The report protocol of the ticket trainable: what each `tune.report` result carries.

Owned here (the producer) and read by the driver's callback and searcher, so the two sides cannot
drift apart. Every result has `report_kind`: `epoch` (the epoch's metrics as they are) or `final`
(the trial's final metrics, each prefixed with FINAL_PREFIX so Tune's bookkeeping keys and the
last epoch's values never collide with them). The final checkpoint holds the ticket folder
(TICKET_SUBDIR) and the final metrics as JSON (FINAL_FILE) for a driver that missed the report.
"""
from __future__ import annotations

import json
from typing import Any

REPORT_KIND = "report_kind"
EPOCH = "epoch"
FINAL = "final"
# One prefix for final metrics everywhere: in Tune results and as MLflow metric names.
FINAL_PREFIX = "final_"
TICKET_SUBDIR = "ticket"
FINAL_FILE = "final.json"
DIVERGED = "diverged"  # in the last epoch result of a diverged trial: the failure reason
RECORD_FILE = "record_file"  # in a trial's config: the Parquet file that records it once finished
# In a trial's config: a result known without training (the searcher's decision): {"status":
# "rejected" | "reused", "final": final metrics, "reason" | "reused_from" + "origin_run_id" +
# "ticket_path"}. The trainable reports `final` at once and trains nothing.
PRESET = "preset"
REJECTED = "rejected"
REUSED = "reused"


# A method's long table (a list of rows) travels as JSON text under this marker: Tune's loggers skip
# text, whereas they try to chart a list (and warn that they cannot).
TABLE_PREFIX = FINAL_PREFIX + "table__"


def final_result(metrics: dict[str, Any]) -> dict[str, Any]:
    """The Tune result that carries a trial's final metrics."""
    result: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, list):
            result[TABLE_PREFIX + key] = json.dumps(value)
        else:
            result[FINAL_PREFIX + key] = value
    return {**result, REPORT_KIND: FINAL}


def epoch_result(metrics: dict[str, Any]) -> dict[str, Any]:
    """The Tune result of one epoch."""
    return {**metrics, REPORT_KIND: EPOCH}


def final_metrics(result: dict[str, Any]) -> dict[str, Any]:
    """The final metrics of a `final` result (the inverse of `final_result`)."""
    metrics: dict[str, Any] = {}
    for key, value in result.items():
        if key.startswith(TABLE_PREFIX):
            metrics[key[len(TABLE_PREFIX):]] = json.loads(value)
        elif key.startswith(FINAL_PREFIX):
            metrics[key[len(FINAL_PREFIX):]] = value
    return metrics
