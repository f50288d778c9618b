"""Transfer a saved ticket to the configured dataset: new head, weight mask fixed, fine-tune.

The ticket is any folder a trial saved (arch.json, weights.pt, masks.pt when unstructured): an
Early-Bird, SuperTickets or robust ticket from an earlier sweep. `data` names the target task
(e.g. `digits[5-9]` for a ticket drawn on `digits[0-4]`); its inputs must match the ticket's.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lottery.config import MethodParams, require
from lottery.errors import ConfigError
from lottery.methods.base import METHODS, TicketMethod, Trial
from lottery.methods.common import finish_trial
from lottery.results import TRANSFER_ACCURACY, TRANSFER_VAL_ACCURACY
from lottery.ticket import ARCH_FILE, WEIGHTS_FILE, load_ticket, load_ticket_masks, model_from_arch
from lottery.transfer import check_compatible, finetune_transfer


@dataclass(frozen=True)
class TransferParams(MethodParams):
    """ticket_path: a saved ticket folder; epochs: fine-tuning epochs (0 = train.epochs)."""

    name: str = "transfer"
    ticket_path: str = ""
    epochs: int = 0

    def __post_init__(self) -> None:
        require(bool(self.ticket_path), "method.ticket_path", self.ticket_path, "a ticket folder holding arch.json and weights.pt")
        require(self.epochs >= 0, "method.epochs", self.epochs, "an integer >= 0 (0 = train.epochs)")


def check_ticket_folder(path: str) -> Path:
    folder = Path(path)
    missing = [f for f in (ARCH_FILE, WEIGHTS_FILE) if not (folder / f).is_file()]
    if missing:
        raise ConfigError(f"invalid value {path!r} for method.ticket_path: {', '.join(missing)} missing; "
                          "valid: a ticket folder a trial saved (results/<sweep>/tickets/<trial>)")
    return folder


@dataclass(frozen=True)
class TicketShape:
    """The input a saved ticket was drawn on (read from its arch.json)."""

    in_channels: int
    input_size: int


@METHODS.register("transfer", help="fine-tune a saved ticket on the configured dataset: new head, mask fixed")
class TransferTicket(TicketMethod[TransferParams]):
    """Load the ticket, check the target's input shape, fine-tune it as one 'transfer' phase."""

    Params = TransferParams
    final_columns = (TRANSFER_ACCURACY, TRANSFER_VAL_ACCURACY)
    summary_columns = ("transfer_accuracy",)

    def train(self, trial: Trial[TransferParams]) -> dict[str, Any]:
        p, cfg, target, device, resume = trial.params, trial.cfg, trial.data, trial.device, trial.resume
        folder = check_ticket_folder(p.ticket_path)
        arch = json.loads((folder / ARCH_FILE).read_text())
        check_compatible(TicketShape(arch["in_channels"], arch["input_size"]), target, cfg.data.name)
        ticket = load_ticket(folder, device) if resume is None else None
        result, masks = finetune_transfer(
            model=ticket, masks=load_ticket_masks(folder), target=target,
            epochs=p.epochs or cfg.train.epochs, phase="transfer", cfg=cfg, device=device, session=trial.session,
            progress=trial.progress, resume=resume,
        )
        dense = model_from_arch({**arch, "num_classes": target.num_classes, "channels": None})
        return finish_trial(
            model=result.model, data=target, dense_model=dense, progress=trial.progress, last_metrics=result.last_metrics,
            session=trial.session, extra={"transfer_accuracy": result.last_metrics["test_accuracy"],
                                          "transfer_val_accuracy": result.last_metrics["val_accuracy"]},
            masks=masks,
        )
