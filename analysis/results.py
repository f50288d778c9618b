"""Results of many sweeps as one DataFrame, split into groups whose rows can be compared.

Two trials are comparable when they learned the same task (`data.name`), with the same network
(`model.name`, `model.width`), for the same training budget (the fidelity). The fidelity is the
configured epoch budget `train.epochs`, not the per-row `epochs_trained`: Early-Bird stops its search
early by design (that is the saving it reports in `train_flops_total`), so `epochs_trained` differs
between trials of one sweep that were given the same budget. A front never mixes fidelities unless
asked (`fidelity="all"`).

Notebook use::

    from analysis.results import load_results
    trials = load_results("results")            # every sweep under results/, one row per trial
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from lottery.codec import config_column_types, config_hash, experiment_from_flat
from lottery.errors import ConfigError
from lottery.methods import METHODS
from orchestrator.layout import SweepLayout, find_sweeps
from orchestrator.parquet_store import ParquetResults

GROUP_KEYS = ("data.name", "model.name", "model.width")
FIDELITY = "train.epochs"
SEEDLESS_HASH = "seedless_hash"
COMPLETED = "completed"


class MixedFidelityError(ConfigError):
    """A front was asked of rows trained for different budgets."""


def sweep_layouts(*paths: str | Path) -> list[SweepLayout]:
    """Every sweep folder named, or inside a results folder named; a path without any is an error."""
    layouts: list[SweepLayout] = []
    for raw in paths:
        path = Path(raw).resolve()
        if not path.is_dir():
            raise ConfigError(f"results folder not found: {str(path)!r}")
        found = find_sweeps(path)
        if not found:
            raise ConfigError(f"no sweep results in {str(path)!r}; expected a folder with trials/*.parquet (e.g. results/demo)")
        layouts += [f for f in found if f not in layouts]
    return layouts


def load_results(*paths: str | Path) -> pd.DataFrame:
    """One row per trial over every sweep found under `paths`, with a `seedless_hash` column. A reused
    row whose original is loaded too is left out: one training run is one sample, however many sweeps
    point at it."""
    frames = [_with_resources(layout, ParquetResults(layout.root).read_trials()) for layout in sweep_layouts(*paths)]
    trials = pd.concat([f for f in frames if not f.empty], ignore_index=True) if any(not f.empty for f in frames) else frames[0]
    return with_seedless_hash(without_duplicate_reuse(trials))


def without_duplicate_reuse(trials: pd.DataFrame) -> pd.DataFrame:
    """`trials` less the reused rows whose original (`reused_from` = SWEEP/TRIAL_ID) is among them."""
    if trials.empty or "reused_from" not in trials or not trials["reused_from"].notna().any():
        return trials
    present = set(trials["sweep"].astype(str) + "/" + trials["trial_id"].astype(str))
    return trials[~trials["reused_from"].isin(present)].reset_index(drop=True)


def _with_resources(layout: SweepLayout, trials: pd.DataFrame) -> pd.DataFrame:
    """GPUs per trial from the sweep's saved config (`resources.gpu`), for GPU-hours; NaN if unknown."""
    gpus = float("nan")
    if layout.config_file.exists():
        from orchestrator.config import load_sweep_file

        with contextlib.suppress(ConfigError):  # a sweep.yaml from an older version: GPU-hours fall back to wall hours
            gpus = float(load_sweep_file(layout.config_file)[1].resources.gpu)
    return trials.assign(**{"resources.gpu": gpus})


def load_table(table: str, *paths: str | Path) -> pd.DataFrame:
    """A long table (`epochs`, or a method's declared table such as `eb_masks`) over every sweep."""
    frames = []
    for layout in sweep_layouts(*paths):
        store = ParquetResults(layout.root)
        frames.append(store.read_epochs() if table == "epochs" else store.read_table(table))
    non_empty = [f for f in frames if not f.empty]
    return pd.concat(non_empty, ignore_index=True) if non_empty else frames[0]


def completed(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[trials["status"] == COMPLETED] if "status" in trials else trials


# --- seeds -------------------------------------------------------------------------------------

def with_seedless_hash(trials: pd.DataFrame) -> pd.DataFrame:
    """`trials` plus the hash of each row's config with the seed reset to its default: rows that
    differ only in the seed share it."""
    if trials.empty:
        return trials.assign(**{SEEDLESS_HASH: pd.Series(dtype="string")})
    types = config_column_types()
    cache: dict[str, str] = {}
    hashes = []
    for _, row in trials.iterrows():
        flat = _row_config(row, types)
        key = json.dumps(flat, sort_keys=True, default=str)
        if key not in cache:
            cache[key] = _seedless(flat)
        hashes.append(cache[key])
    return trials.assign(**{SEEDLESS_HASH: hashes})


def _row_config(row: pd.Series, types: dict[str, type]) -> dict[str, Any]:
    """The flat config of one Parquet row: its method's keys only, nulls dropped, JSON tuples decoded."""
    method = row.get("method.name")
    own = {f"method.{f.name}" for f in dataclasses.fields(METHODS.get(method).Params)} if method in METHODS else set()
    flat: dict[str, Any] = {}
    for key, kind in types.items():
        if key.startswith("method.") and key not in own:
            continue
        value = row.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            continue
        value = value.item() if hasattr(value, "item") else value
        if kind is str and isinstance(value, str) and value.startswith("["):
            value = json.loads(value)  # tuples are stored as JSON text
        elif kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)  # an int column with nulls reads back as float
        flat[key] = value
    return flat


def _seedless(flat: dict[str, Any]) -> str:
    """config_hash of the config with seed 0; a row the codec cannot rebuild (a method no longer
    registered) falls back to a hash of its non-null config values."""
    try:
        cfg = experiment_from_flat(flat)
    except (ConfigError, TypeError, KeyError):
        import hashlib

        text = json.dumps({k: v for k, v in flat.items() if k != "seed"}, sort_keys=True, default=str)
        return "raw-" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return config_hash(dataclasses.replace(cfg, seed=0))


# --- comparable groups -------------------------------------------------------------------------

def fidelities(trials: pd.DataFrame) -> list[Any]:
    """The distinct fidelities (configured epoch budgets) of the rows, sorted."""
    if FIDELITY not in trials or trials.empty:
        return []
    return sorted(trials[FIDELITY].dropna().unique().tolist())


def select_fidelity(trials: pd.DataFrame, fidelity: int | str | None = None) -> pd.DataFrame:
    """Rows of one fidelity. None: the rows must share one, else MixedFidelityError naming those found;
    "all": every row (mixing is asked for); an integer: the rows given that many epochs."""
    found = fidelities(trials)
    if fidelity == "all":
        return trials
    if fidelity is None:
        if len(found) > 1:
            shown = ", ".join(str(int(f)) for f in found)
            raise MixedFidelityError(
                f"these results mix fidelities ({FIDELITY} = {shown}); a front compares one fidelity: "
                f"pick one with --fidelity N, compare each separately with --fidelity each, or mix them with --fidelity all"
            )
        return trials
    want = int(fidelity)
    if want not in [int(f) for f in found]:
        raise ConfigError(f"invalid value {want} for --fidelity; valid: {', '.join(str(int(f)) for f in found)}, each, all")
    return trials[trials[FIDELITY] == want]


def comparable_groups(trials: pd.DataFrame, fidelity: int | str | None = None) -> Iterator[tuple[dict[str, Any], pd.DataFrame]]:
    """(dataset/model/fidelity key, rows) for each comparable group. `fidelity`: None refuses a
    dataset and model trained for several budgets (MixedFidelityError); "each" makes every budget its
    own group; "all" mixes them; an integer keeps the rows of that budget."""
    keys = [k for k in GROUP_KEYS if k in trials]
    if trials.empty:
        return
    if fidelity == "each" and FIDELITY in trials:
        keys.append(FIDELITY)
    yielded = False
    for values, group in trials.groupby(keys, dropna=False, sort=True):
        key = dict(zip(keys, values if isinstance(values, tuple) else (values,)))
        if isinstance(fidelity, int) and fidelity not in [int(f) for f in fidelities(group)]:
            continue
        chosen = select_fidelity(group, None if fidelity == "each" else fidelity)
        if chosen.empty:
            continue
        found = fidelities(chosen)
        key[FIDELITY] = "all" if len(found) > 1 else (int(found[0]) if found else None)
        yielded = True
        yield key, chosen
    if not yielded and isinstance(fidelity, int):
        select_fidelity(trials, fidelity)  # raises, naming the fidelities there are


def group_label(key: dict[str, Any]) -> str:
    """`digits / vgg11 x0.25 / 30 epochs` for titles and file names."""
    fid = key.get(FIDELITY)
    epochs = "mixed epochs" if fid == "all" else f"{fid} epochs"
    return f"{key.get('data.name')} / {key.get('model.name')} x{key.get('model.width')} / {epochs}"
