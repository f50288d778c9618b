"""A ticket on disk: architecture as JSON plus weights, reloadable in a fresh process without pickle."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lottery.models import create_model

ARCH_FILE = "arch.json"
WEIGHTS_FILE = "weights.pt"
SUMMARY_FILE = "ticket.json"


def model_from_arch(arch: dict[str, Any]) -> nn.Module:
    """A fresh model with the architecture a model's `arch` dict describes (its weights are new)."""
    kwargs = {k: v for k, v in arch.items() if k != "name"}
    return create_model(arch["name"], **kwargs)


def save_ticket(model: nn.Module, folder: Path, summary: dict[str, Any]) -> Path:
    """Write arch.json, weights.pt and a readable ticket.json (metrics, channels) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    arch = dict(model.arch)  # type: ignore[arg-type]
    (folder / ARCH_FILE).write_text(json.dumps(arch, indent=2, sort_keys=True))
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, folder / WEIGHTS_FILE)
    (folder / SUMMARY_FILE).write_text(json.dumps({"arch": arch, **summary}, indent=2, sort_keys=True, default=str))
    return folder


def load_ticket(folder: Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a saved ticket through the model registry and load its weights (weights_only)."""
    model = model_from_arch(json.loads((Path(folder) / ARCH_FILE).read_text()))
    state = torch.load(Path(folder) / WEIGHTS_FILE, map_location=device, weights_only=True)
    model.load_state_dict(state)
    return model.to(device)
