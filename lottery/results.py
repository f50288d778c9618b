"""Result columns: what a trial reports, declared by name and type next to the code that reports it.

Every method reports the COMMON columns (the training loop's per-epoch record and `finish_trial`'s
final metrics) and declares its own on its class (`final_columns`, `epoch_columns`, `tables`). The
results schema (Parquet), the searcher's objectives and the analysis are assembled from these
declarations, so adding a method touches only its own module; the method contract suite fails a
method that reports a metric it did not declare.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable


@dataclass(frozen=True)
class Column:
    """One result column: name, Python type (bool, int, float or str), and what it means."""

    name: str
    kind: type
    doc: str = ""


Columns = tuple[Column, ...]


def columns(*specs: tuple[str, type, str] | tuple[str, type]) -> Columns:
    """Shorthand: columns(("flops", int, "..."), ("val_accuracy", float))."""
    return tuple(Column(*spec) for spec in specs)


# Per-epoch record of every training loop (lottery/training/record.py builds it).
COMMON_EPOCH_COLUMNS: Columns = columns(
    ("epoch", int, "global epoch across phases: the fidelity of this row"),
    ("phase", str, "the training phase (search, retrain, train, round1, transfer, ...)"),
    ("phase_epoch", int, "epoch within the phase"),
    ("train_loss", float, "mean training loss of the epoch"),
    ("val_accuracy", float, "top-1 on the validation split"),
    ("test_accuracy", float, "top-1 on the test split"),
    ("lr", float, "learning rate of the epoch"),
    ("flops", int, "inference FLOPs per sample of the current (possibly shrunk) model"),
    ("params", int, "parameters of the current model"),
    ("train_flops_cumulative", float, "training FLOPs so far (3 x forward per sample seen)"),
    ("wall_time_s", float, "seconds of training so far"),
    ("nonzero_params", int, "parameters that are not zero"),
    ("sparse_flops", int, "dense FLOPs of each layer x its weight density (unstructured masks)"),
    ("weight_sparsity", float, "fraction of prunable weights masked"),
)

# Final metrics every method reports through `finish_trial` (the final, usually retrained, ticket).
COMMON_FINAL_COLUMNS: Columns = columns(
    ("val_accuracy", float, "top-1 of the final ticket on the validation split"),
    ("test_accuracy", float, "top-1 of the final ticket on the test split"),
    ("flops", int, "inference FLOPs per sample of the physically shrunk ticket (2 x MACs)"),
    ("params", int, "parameters of the shrunk ticket"),
    ("dense_flops", int, "FLOPs of the unpruned model"),
    ("dense_params", int, "parameters of the unpruned model"),
    ("flops_ratio", float, "flops / dense_flops"),
    ("nonzero_params", int, "non-zero parameters of the ticket"),
    ("sparse_flops", int, "FLOPs left after the unstructured mask (= flops without one)"),
    ("weight_sparsity", float, "achieved weight sparsity of the unstructured mask (0 without one)"),
    ("epochs_trained", int, "global epochs trained over all phases (the fidelity)"),
    ("train_flops_total", float, "training FLOPs over all phases"),
    ("wall_time_s", float, "seconds of training"),
    # inference latency of the final ticket on the trial's device (lottery/latency.py): median ms per
    # forward pass at batch 1 and 256 (interleaved repetitions), the speed-up over the unpruned model
    # at 256 timed side by side, and the device it was timed on
    ("latency_ms", float, "median ms per forward pass of the ticket at batch 1"),
    ("latency_ms_b256", float, "median ms per forward pass of the ticket at batch 256"),
    ("latency_speedup_b256", float, "unpruned model's latency / the ticket's, batch 256"),
    ("latency_device", str, "the device the latency was measured on"),
    # where the trial ran (ray_gpu_ids: trainables/placement.py, absent for `tickets run`)
    ("train_device", str, "the device the trial trained on"),
    ("ray_gpu_ids", str, "JSON list of the GPU ids Ray assigned the trial ('[]' without GPUs)"),
)


def merge(groups: Iterable[Columns], where: str = "") -> dict[str, Column]:
    """Union of column groups by name; one name with two types is a programming error."""
    merged: dict[str, Column] = {}
    for group in groups:
        for column in group:
            seen = merged.setdefault(column.name, column)
            if seen.kind is not column.kind:
                raise TypeError(f"result column {column.name!r}{where} is declared as {seen.kind.__name__} and {column.kind.__name__}")
    return merged


def undeclared(metrics: Iterable[str], declared: Iterable[Column]) -> list[str]:
    """Metric names that no column declares (what the contract suite forbids)."""
    names = {c.name for c in declared}
    return sorted(k for k in metrics if k not in names)


# Columns several methods report (each method still lists the ones it reports).
CHANNELS_KEPT = Column("channels_kept", float, "fraction of prunable channels kept by a channel ticket")
BEFORE_RETRAIN = Column("ticket_val_accuracy_before_retrain", float, "val accuracy of the drawn ticket before retraining")
SEARCH_EPOCHS = Column("search_epochs", int, "epochs of the search / dense phase before the draw")
TARGET_SPARSITY = Column("target_sparsity", float, "the weight (or channel) sparsity asked for")
TRANSFER_ACCURACY = Column("transfer_accuracy", float, "test accuracy after fine-tuning on the transfer target(s)")
TRANSFER_VAL_ACCURACY = Column("transfer_val_accuracy", float, "val accuracy after fine-tuning on the transfer target(s)")
