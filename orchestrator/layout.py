"""Every path and name of a sweep's results: the one module that builds them.

    <results_dir>/mlflow.db                 the default MLflow store (SQLite)
    <results_dir>/mlartifacts/              its artifact root
    <results_dir>/<sweep>/sweep.yaml        the flat experiment and sweep config, as launched
    <results_dir>/<sweep>/trials/<trial>.parquet, epochs/<trial>.parquet, <table>/<trial>.parquet
    <results_dir>/<sweep>/tickets/<trial>/  each trial's ticket (arch.json, weights.pt, ...)
    <results_dir>/<sweep>/checkpoints/<trial>/  `tickets run` checkpoints
    <results_dir>/<sweep>/optuna.journal    the Optuna study
    <results_dir>/<sweep>/ray/<sweep>/      Ray Tune's experiment (unless sweep.storage_path is set)
    <results_dir>/<sweep>/*.png             the plots
    <results_dir>/<sweep>/report/           the analysis report (index.html and its figures)

All paths are absolute: Tune changes the trials' working directory.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRIALS_TABLE = "trials"
EPOCHS_TABLE = "epochs"
MLFLOW_DB = "mlflow.db"
SWEEP_FILE = "sweep.yaml"


def run_trial_id(config_hash: str) -> str:
    """The trial id of `tickets run`: one per config, so running a config again resumes it."""
    return f"run-{config_hash}"


def experiment_name(sweep_name: str) -> str:
    """The MLflow experiment of a sweep (or of a `tickets run --name`)."""
    return f"tickets/{sweep_name}"


def default_tracking_uri(results_dir: Path) -> str:
    return f"sqlite:///{Path(results_dir).resolve() / MLFLOW_DB}"


@dataclass(frozen=True)
class SweepLayout:
    """Where one sweep's files live."""

    results_dir: Path
    name: str

    @classmethod
    def of(cls, results_dir: str | Path, name: str) -> SweepLayout:
        return cls(Path(results_dir).resolve(), name)

    @classmethod
    def at(cls, sweep_dir: str | Path) -> SweepLayout:
        """The layout of an existing sweep folder (results/NAME)."""
        root = Path(sweep_dir).resolve()
        return cls(root.parent, root.name)

    @property
    def root(self) -> Path:
        return self.results_dir / self.name

    def table(self, name: str) -> Path:
        """The folder of one Parquet table (one file per trial)."""
        return self.root / name

    def table_file(self, name: str, trial_id: str) -> Path:
        return self.table(name) / f"{trial_id}.parquet"

    @property
    def trials(self) -> Path:
        return self.table(TRIALS_TABLE)

    @property
    def epochs(self) -> Path:
        return self.table(EPOCHS_TABLE)

    @property
    def tickets(self) -> Path:
        return self.root / "tickets"

    def ticket(self, trial_id: str) -> Path:
        return self.tickets / trial_id

    def checkpoint(self, trial_id: str) -> Path:
        return self.root / "checkpoints" / trial_id

    @property
    def artifacts(self) -> Path:
        return self.results_dir / "mlartifacts"

    @property
    def journal(self) -> Path:
        return self.root / "optuna.journal"

    @property
    def config_file(self) -> Path:
        return self.root / SWEEP_FILE

    @property
    def search_budget_spent(self) -> Path:
        """Written by the searcher when `sweep.max_train_hours` is spent: the sweep ended by design, not
        interrupted (what the summary, `tickets resume` and `--extend` read)."""
        return self.root / "search_budget_spent.json"

    @property
    def report(self) -> Path:
        """The analysis report folder (index.html, figures, tables) written by `tickets analyze` and each sweep."""
        return self.root / "report"

    def plot(self, name: str) -> Path:
        """A figure of the sweep, e.g. plot('pareto')."""
        return self.root / f"{name}.png"

    def ray_storage(self, storage_path: str = "") -> str:
        """Ray Tune's storage: sweep.storage_path (shared storage on a cluster: s3://, gs://, an NFS
        folder; a URI, so never a Path, which would collapse s3:// to s3:/) or a folder in the sweep."""
        return storage_path.rstrip("/") if storage_path else str(self.root / "ray")

    def ray_experiment(self, storage_path: str = "") -> str:
        return f"{self.ray_storage(storage_path)}/{self.name}"

    def tracking_uri(self, mlflow_uri: str = "") -> str:
        return mlflow_uri or default_tracking_uri(self.results_dir)

    @property
    def experiment_name(self) -> str:
        return experiment_name(self.name)


def find_sweeps(path: Path) -> list[SweepLayout]:
    """The sweep folder `path` itself, or every sweep folder directly inside it."""
    path = Path(path).resolve()
    if (path / TRIALS_TABLE).is_dir():
        return [SweepLayout.at(path)]
    return [SweepLayout.at(p) for p in sorted(path.iterdir()) if (p / TRIALS_TABLE).is_dir()]
