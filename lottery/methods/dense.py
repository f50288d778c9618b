"""The dense baseline: train the unpruned model on the same recipe; every ticket is compared to it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lottery.config import ExperimentConfig, MethodParams
from lottery.methods.base import METHODS, Session
from lottery.methods.common import build_model, finish_trial, prepare_trial, resume_progress
from lottery.training.phase import run_phase


@dataclass(frozen=True)
class DenseParams(MethodParams):
    name: str = "dense"


@METHODS.register("dense", help="dense baseline: train the unpruned model (no ticket)")
class Dense:
    """Train the unpruned network for train.epochs."""

    Params = DenseParams

    def run(self, cfg: ExperimentConfig, session: Session) -> dict[str, Any]:
        data, device = prepare_trial(cfg)
        resume = session.resume_state()
        progress = resume_progress(resume)
        model = build_model(cfg, data)
        result = run_phase(
            phase="train", model=model, epochs=cfg.train.epochs, cfg=cfg, data=data, device=device,
            session=session, progress=progress, resume=resume,
        )
        return finish_trial(
            model=result.model, data=data, dense_model=result.model, progress=progress,
            last_metrics=result.last_metrics, session=session, extra={},
        )
