"""Robust tickets transfer better (algorithms.md section 3): source adversarial training, draw, transfer.

One trial runs the pipeline as stages, each a reported, checkpointed phase:
  1. "source": train on the source data with PGD / FGSM-RS adversarial training at `epsilon`
     (0 = vanilla), or load the model `source_checkpoint` names;
  2. "draw": the ticket at `sparsity` from the source weights: one-shot magnitude pruning (global
     unstructured, or per-layer channels by filter L2 norm) or IMP ("draw_roundR" phases: prune,
     rewind to the source weights, adversarially retrain with the mask fixed); the ticket is the
     source weights under the final mask;
  3. "transfer:<dataset>": fine-tune the ticket with a new head and its mask fixed, per downstream.
With `vanilla_reference` the same pipeline first runs at epsilon = 0 (phases prefixed "vanilla_")
so each row carries the vanilla ticket's transfer accuracy at the same sparsity and the gap.

Finished stages are kept in `progress.method_state` (source accuracies and weights, the ticket,
per-downstream accuracies), which every checkpoint carries, so a restarted trial skips them. Each
fresh stage re-seeds torch and the train stream, so a stage starts from the same random state
whether or not the stages before it ran in this process (and vanilla and robust sources share
their initialisation and batch order: only epsilon differs).

The trial's saved ticket and its val/test accuracy are the robust ticket fine-tuned on the LAST
downstream dataset (the trial's last phase); `transfer_accuracy` is the mean test accuracy over
all downstream datasets.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lottery.adversarial import ATTACKS, InputSpace, robust_accuracy, train_attack
from lottery.config import MethodParams, require
from lottery.data import DATASETS, DataBundle, parse_dataset_spec
from lottery.errors import ConfigError
from lottery.methods.base import METHODS, TicketMethod, Trial, load_data
from lottery.methods.common import build_model, finish_trial, input_shape
from lottery.pruning.channel_mask import kept_fraction
from lottery.pruning.channel_scores import filter_norm_scores
from lottery.pruning.one_shot import channel_ticket, check_pruning_params
from lottery.pruning.weight_mask import WeightMasks, apply_weight_masks_, imp_masks
from lottery.results import CHANNELS_KEPT, TARGET_SPARSITY, TRANSFER_ACCURACY, TRANSFER_VAL_ACCURACY, Column, columns
from lottery.training.checkpoint import PhaseCheckpoint, clone_state
from lottery.ticket import ARCH_FILE, WEIGHTS_FILE, load_ticket, model_from_arch
from lottery.training.loop import evaluate
from lottery.training.phase import report_also, run_phase
from lottery.models.base import live_arch
from lottery.transfer import check_compatible, finetune_transfer

DRAWS = ("magnitude", "imp")
VANILLA = "vanilla_"


@dataclass(frozen=True)
class RobustTicketParams(MethodParams):
    """epsilon / attack_step_size / eval_epsilon: l_inf radii in raw pixel units (8/255 on CIFAR);
    attack: pgd | fgsm (FGSM with random start); attack_step_size 0: 2.5 eps/steps (pgd), 1.25 eps (fgsm);
    source_checkpoint: a saved ticket folder (arch.json + weights.pt) used as the source instead of
    training one ("" = train it); draw: magnitude (one-shot) | imp (imp_rounds rounds, each of
    draw_epochs, 0 = train.epochs; unstructured only); downstream: dataset specs to fine-tune on for
    finetune_epochs at finetune_lr (0 = train.lr); eval_pgd_steps: PGD steps of robust evaluation."""

    name: str = "robust_ticket"
    epsilon: float = 0.0
    attack: str = "pgd"
    attack_steps: int = 3
    attack_step_size: float = 0.0
    source_checkpoint: str = ""
    draw: str = "magnitude"
    pattern: str = "unstructured"
    sparsity: float = 0.5
    imp_rounds: int = 2
    draw_epochs: int = 0
    skip_first_conv: bool = False
    skip_classifier: bool = True
    downstream: tuple[str, ...] = ("digits[5-9]",)
    finetune_epochs: int = 5
    finetune_lr: float = 0.0
    eval_epsilon: float = 8 / 255
    eval_pgd_steps: int = 20
    vanilla_reference: bool = True

    def __post_init__(self) -> None:
        check_pruning_params(self.sparsity, self.pattern)
        require(self.epsilon >= 0, "method.epsilon", self.epsilon, "a number >= 0 (raw pixel units; 0 = vanilla)")
        require(self.attack in ATTACKS, "method.attack", self.attack, ", ".join(ATTACKS))
        require(self.attack_steps >= 1, "method.attack_steps", self.attack_steps, "an integer >= 1")
        require(self.attack_step_size >= 0, "method.attack_step_size", self.attack_step_size, "a number >= 0 (0 = default)")
        require(self.draw in DRAWS, "method.draw", self.draw, ", ".join(DRAWS))
        require(self.draw == "magnitude" or self.pattern == "unstructured", "method.pattern", self.pattern,
                 "unstructured with method.draw=imp (IMP prunes weights; use draw=magnitude for channels)")
        require(self.imp_rounds >= 1, "method.imp_rounds", self.imp_rounds, "an integer >= 1")
        require(self.draw_epochs >= 0, "method.draw_epochs", self.draw_epochs, "an integer >= 0 (0 = train.epochs)")
        require(self.finetune_epochs >= 1, "method.finetune_epochs", self.finetune_epochs, "an integer >= 1")
        require(self.finetune_lr >= 0, "method.finetune_lr", self.finetune_lr, "a number >= 0 (0 = train.lr)")
        require(self.eval_epsilon >= 0, "method.eval_epsilon", self.eval_epsilon, "a number >= 0 (raw pixel units)")
        require(self.eval_pgd_steps >= 1, "method.eval_pgd_steps", self.eval_pgd_steps, "an integer >= 1")
        require(len(self.downstream) >= 1 and len(set(self.downstream)) == len(self.downstream), "method.downstream",
                 self.downstream, "a non-empty list of distinct dataset specs, e.g. ['digits[5-9]', 'digits_invert[5-9]']")
        for spec in self.downstream:
            DATASETS.get(parse_dataset_spec(spec)[0])
        if self.source_checkpoint:
            folder = Path(self.source_checkpoint)
            require((folder / ARCH_FILE).is_file() and (folder / WEIGHTS_FILE).is_file(), "method.source_checkpoint",
                     self.source_checkpoint, f"a saved ticket folder holding {ARCH_FILE} and {WEIGHTS_FILE} "
                     "(e.g. results/SWEEP/tickets/TRIAL of a dense run), or '' to train the source")

    def imp_sparsity(self, round_: int) -> float:
        """Cumulative sparsity after `round_` of imp_rounds prunings (the last one lands on `sparsity`)."""
        return 1.0 - (1.0 - self.sparsity) ** (round_ / self.imp_rounds)


def load_source(folder: str, data: DataBundle) -> nn.Module:
    """The user's source model; it must take the source data's inputs and predict its classes."""
    model = load_ticket(Path(folder))
    try:
        with torch.no_grad():
            out = model.eval()(torch.zeros(1, *input_shape(data)))
    except RuntimeError as err:
        raise ConfigError(f"method.source_checkpoint {folder!r} does not accept {input_shape(data)} inputs of the source data: {err}") from err
    if out.shape[1] != data.num_classes:
        raise ConfigError(f"method.source_checkpoint {folder!r} predicts {out.shape[1]} classes but the source data "
                          f"has {data.num_classes}; valid: a model trained on data.name")
    return model


def restart_rng(data: DataBundle, seed: int) -> None:
    """The random state of a fresh start (seeded torch, train stream at its first epoch's order)."""
    torch.manual_seed(seed)
    generator = getattr(data.train, "generator", None)
    if isinstance(generator, torch.Generator):
        generator.manual_seed(seed)


class Pipeline:
    """The three stages for one robustness strength; `prefix` names its phases and state keys."""

    def __init__(self, trial: Trial[RobustTicketParams], prefix: str, epsilon: float) -> None:
        self.cfg, self.p = trial.cfg, trial.params
        self.session, self.progress, self.resume = trial.session, trial.progress, trial.resume
        self.data, self.device, self.prefix = trial.data, trial.device, prefix
        self.space = InputSpace.of(trial.data)
        self.attack = train_attack(self.space, self.p.attack, epsilon, self.p.attack_steps, self.p.attack_step_size)
        self.ms = trial.progress.method_state

    def _resume_for(self, phase: str) -> PhaseCheckpoint | None:
        return self.resume if self.resume is not None and self.resume.phase == phase else None

    def _accuracies(self, model: nn.Module) -> dict[str, float]:
        """Clean and PGD robust test accuracy on the source data."""
        p = self.p
        return {
            "clean": evaluate(model, self.data.test, self.device),
            "robust": robust_accuracy(model, self.data.test, self.device, self.space, p.eval_epsilon, p.eval_pgd_steps),
        }

    def source(self, checkpoint: str) -> None:
        """Stage 1: the trained (or loaded) source model, its weights and accuracies into method_state."""
        key = self.prefix + "source"
        if key in self.ms:
            return
        if checkpoint:
            model = load_source(checkpoint, self.data).to(self.device)
        else:
            restart_rng(self.data, self.cfg.seed)
            model = build_model(self.cfg, self.data)
            model = run_phase(
                phase=key, model=model, epochs=self.cfg.train.epochs, cfg=self.cfg, data=self.data, device=self.device,
                session=self.session, progress=self.progress, resume=self._resume_for(key), perturb=self.attack,
            ).model
        self.ms[key] = self._accuracies(model)
        self.ms[key + "_model"] = {"arch": live_arch(model), "state": clone_state(model)}

    def draw(self) -> None:
        """Stage 2: the ticket (source weights under the drawn mask) and its own accuracies."""
        key = self.prefix + "ticket"
        if key in self.ms:
            return
        saved = self.ms[self.prefix + "source_model"]
        source = model_from_arch(saved["arch"]).to(self.device)
        source.load_state_dict(saved["state"])
        p, shape = self.p, input_shape(self.data)
        masks: WeightMasks | None = None
        facts: dict[str, float] = {}
        if p.pattern == "channel":
            ticket, channel_masks = channel_ticket(source, filter_norm_scores(source, shape), p.sparsity, p.skip_first_conv, shape)
            facts["channels_kept"] = kept_fraction(channel_masks)
        else:
            masks = self._imp_masks(source, saved["state"]) if p.draw == "imp" else imp_masks(
                source, None, p.sparsity, p.skip_first_conv, p.skip_classifier)
            ticket = source
            ticket.load_state_dict(saved["state"])
            apply_weight_masks_(ticket, masks)
        self.ms[key] = {"arch": live_arch(ticket), "state": clone_state(ticket), "masks": masks,
                        **self._accuracies(ticket), **facts}
        del self.ms[self.prefix + "source_model"]  # the ticket is all later stages need

    def _imp_masks(self, model: nn.Module, source_state: dict[str, torch.Tensor]) -> WeightMasks:
        """IMP with rewinding to the source weights: prune to the round's sparsity, rewind, retrain
        adversarially with the mask fixed; after imp_rounds prunings the mask is the ticket's."""
        p = self.p
        prefix = self.prefix + "draw_round"
        resuming = self.resume is not None and self.resume.phase.startswith(prefix)
        start = int(self.resume.phase.removeprefix(prefix)) if self.resume is not None and resuming else 1
        masks = self.resume.masks if self.resume is not None and resuming else None
        for r in range(start, p.imp_rounds):
            phase_resume = self._resume_for(f"{prefix}{r}")
            if phase_resume is None:
                masks = imp_masks(model, masks, p.imp_sparsity(r), p.skip_first_conv, p.skip_classifier)
                model.load_state_dict(source_state)
                restart_rng(self.data, self.cfg.seed + r)
            model = run_phase(
                phase=f"{prefix}{r}", model=model, epochs=p.draw_epochs or self.cfg.train.epochs, cfg=self.cfg,
                data=self.data, device=self.device, session=self.session, progress=self.progress, resume=phase_resume,
                masks=masks, perturb=self.attack, on_epoch_end=report_also({"round": r}),
            ).model
        return imp_masks(model, masks, p.sparsity, p.skip_first_conv, p.skip_classifier)

    def transfer(self) -> tuple[Any, WeightMasks | None, DataBundle] | None:
        """Stage 3: fine-tune the ticket on each downstream dataset not finished yet.

        Returns the last fine-tuning run (result, masks, target data), or None when all were done."""
        p, done = self.p, self.ms.setdefault(self.prefix + "transfer", {})
        ticket_cfg = self.ms[self.prefix + "ticket"]
        tuned_cfg = replace(self.cfg, train=replace(self.cfg.train, lr=p.finetune_lr or self.cfg.train.lr))
        last = None
        for spec in p.downstream:
            if spec in done:
                continue
            target = load_data(self.cfg.data, self.cfg.seed, name=spec, device=self.device)
            check_compatible(self.data, target, spec)
            ticket = model_from_arch(ticket_cfg["arch"]).to(self.device)
            ticket.load_state_dict(ticket_cfg["state"])
            phase = f"{self.prefix}transfer:{spec}"
            phase_resume = self._resume_for(phase)
            if phase_resume is None:
                restart_rng(target, self.cfg.seed)
            masks = {k: v.to(self.device) for k, v in ticket_cfg["masks"].items()} if ticket_cfg["masks"] is not None else None
            result, masks = finetune_transfer(
                model=ticket, masks=masks, target=target, epochs=p.finetune_epochs, phase=phase,
                cfg=tuned_cfg, device=self.device, session=self.session, progress=self.progress, resume=phase_resume,
            )
            done[spec] = {"val": float(result.last_metrics["val_accuracy"]), "test": float(result.last_metrics["test_accuracy"])}
            last = (result, masks, target)
        return last

    def summary(self, prefix: str) -> dict[str, Any]:
        """This pipeline's final columns, named with `prefix` ('' robust, 'vanilla_' reference)."""
        source, ticket, done = (self.ms[self.prefix + k] for k in ("source", "ticket", "transfer"))
        tests = {spec: done[spec]["test"] for spec in self.p.downstream}
        return {
            f"{prefix}source_clean_accuracy": source["clean"],
            f"{prefix}source_robust_accuracy": source["robust"],
            f"{prefix}ticket_clean_accuracy": ticket["clean"],
            f"{prefix}ticket_robust_accuracy": ticket["robust"],
            f"{prefix}transfer_accuracy": sum(tests.values()) / len(tests),
            f"{prefix}transfer_val_accuracy": sum(done[s]["val"] for s in self.p.downstream) / len(tests),
            f"{prefix}transfer_accuracies": json.dumps(tests),
        }


def _pipeline_columns(prefix: str) -> tuple[Column, ...]:
    """The columns `Pipeline.summary(prefix)` reports."""
    return (
        Column(f"{prefix}source_clean_accuracy", float, "clean test accuracy of the source model (source task)"),
        Column(f"{prefix}source_robust_accuracy", float, "PGD robust test accuracy of the source model at eval_epsilon"),
        Column(f"{prefix}ticket_clean_accuracy", float, "clean test accuracy of the drawn ticket before fine-tuning"),
        Column(f"{prefix}ticket_robust_accuracy", float, "PGD robust test accuracy of the drawn ticket"),
        TRANSFER_ACCURACY if not prefix else Column(f"{prefix}transfer_accuracy", float, "vanilla ticket's mean downstream test accuracy"),
        TRANSFER_VAL_ACCURACY if not prefix else Column(f"{prefix}transfer_val_accuracy", float, "vanilla ticket's mean downstream val accuracy"),
        Column(f"{prefix}transfer_accuracies", str, "per-downstream test accuracies as JSON text {spec: accuracy}"),
    )


@METHODS.register("robust_ticket", help="adversarially trained source -> ticket (magnitude / IMP) -> fine-tuned downstream, vs vanilla")
class RobustTicket(TicketMethod[RobustTicketParams]):
    """Source training at robustness `epsilon`, a drawn ticket, downstream fine-tuning; plus the
    epsilon = 0 reference at the same sparsity."""

    Params = RobustTicketParams
    final_columns = (
        TARGET_SPARSITY, CHANNELS_KEPT, *_pipeline_columns(""), *_pipeline_columns(VANILLA),
        Column("transfer_gap", float, "transfer_accuracy - vanilla_transfer_accuracy"),
    )
    epoch_columns = columns(("round", int, "IMP draw round (draw=imp)"))
    summary_columns = ("method.pattern", "method.sparsity", "method.epsilon", "transfer_accuracy", "transfer_gap")

    def train(self, trial: Trial[RobustTicketParams]) -> dict[str, Any]:
        p, cfg, data, progress = trial.params, trial.cfg, trial.data, trial.progress
        for spec in p.downstream:  # a missing or incompatible target fails now, not after source training
            check_compatible(data, load_data(cfg.data, cfg.seed, name=spec), spec)
        robust = Pipeline(trial, "", p.epsilon)
        vanilla = None
        if p.vanilla_reference and p.epsilon > 0:  # at epsilon 0 the run itself is the vanilla ticket
            vanilla = Pipeline(trial, VANILLA, 0.0)
            vanilla.source(checkpoint="")
            vanilla.draw()
            vanilla.transfer()
        robust.source(p.source_checkpoint)
        robust.draw()
        last = robust.transfer()
        if last is None:
            raise RuntimeError("no downstream stage ran: the last one is always re-entered from its checkpoint")
        result, masks, target = last
        extra: dict[str, Any] = {"target_sparsity": p.sparsity, **robust.summary("")}
        ticket = progress.method_state["ticket"]
        if p.pattern == "channel":
            extra["channels_kept"] = ticket["channels_kept"]
        if p.vanilla_reference:
            extra.update((vanilla or robust).summary(VANILLA))
            extra["transfer_gap"] = extra["transfer_accuracy"] - extra["vanilla_transfer_accuracy"]
        return finish_trial(
            model=result.model, data=target, dense_model=build_model(cfg, target), progress=progress,
            last_metrics=result.last_metrics, session=trial.session, extra=extra, masks=masks,
        )
