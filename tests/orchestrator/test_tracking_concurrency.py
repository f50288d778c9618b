"""Two drivers opening the same fresh SQLite MLflow store at once (e.g. two `tickets run` into one
results folder) must both succeed: MLflow creates its tables on first use and used to fail with
'table alembic_version already exists' in the slower process."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

ROOT = Path(__file__).resolve().parents[2]
OPEN_STORE = (
    "import sys; from orchestrator.tracking import MlflowTracker; "
    "t = MlflowTracker(sys.argv[1], 'tickets/shared'); print(t.experiment_id)"
)


def test_concurrent_first_use_of_a_sqlite_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    procs = [
        subprocess.Popen([sys.executable, "-c", OPEN_STORE, uri], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-2000:] for _, err in outputs]
    ids = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert len(ids) == 1  # one experiment, found by the later drivers rather than created twice
    assert [e.name for e in MlflowClient(uri).search_experiments() if e.name == "tickets/shared"] == ["tickets/shared"]
