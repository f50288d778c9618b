"""The ticket-method contract: a method trains, draws and reports through a `Session`.

A method is a class registered in METHODS with its typed parameters (`Params`), the result columns
it reports beyond the common ones (`final_columns`, `epoch_columns`, `tables`) and what the front
table shows of it (`summary_columns`). `TicketMethod.run` does the preamble every trial shares
(seeding, threads, data, device, resume state) once and hands the method a typed `Trial`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import torch

from lottery.config import DataConfig, ExperimentConfig, MethodParams
from lottery.data import DataBundle, check_available, load_dataset
from lottery.errors import ConfigError
from lottery.registry import Registry
from lottery.results import COMMON_EPOCH_COLUMNS, COMMON_FINAL_COLUMNS, Column, Columns, merge
from lottery.session import Session
from lottery.training.checkpoint import PhaseCheckpoint, TrialProgress, resumed
from lottery.training.loop import resolve_device

P = TypeVar("P", bound=MethodParams)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_data(d: DataConfig, shuffle_seed: int, name: str | None = None, device: torch.device | str = "cpu") -> DataBundle:
    """The split `d` describes; `name` swaps in another dataset (spec) with the same options, e.g. a
    transfer target 'digits[5-9]' loaded like the source. In-memory splits live on `device`."""
    return load_dataset(
        name if name is not None else d.name,
        data_root=d.data_root, download=d.download, batch_size=d.batch_size, val_fraction=d.val_fraction,
        split_seed=d.split_seed, augment=d.augment, path=d.path, num_workers=d.num_workers, shuffle_seed=shuffle_seed,
        device=str(device), resident_max_mb=d.resident_max_mb,
    )


def check_data_available(d: DataConfig, name: str | None = None) -> None:
    """What `load_data` would raise for `d` (bad options, data not on disk), without loading it."""
    check_available(name if name is not None else d.name, data_root=d.data_root, download=d.download, path=d.path,
                    batch_size=d.batch_size, val_fraction=d.val_fraction, num_workers=d.num_workers)


@dataclass
class Trial(Generic[P]):
    """What every method starts from: the config with its typed parameters, the host session, the
    loaded data split, the device, and the checkpoint to resume from (None on a fresh start)."""

    cfg: ExperimentConfig
    params: P
    session: Session
    data: DataBundle
    device: torch.device
    resume: PhaseCheckpoint | None
    progress: TrialProgress


def start_trial(cfg: ExperimentConfig, params: P, session: Session) -> Trial[P]:
    """Seed, pin the thread count (trials share cores), load the data split, read the resume state."""
    seed_everything(cfg.seed)
    torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device)
    data = load_data(cfg.data, cfg.seed, device=device)
    resume = resumed(session.resume_state())
    progress = resume.progress if resume is not None else TrialProgress()
    return Trial(cfg, params, session, data, device, resume, progress)


class TicketMethod(Generic[P]):
    """Base of every registered way of drawing (or not drawing) a ticket."""

    Params: type[P]
    final_columns: ClassVar[Columns] = ()  # final metrics beyond COMMON_FINAL_COLUMNS
    epoch_columns: ClassVar[Columns] = ()  # per-epoch metrics beyond COMMON_EPOCH_COLUMNS
    # Long tables: final metric NAME holds a list of rows with these columns, written to Parquet as
    # the table NAME (one file per trial) instead of as columns of the trial's row.
    tables: ClassVar[dict[str, Columns]] = {}
    summary_columns: ClassVar[tuple[str, ...]] = ()  # trials-table columns the front table shows
    reference: ClassVar[bool] = False  # the unpruned baseline every ticket is compared with

    def run(self, cfg: ExperimentConfig, session: Session) -> dict[str, Any]:
        """Run the whole trial; returns the final metrics also given to `session.report_final`."""
        params = cfg.method
        if not isinstance(params, self.Params):
            raise ConfigError(f"method {type(self).__name__} needs {self.Params.__name__}, got {type(params).__name__}")
        return self.train(start_trial(cfg, params, session))

    def train(self, trial: Trial[P]) -> dict[str, Any]:
        """The method itself, from a started trial."""
        raise NotImplementedError

    @classmethod
    def known_costs(cls, cfg: ExperimentConfig, dense: torch.nn.Module, shape: tuple[int, int, int]) -> dict[str, float]:
        """Final columns whose value the config alone fixes, exactly, before any training (`dense` is
        the unpruned model at input `shape`): e.g. an unstructured ticket keeps the dense FLOPs. A sweep
        rejects a configuration these figures put over a budget without training it. Default: none."""
        return {}

    @classmethod
    def declared_final_columns(cls) -> dict[str, Column]:
        return merge((COMMON_FINAL_COLUMNS, cls.final_columns), f" of method {cls.__name__}")

    @classmethod
    def declared_epoch_columns(cls) -> dict[str, Column]:
        return merge((COMMON_EPOCH_COLUMNS, cls.epoch_columns), f" of method {cls.__name__}")


METHODS: Registry[type[TicketMethod[Any]]] = Registry("method")


def all_final_columns() -> dict[str, Column]:
    """Final-metric columns: the common ones, then each registered method's, in name order."""
    return merge([COMMON_FINAL_COLUMNS, *(METHODS.get(n).final_columns for n in METHODS.names())])


def all_epoch_columns() -> dict[str, Column]:
    """Per-epoch columns: the common ones, then each registered method's, in name order."""
    return merge([COMMON_EPOCH_COLUMNS, *(METHODS.get(n).epoch_columns for n in METHODS.names())])
