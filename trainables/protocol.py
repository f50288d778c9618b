"""The report protocol of the ticket trainable: what each `tune.report` result carries.

Owned here (the producer) and read by the driver's callback and searcher, so the two sides cannot
drift apart. Every result has `report_kind`: `epoch` (the epoch's metrics as they are) or `final`
(the trial's final metrics, each prefixed with FINAL_PREFIX so Tune's bookkeeping keys and the
last epoch's values never collide with them). The final checkpoint holds the ticket folder
(TICKET_SUBDIR) and the final metrics as JSON (FINAL_FILE) for a driver that missed the report.
"""
from __future__ import annotations

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


def final_result(metrics: dict[str, Any]) -> dict[str, Any]:
    """The Tune result that carries a trial's final metrics."""
    return {**{FINAL_PREFIX + k: v for k, v in metrics.items()}, REPORT_KIND: FINAL}


def epoch_result(metrics: dict[str, Any]) -> dict[str, Any]:
    """The Tune result of one epoch."""
    return {**metrics, REPORT_KIND: EPOCH}


def final_metrics(result: dict[str, Any]) -> dict[str, Any]:
    """The final metrics of a `final` result (the inverse of `final_result`)."""
    return {k[len(FINAL_PREFIX):]: v for k, v in result.items() if k.startswith(FINAL_PREFIX)}
