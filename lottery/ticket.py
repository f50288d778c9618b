"""A ticket on disk: architecture as JSON plus weights, reloadable in a fresh process without pickle."""
from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lottery.damaged import describe
from lottery.errors import ConfigError
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
    model comes back in eval mode, ready to evaluate (call .train() to fine-tune it).

    A damaged ticket, or one whose files hold anything but tensors, is a ConfigError naming the file:
    tickets are data, never unpickled as code.
    """
    arch_file = Path(folder) / ARCH_FILE
    try:
        arch = json.loads(arch_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"ticket {str(folder)!r}: cannot read {ARCH_FILE} ({describe(err)})") from None
    if not isinstance(arch, dict) or "name" not in arch:
        raise ConfigError(f"ticket {str(folder)!r}: {ARCH_FILE} is not a model architecture (no 'name')")
    model = model_from_arch(arch)
    model.load_state_dict(_load_tensors(Path(folder) / WEIGHTS_FILE, device))
    return model.to(device).eval()


def load_ticket_masks(folder: Path) -> dict[str, torch.Tensor] | None:
    """The unstructured weight masks of a saved ticket, or None for a purely structured one."""
    path = Path(folder) / MASKS_FILE
    return _load_tensors(path, "cpu") if path.exists() else None


def _load_tensors(path: Path, device: str | torch.device) -> dict[str, torch.Tensor]:
    """A {name: tensor} file loaded weights-only; anything else is refused with one line."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:  # torch's weights-only refusal (its advice to disable it is not ours)
        raise ConfigError(f"ticket file {str(path)!r} holds objects other than tensors; refused "
                          "(tickets are loaded weights-only, never as pickled code)") from None
    except Exception as err:  # noqa: BLE001  (truncated zip, EOF, OS errors)
        raise ConfigError(f"ticket file {str(path)!r} is damaged ({describe(err)})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"ticket file {str(path)!r} is not a mapping of tensor names to tensors")
    return state
