"""The one place that defines the Parquet results schema (trials table and epochs table).

Every file of a table is written with the full schema below, so `pandas.read_parquet(folder)` sees
the same columns in every file whatever the method. Config columns are the flat config keys
(`train.lr`, `method.prune_ratio`, ...) of the experiment config and of every registered method.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pyarrow as pa

from lottery.config import ExperimentConfig, MethodParams
from lottery.methods import METHODS

# Identity and bookkeeping columns of every row.
ID_FIELDS = [
    pa.field("sweep", pa.string()),
    pa.field("trial_id", pa.string()),
    pa.field("config_hash", pa.string()),
    pa.field("method", pa.string()),
    pa.field("seed", pa.int64()),
]

# Metrics one row per trial and epoch carries (NaN / null where a method has no such value).
EPOCH_METRIC_FIELDS = [
    pa.field("epoch", pa.int64()),  # global epoch across phases: the fidelity of this row
    pa.field("phase", pa.string()),
    pa.field("phase_epoch", pa.int64()),
    pa.field("train_loss", pa.float64()),
    pa.field("val_accuracy", pa.float64()),
    pa.field("test_accuracy", pa.float64()),
    pa.field("lr", pa.float64()),
    pa.field("flops", pa.int64()),
    pa.field("params", pa.int64()),
    pa.field("train_flops_cumulative", pa.float64()),
    pa.field("wall_time_s", pa.float64()),
    pa.field("nonzero_params", pa.int64()),
    pa.field("sparse_flops", pa.int64()),  # dense FLOPs of each layer x its weight density
    pa.field("weight_sparsity", pa.float64()),
    pa.field("round", pa.int64()),  # IMP round (iterative methods), else null
    pa.field("mask_distance", pa.float64()),
    pa.field("eb_drawn", pa.bool_()),
    # --- SuperTickets / search_then_prune (supernet search phase; null elsewhere) ---
    pa.field("rho", pa.float64()),  # FLOPs-L1 coefficient this epoch (after warm-up)
    pa.field("channels_k3", pa.int64()),  # hidden channels kept per kernel path, summed over blocks
    pa.field("channels_k5", pa.int64()),
    pa.field("channels_k7", pa.int64()),
    pa.field("regrown", pa.int64()),  # weights that came back at the last pruning step
    pa.field("shrunk_channels", pa.int64()),  # channels physically removed at this epoch's shrink
]

# Final metrics of a trial (the retrained ticket for ticket methods).
FINAL_METRIC_FIELDS = [
    pa.field("val_accuracy", pa.float64()),
    pa.field("test_accuracy", pa.float64()),
    pa.field("flops", pa.int64()),
    pa.field("params", pa.int64()),
    pa.field("dense_flops", pa.int64()),
    pa.field("dense_params", pa.int64()),
    pa.field("flops_ratio", pa.float64()),
    pa.field("nonzero_params", pa.int64()),
    pa.field("sparse_flops", pa.int64()),
    pa.field("weight_sparsity", pa.float64()),
    pa.field("epochs_trained", pa.int64()),
    pa.field("train_flops_total", pa.float64()),
    pa.field("wall_time_s", pa.float64()),
    pa.field("eb_epoch", pa.int64()),
    pa.field("eb_detected", pa.bool_()),
    pa.field("search_epochs", pa.int64()),
    pa.field("channels_kept", pa.float64()),
    pa.field("ticket_val_accuracy_before_retrain", pa.float64()),
    pa.field("target_sparsity", pa.float64()),
    pa.field("rounds_done", pa.int64()),  # IMP: rounds completed (each round's numbers are in MLflow)
    # --- robust_ticket (lottery/methods/robust_ticket.py): accuracies on the source test set (clean and
    # PGD robust at method.eval_epsilon) of the source model and of the drawn ticket before fine-tuning;
    # transfer_* = mean over method.downstream of the fine-tuned ticket's test (val) accuracy, with the
    # per-dataset test accuracies as JSON text {"spec": acc} (fixed column names whatever the list);
    # vanilla_* the same for the epsilon = 0 ticket at the same sparsity; transfer_gap = robust - vanilla.
    pa.field("source_clean_accuracy", pa.float64()),
    pa.field("source_robust_accuracy", pa.float64()),
    pa.field("ticket_clean_accuracy", pa.float64()),
    pa.field("ticket_robust_accuracy", pa.float64()),
    pa.field("transfer_accuracy", pa.float64()),
    pa.field("transfer_val_accuracy", pa.float64()),
    pa.field("transfer_accuracies", pa.string()),
    pa.field("vanilla_source_clean_accuracy", pa.float64()),
    pa.field("vanilla_source_robust_accuracy", pa.float64()),
    pa.field("vanilla_ticket_clean_accuracy", pa.float64()),
    pa.field("vanilla_ticket_robust_accuracy", pa.float64()),
    pa.field("vanilla_transfer_accuracy", pa.float64()),
    pa.field("vanilla_transfer_val_accuracy", pa.float64()),
    pa.field("vanilla_transfer_accuracies", pa.string()),
    pa.field("transfer_gap", pa.float64()),
    # --- SuperTickets / search_then_prune: the ticket before retraining and the final architecture;
    # transfer_accuracy / transfer_val_accuracy (above) are the test / val accuracy after fine-tuning
    # a new head on method.transfer_dataset with the mask fixed ---
    pa.field("noretrain_val_accuracy", pa.float64()),
    pa.field("noretrain_test_accuracy", pa.float64()),
    pa.field("channels_k3", pa.int64()),
    pa.field("channels_k5", pa.int64()),
    pa.field("channels_k7", pa.int64()),
    # --- GPU speed (issue 11; lottery/latency.py, trainables/placement.py): inference latency of the final
    # ticket on the trial's device (median ms per forward pass, interleaved repetitions) at batch 1 and
    # 256, the speed-up over the unpruned model at 256 (timed side by side), the device it was timed on;
    # the device the trial trained on and the GPU ids Ray assigned it (JSON text, "[]" without GPUs) ---
    pa.field("latency_ms", pa.float64()),
    pa.field("latency_ms_b256", pa.float64()),
    pa.field("latency_speedup_b256", pa.float64()),
    pa.field("latency_device", pa.string()),
    pa.field("train_device", pa.string()),
    pa.field("ray_gpu_ids", pa.string()),
]

TRIAL_STATUS_FIELDS = [
    pa.field("status", pa.string()),  # completed | failed
    pa.field("error", pa.string()),
    pa.field("arm", pa.string()),  # search (told to Optuna) | baseline | single (tickets run)
    pa.field("optuna_trial_number", pa.int64()),
    pa.field("mlflow_run_id", pa.string()),
    pa.field("ticket_path", pa.string()),
]

_ARROW_TYPES = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}


def _config_fields(cls: type, prefix: str) -> list[pa.Field]:
    fields: list[pa.Field] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        annotation = hints[f.name]
        if annotation is MethodParams:
            continue
        if dataclasses.is_dataclass(annotation):
            fields += _config_fields(annotation, f"{prefix}{f.name}.")
        elif typing.get_origin(annotation) is tuple:
            fields.append(pa.field(f"{prefix}{f.name}", pa.string()))  # JSON text
        else:
            fields.append(pa.field(f"{prefix}{f.name}", _ARROW_TYPES[annotation]))
    return fields


def config_fields() -> list[pa.Field]:
    """Columns for the experiment config: common sections plus every registered method's params."""
    fields = _config_fields(ExperimentConfig, "")
    seen = {f.name: f for f in fields}
    for name in METHODS.names():
        for f in _config_fields(METHODS.get(name).Params, "method."):
            if f.name in seen and seen[f.name].type != f.type:
                raise TypeError(f"method param {f.name} has two types: {seen[f.name].type} and {f.type}")
            if f.name not in seen:
                seen[f.name] = f
                fields.append(f)
    return fields


def trials_schema() -> pa.Schema:
    fixed = ID_FIELDS + TRIAL_STATUS_FIELDS + FINAL_METRIC_FIELDS
    taken = {f.name for f in fixed}
    return pa.schema(fixed + [f for f in config_fields() if f.name not in taken])


def epochs_schema() -> pa.Schema:
    return pa.schema(ID_FIELDS + EPOCH_METRIC_FIELDS)


def conform(row: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    """Keep the schema's columns only (missing ones null); tuples become JSON text."""
    import json

    out: dict[str, Any] = {}
    for f in schema:
        value = row.get(f.name)
        if isinstance(value, (list, tuple)):
            value = json.dumps(list(value))
        out[f.name] = value
    return out
