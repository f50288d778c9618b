"""SuperTickets and search-then-prune as whole trials: regrowth, rebuild, transfer, resume, errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from lottery.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lottery.data import load_dataset
from lottery.errors import ConfigError
from lottery.methods import METHODS
from lottery.methods.search_then_prune import CRITERIA, one_shot_masks
from lottery.models import create_model
from lottery.pruning.prune_regrow import conv_weights
from lottery.pruning.weight_mask import mask_sparsity
from lottery.session import LocalSession
from lottery.ticket import WEIGHTS_FILE, load_ticket, load_ticket_masks, model_from_arch
from lottery.latency import TIMING_METRICS
from crashing_session import Crash, CrashingSession

REPO = Path(__file__).resolve().parents[2]


def config(method: str = "supertickets", data: str = "synthetic", model: str = "supernet_tiny", **params: Any) -> ExperimentConfig:
    base = {"search_epochs": 5, "retrain_epochs": 1, "target_sparsity": 0.3, "rho": 0.05, "shrink_threshold": 0.3}
    return ExperimentConfig(
        seed=3, data=DataConfig(name=data, batch_size=32), model=ModelConfig(name=model),
        train=TrainConfig(epochs=4, device="cpu", lr=0.1, lr_milestones=(0.9,)),
        method=METHODS.get(method).Params(**{**base, **params}),
    )


def run(cfg: ExperimentConfig, session: LocalSession) -> dict[str, Any]:
    return METHODS.get(cfg.method.name)().run(cfg, session)


def search_rows(session: LocalSession) -> list[dict[str, Any]]:
    return [e for e in session.epochs if e["phase"] == "search"]


@pytest.fixture(scope="module")
def regrow_runs() -> dict[bool, LocalSession]:
    sessions = {}
    for regrow in (True, False):
        sessions[regrow] = LocalSession()
        run(config(regrow=regrow), sessions[regrow])
    return sessions


def test_regrowth_happens_with_regrow_on(regrow_runs) -> None:
    rows = search_rows(regrow_runs[True])
    assert [r["regrown"] for r in rows] == [0, 0, 0, 5, 6]  # sparsity 0.1, 0.2, 0.3, then re-ranked at 0.3
    assert [r["shrunk_channels"] for r in rows] == [0, 2, 42, 33, 0]
    assert [r["rho"] for r in rows] == [0.0, 0.025, 0.05, 0.05, 0.05]  # warm-up over 2 epochs


def test_no_regrowth_with_regrow_off(regrow_runs) -> None:
    rows = search_rows(regrow_runs[False])
    assert all(r["regrown"] == 0 for r in rows)
    sparsity = [r["weight_sparsity"] for r in rows]
    assert sparsity[:3] == pytest.approx([0.1, 0.2, 0.3], abs=1e-3)
    assert all(b >= a - 1e-3 for a, b in zip(sparsity, sparsity[1:]))  # masks only shrink


def test_regrow_off_masks_only_shrink_step_by_step() -> None:
    """Checkpointed masks of consecutive epochs, sliced to the same channels: never a new weight."""
    states: list[dict[str, Any]] = []

    class Recording(LocalSession):
        def report_epoch(self, metrics, state):
            super().report_epoch(metrics, state)
            if state["phase"] == "search":
                states.append({"arch": state["arch"], "masks": {k: v.clone() for k, v in state["masks"].items()}})

    run(config(regrow=False, shrink_threshold=0.0), Recording())  # no shrinking: same shapes every epoch
    for before, after in zip(states, states[1:]):
        assert before["arch"] == after["arch"]
        for name, mask in after["masks"].items():
            assert not (mask & ~before["masks"][name]).any(), f"{name} grew a weight with regrow off"


def test_rebuilt_ticket_in_a_fresh_process_gives_the_trained_outputs(tmp_path: Path) -> None:
    session = LocalSession(ticket_out=tmp_path / "ticket")
    final = run(config(retrain_epochs=2), session)
    trained = model_from_arch(session.last_state["arch"])
    trained.load_state_dict(session.last_state["model"])
    trained.eval()
    x = torch.cat([xb for xb, _ in load_dataset("synthetic", batch_size=64).test])
    torch.save(x, tmp_path / "x.pt")
    script = (
        "import sys, torch; from lottery.ticket import load_ticket; "
        "m = load_ticket(sys.argv[1]).eval(); x = torch.load(sys.argv[2]); "
        "torch.save((m(x).detach(), m.current_arch()), sys.argv[3])"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "ticket"), str(tmp_path / "x.pt"), str(tmp_path / "y.pt")],
                   check=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": ""})
    out, arch = torch.load(tmp_path / "y.pt", weights_only=True)
    with torch.no_grad():
        assert torch.equal(out, trained(x))
    assert arch["channels"] == trained.path_widths() and sum(arch["channels"]) < 84
    text = (tmp_path / "ticket" / "architecture.md").read_text()
    assert "| block | in | out | stride | k3 | k5 | k7 |" in text and f"{sum(arch['channels'])} of 84" in text
    # the no-retrain ticket: same architecture and mask, its own (search-end) weights
    noretrain = tmp_path / "ticket" / "noretrain"
    assert load_ticket(noretrain).path_widths() == trained.path_widths()
    masks, masks_nr = load_ticket_masks(tmp_path / "ticket"), load_ticket_masks(noretrain)
    assert masks.keys() == masks_nr.keys() and all(torch.equal(masks[k], masks_nr[k]) for k in masks)
    assert final["noretrain_val_accuracy"] == search_rows(session)[-1]["val_accuracy"]


def test_transfer_keeps_the_mask_fixed(tmp_path: Path) -> None:
    session = LocalSession(ticket_out=tmp_path / "ticket")
    final = run(config(data="synthetic[0-1]", transfer_dataset="synthetic[2-3]", transfer_epochs=2), session)
    assert [e["phase"] for e in session.epochs][-2:] == ["transfer", "transfer"]
    assert final["transfer_val_accuracy"] == session.epochs[-1]["val_accuracy"]
    source_masks = load_ticket_masks(tmp_path / "ticket")
    moved_masks = load_ticket_masks(tmp_path / "ticket" / "transfer")
    assert moved_masks.keys() == source_masks.keys()  # conv weights only: the new head is never masked
    assert all(torch.equal(source_masks[k], moved_masks[k]) for k in source_masks)
    source = torch.load(tmp_path / "ticket" / WEIGHTS_FILE, weights_only=True)
    moved = torch.load(tmp_path / "ticket" / "transfer" / WEIGHTS_FILE, weights_only=True)
    changed = 0
    for name, mask in moved_masks.items():
        assert (moved[name][~mask] == 0).all(), f"{name}: a pruned weight became non-zero in fine-tuning"
        changed += int((moved[name][mask] != source[name][mask]).sum())
    assert changed > 0  # the body was fine-tuned, only within the mask
    assert load_ticket(tmp_path / "ticket" / "transfer").path_widths() == load_ticket(tmp_path / "ticket").path_widths()


def test_resume_mid_search_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    whole = LocalSession()
    final = run(config(), whole)
    with pytest.raises(Crash):
        run(config(), CrashingSession(3, checkpoint_dir=tmp_path))  # after the epoch that shrank 42 channels
    resumed = LocalSession(checkpoint_dir=tmp_path)
    again = run(config(), resumed)
    strip = lambda d: {k: v for k, v in d.items() if k not in TIMING_METRICS}  # noqa: E731
    assert [strip(e) for e in resumed.epochs] == [strip(e) for e in whole.epochs[3:]]
    assert strip(again) == strip(final)


@pytest.mark.parametrize("criterion", CRITERIA)
def test_one_shot_criteria_hit_the_target_over_conv_weights(criterion: str) -> None:
    torch.manual_seed(0)
    model = create_model("supernet_tiny", in_channels=3, num_classes=4, input_size=8)
    data = load_dataset("synthetic", batch_size=32)
    masks = one_shot_masks(criterion, model, 0.6, data, seed=1)
    assert masks.keys() == conv_weights(model).keys()
    assert mask_sparsity(masks) == pytest.approx(0.6, abs=1e-3)


def test_supernet_methods_reject_other_models_and_bad_params() -> None:
    with pytest.raises(ConfigError, match="needs a supernet model, got model.name 'vgg_tiny'; valid: supernet"):
        run(config(model="vgg_tiny"), LocalSession())
    with pytest.raises(ConfigError, match="method.criterion; valid: magnitude, random, snip, grasp, synflow"):
        config("search_then_prune", criterion="l1")
    with pytest.raises(ConfigError, match="method.prune_interval"):
        config(prune_interval=0)


def test_resume_in_the_transfer_phase_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    cfg = config(data="synthetic[0-1]", transfer_dataset="synthetic[2-3]", transfer_epochs=2, search_epochs=2)
    whole = LocalSession()
    final = run(cfg, whole)
    k = len(whole.epochs) - 1  # killed after the first transfer epoch
    assert whole.epochs[k - 1]["phase"] == "transfer"
    with pytest.raises(Crash):
        run(cfg, CrashingSession(k, checkpoint_dir=tmp_path))
    resumed = LocalSession(checkpoint_dir=tmp_path)
    again = run(cfg, resumed)
    strip = lambda d: {key: v for key, v in d.items() if key not in TIMING_METRICS}  # noqa: E731
    assert [strip(e) for e in resumed.epochs] == [strip(e) for e in whole.epochs[k:]]
    assert strip(again) == strip(final)
