"""Iterative magnitude pruning with weight rewinding (Frankle & Carbin 2019; Frankle et al. 2020).

Round 0 trains the dense network for train.epochs and, on the way, saves the rewind point: the
full state after `rewind_epoch` epochs (0 = the initialisation), or after `rewind_iteration`
optimizer steps when that is >= 0. Each round r = 1..rounds then prunes globally by magnitude to
the cumulative sparsity 1 - (1 - rate)^r (weights pruned earlier stay pruned), rewinds the
survivors to the rewind point and trains them for train.epochs with the mask fixed.

The rewind state lives in `progress.method_state`, so every phase checkpoint carries it and a
trial resumes mid-round with the same rewind point.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lottery.config import ExperimentConfig, MethodParams, require
from lottery.data import num_batches
from lottery.errors import ConfigError
from lottery.methods.base import METHODS, TicketMethod, Trial
from lottery.methods.common import build_model, finish_trial, unpruned_costs
from lottery.pruning.weight_mask import WeightMasks, imp_masks, mask_sparsity
from lottery.results import TARGET_SPARSITY, Column, columns
from lottery.training.checkpoint import TrialProgress, clone_state
from lottery.training.phase import report_also, run_phase

REWIND_KEY = "rewind_state"
ROUNDS_TABLE = "rounds"  # one row per round: each round's ticket (Parquet table `rounds`)


@dataclass(frozen=True)
class ImpParams(MethodParams):
    """rounds: pruning rounds after the dense round 0; rate: fraction of the remaining weights pruned
    per round; rewind_epoch: epochs of round 0 to rewind to (0 = init); rewind_iteration: if >= 0,
    the rewind point in optimizer steps instead (takes precedence over rewind_epoch)."""

    name: str = "imp"
    rounds: int = 3
    rate: float = 0.2
    rewind_epoch: int = 1
    rewind_iteration: int = -1
    skip_first_conv: bool = False
    skip_classifier: bool = True

    def __post_init__(self) -> None:
        require(self.rounds >= 1, "method.rounds", self.rounds, "an integer >= 1")
        require(0.0 < self.rate < 1.0, "method.rate", self.rate, "a number in (0, 1)")
        require(self.rewind_epoch >= 0, "method.rewind_epoch", self.rewind_epoch, "an integer >= 0")
        require(self.rewind_iteration >= -1, "method.rewind_iteration", self.rewind_iteration,
                 "an integer >= 0, or -1 to use method.rewind_epoch")

    def target_sparsity(self, round_: int) -> float:
        """Cumulative sparsity after `round_` pruning rounds."""
        return 1.0 - (1.0 - self.rate) ** round_


@torch.no_grad()
def rewind_(model: nn.Module, rewind_state: dict[str, torch.Tensor]) -> None:
    """Load the rewind point into `model` (run_phase then zeroes the pruned weights)."""
    model.load_state_dict(rewind_state)


def rewinds_to_init(p: ImpParams) -> bool:
    """Whether the rewind point is the initialisation (saved before round 0 trains)."""
    return p.rewind_iteration == 0 or (p.rewind_iteration < 0 and p.rewind_epoch == 0)


class RewindRecorder:
    """Counts optimizer steps in round 0 and saves the model's state at the rewind point.

    `after_backward` runs just before optimizer step n+1, when the weights are those after n
    steps (the BN running statistics have already seen batch n+1's forward pass); the end-of-epoch
    check catches a rewind point on an epoch boundary (incl. the last) exactly.
    """

    def __init__(self, p: ImpParams, progress: TrialProgress, steps_done: int) -> None:
        self.p = p
        self.progress = progress
        self.steps = steps_done

    @property
    def captured(self) -> bool:
        return REWIND_KEY in self.progress.method_state

    def capture(self, model: nn.Module) -> None:
        self.progress.method_state[REWIND_KEY] = clone_state(model)
        self.progress.method_state["rewind_point_iteration"] = self.steps

    def maybe_capture_at_step(self, model: nn.Module) -> None:
        if not self.captured and self.p.rewind_iteration >= 0 and self.steps == self.p.rewind_iteration:
            self.capture(model)

    def after_backward(self, model: nn.Module) -> None:
        self.maybe_capture_at_step(model)
        self.steps += 1

    def on_epoch_end(self, model: nn.Module, phase_epoch: int) -> tuple[dict[str, Any], dict[str, Any], bool]:
        if self.p.rewind_iteration >= 0:
            self.maybe_capture_at_step(model)
        elif not self.captured and phase_epoch + 1 == self.p.rewind_epoch:
            self.capture(model)
        return {"round": 0}, {"iterations": self.steps}, False


@METHODS.register("imp", help="iterative magnitude pruning with weight rewinding (lottery tickets)")
class IterativeMagnitudePruning(TicketMethod[ImpParams]):
    """Dense round 0, then `rounds` rounds of prune-rewind-retrain at a growing global sparsity."""

    Params = ImpParams
    final_columns = (
        Column("rounds_done", int, "IMP rounds completed (the final ticket is the last round's)"),
        TARGET_SPARSITY,
        Column("rewind_point_iteration", int, "optimizer steps of round 0 at the rewind point"),
    )
    epoch_columns = (Column("round", int, "IMP round of this epoch (0 = dense)"),)

    @classmethod
    def known_costs(cls, cfg: ExperimentConfig, dense: nn.Module, shape: tuple[int, int, int]) -> dict[str, float]:
        """Unstructured masks only: the ticket keeps the dense FLOPs and parameters."""
        return unpruned_costs(dense, shape)
    tables = {ROUNDS_TABLE: columns(
        ("round", int, "the round (0 = dense)"),
        ("val_accuracy", float, "val accuracy at the end of the round"),
        ("test_accuracy", float, "test accuracy at the end of the round"),
        ("weight_sparsity", float, "weight sparsity of the round's ticket"),
        ("epoch", int, "global epoch at the end of the round"),
    )}
    summary_columns = ("target_sparsity", "rounds_done")

    def train(self, trial: Trial[ImpParams]) -> dict[str, Any]:
        p, cfg, data, device, resume, progress = trial.params, trial.cfg, trial.data, trial.device, trial.resume, trial.progress
        epochs = cfg.train.epochs
        total_steps = epochs * num_batches(data.train)
        if p.rewind_iteration >= 0:
            require(p.rewind_iteration <= total_steps, "method.rewind_iteration", p.rewind_iteration,
                    f"an integer in [0, {total_steps}] (the optimizer steps of round 0)")
        else:
            require(p.rewind_epoch <= epochs, "method.rewind_epoch", p.rewind_epoch, f"an integer in [0, {epochs}] (train.epochs)")
        model = build_model(cfg, data)
        ms = progress.method_state
        ms.setdefault("rounds", [])

        start_round = int(resume.phase.removeprefix("round")) if resume is not None else 0
        masks: WeightMasks | None = resume.masks if resume is not None else None
        result = None
        for r in range(start_round, p.rounds + 1):
            phase_resume = resume if r == start_round else None
            if r == 0:
                steps_done = int(resume.extra.get("iterations", 0)) if resume is not None else 0
                recorder = RewindRecorder(p, progress, steps_done)
                if resume is None and rewinds_to_init(p):
                    recorder.capture(model)
                result = run_phase(
                    phase="round0", model=model, epochs=epochs, cfg=cfg, data=data, device=device, session=trial.session,
                    progress=progress, resume=phase_resume, after_backward=recorder.after_backward,
                    on_epoch_end=recorder.on_epoch_end,
                )
                if REWIND_KEY not in ms:
                    raise ConfigError("the rewind point was never reached in round 0; check method.rewind_epoch / rewind_iteration")
            else:
                if phase_resume is None:
                    masks = imp_masks(model, masks, p.target_sparsity(r), p.skip_first_conv, p.skip_classifier)
                    rewind_(model, ms[REWIND_KEY])
                result = run_phase(
                    phase=f"round{r}", model=model, epochs=epochs, cfg=cfg, data=data, device=device, session=trial.session,
                    progress=progress, resume=phase_resume, masks=masks,
                    on_epoch_end=report_also({"round": r}),
                )
            ms["rounds"] = [t for t in ms["rounds"] if t["round"] < r] + [{
                "round": r,
                "val_accuracy": float(result.last_metrics["val_accuracy"]),
                "test_accuracy": float(result.last_metrics["test_accuracy"]),
                "weight_sparsity": mask_sparsity(masks) if masks is not None else 0.0,
                "epoch": progress.global_epoch,
            }]

        if result is None:
            raise ValueError("IMP ran no round")
        extra: dict[str, Any] = {
            "rounds_done": len(ms["rounds"]) - 1,
            "target_sparsity": p.target_sparsity(p.rounds),
            "rewind_point_iteration": int(ms["rewind_point_iteration"]),
            ROUNDS_TABLE: [dict(t) for t in ms["rounds"]],
        }
        return finish_trial(
            model=result.model, data=data, dense_model=build_model(cfg, data), progress=progress,
            last_metrics=result.last_metrics, session=trial.session, extra=extra, masks=masks,
        )
