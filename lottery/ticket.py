"""A ticket on disk: architecture as JSON plus weights, reloadable in a fresh process without pickle."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lottery.models import create_model
from lottery.models.base import stored_arch

ARCH_FILE = "arch.json"
WEIGHTS_FILE = "weights.pt"
SUMMARY_FILE = "ticket.json"
MASKS_FILE = "masks.pt"
ARCHITECTURE_FILE = "architecture.md"  # readable architecture, for models with describe_arch() (supernets)


def model_from_arch(arch: dict[str, Any]) -> nn.Module:
    """A fresh model with the architecture a model's `arch` dict describes (its weights are new)."""
    kwargs = {k: v for k, v in arch.items() if k != "name"}
    return create_model(arch["name"], **kwargs)


def save_ticket(model: nn.Module, folder: Path, summary: dict[str, Any], masks: dict[str, torch.Tensor] | None = None) -> Path:
    """Write arch.json, weights.pt, masks.pt (unstructured tickets) and a readable ticket.json."""
    folder.mkdir(parents=True, exist_ok=True)
    if masks:
        torch.save({k: v.bool().cpu() for k, v in masks.items()}, folder / MASKS_FILE)
        summary = {**summary, "weight_sparsity_per_layer": {k: 1.0 - v.float().mean().item() for k, v in masks.items()}}
    arch = stored_arch(model)
    (folder / ARCH_FILE).write_text(json.dumps(arch, indent=2, sort_keys=True))
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, folder / WEIGHTS_FILE)
    describe = getattr(model, "describe_arch", None)
    if callable(describe):
        (folder / ARCHITECTURE_FILE).write_text(describe())
    (folder / SUMMARY_FILE).write_text(json.dumps({"arch": arch, **summary}, indent=2, sort_keys=True, default=str))
    return folder


def load_ticket(folder: Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a saved ticket through the model registry and load its weights (weights_only); the
    model comes back in eval mode, ready to evaluate (call .train() to fine-tune it)."""
    model = model_from_arch(json.loads((Path(folder) / ARCH_FILE).read_text()))
    state = torch.load(Path(folder) / WEIGHTS_FILE, map_location=device, weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval()


def load_ticket_masks(folder: Path) -> dict[str, torch.Tensor] | None:
    """The unstructured weight masks of a saved ticket, or None for a purely structured one."""
    path = Path(folder) / MASKS_FILE
    return torch.load(path, weights_only=True) if path.exists() else None
