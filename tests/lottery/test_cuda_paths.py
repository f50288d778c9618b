"""The CUDA-only step paths (captured CUDA graph, torch.compile, bf16 + channels_last on a GPU) against
plain fp32 eager on the same batches. Skipped where no CUDA device exists (CI); run on the GPU machine
with `python -m pytest tests/lottery/test_cuda_paths.py`."""
from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import torch

from lottery.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lottery.methods import METHODS
from lottery.methods.earlybird import EarlyBirdParams
from lottery.models import create_model
from lottery.pruning.weight_mask import apply_weight_masks_
from lottery.session import LocalSession
from lottery.ticket import load_ticket
from lottery.training.loop import set_lr, train_one_epoch
from lottery.training.speed import StepOptions, prepare_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = torch.device("cuda")


class Batches(list):
    """A list of batches with the `batch_size` the captured step uses to tell full from partial batches."""

    def __init__(self, items: list, batch_size: int) -> None:
        super().__init__(items)
        self.batch_size = batch_size


def batches(n_full: int, partial: int, batch: int = 32, seed: int = 0) -> Batches:
    gen = torch.Generator().manual_seed(seed)
    sizes = [batch] * n_full + ([partial] if partial else [])
    items = [(torch.randn(s, 3, 16, 16, generator=gen).to(CUDA), torch.randint(0, 10, (s,), generator=gen).to(CUDA)) for s in sizes]
    return Batches(items, batch)


def pair(model_name: str = "vgg_tiny") -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    model = create_model(model_name, in_channels=3, num_classes=10, input_size=16).to(CUDA)
    return model, copy.deepcopy(model)


def sgd(model: torch.nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)


def max_weight_gap(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max(float((pa - pb).abs().max()) for pa, pb in zip(a.state_dict().values(), b.state_dict().values()) if pa.is_floating_point())


def test_captured_graph_trains_like_eager_fp32_across_lr_change_and_partial_batch() -> None:
    eager, graphed = pair()
    opt_e, opt_g = sgd(eager), sgd(graphed)
    data = batches(5, 7)
    graph = StepOptions(cuda_graph=True)
    for lr in (0.05, 0.05, 0.005):  # the third epoch re-captures with the new lr
        set_lr(opt_e, lr)
        set_lr(opt_g, lr)
        loss_e, seen_e = train_one_epoch(eager, data, opt_e, CUDA)
        loss_g, seen_g = train_one_epoch(graphed, data, opt_g, CUDA, opts=graph)
        assert seen_e == seen_g == 5 * 32 + 7
        assert loss_g == pytest.approx(loss_e, rel=1e-3)
    assert max_weight_gap(eager, graphed) < 1e-3
    assert max_weight_gap(eager, pair()[0]) > 1e-2  # both really trained


def test_captured_graph_keeps_weight_masks_applied() -> None:
    _, model = pair()
    masks = {name: (torch.rand_like(p) > 0.5).float() for name, p in model.named_parameters() if p.dim() == 4}
    apply_weight_masks_(model, masks)
    opt = sgd(model)
    train_one_epoch(model, batches(4, 5), opt, CUDA, after_step=lambda m: apply_weight_masks_(m, masks),
                    opts=StepOptions(cuda_graph=True, precision="bf16", channels_last=True))
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        assert float(params[name][mask == 0].abs().max()) == 0.0
        assert float(params[name][mask == 1].abs().sum()) > 0.0


@pytest.mark.parametrize("opts", [StepOptions(compile=True), StepOptions(precision="bf16", channels_last=True)])
def test_compile_and_bf16_stay_close_to_fp32_eager(opts: StepOptions) -> None:
    eager, other = pair()
    prepare_model(other, opts)
    data = batches(4, 3)
    loss_e, _ = train_one_epoch(eager, data, sgd(eager), CUDA)
    loss_o, _ = train_one_epoch(other, data, sgd(other), CUDA, opts=opts)
    tolerance = 1e-3 if opts.precision == "fp32" else 5e-2
    assert loss_o == pytest.approx(loss_e, rel=tolerance)


def earlybird(speed: dict[str, Any]) -> ExperimentConfig:
    return ExperimentConfig(
        data=DataConfig(name="synthetic", batch_size=64),
        model=ModelConfig(name="vgg_tiny"),
        train=TrainConfig(epochs=4, device="cuda", **speed),
        method=EarlyBirdParams(eb_epsilon=1.0, prune_ratio=0.5),
    )


@pytest.mark.parametrize("speed", [dict(cuda_graph=True), dict(cuda_graph=True, precision="bf16", channels_last=True),
                                   dict(compile=True)])
def test_earlybird_trial_on_cuda_draws_shrinks_and_retrains(tmp_path, speed: dict) -> None:
    """A whole trial: BN-L1 hook inside the captured step, the ticket shrunk mid-trial (a new model,
    so a new capture) and retrained; the saved ticket loads and is as small as reported."""
    session = LocalSession(ticket_out=tmp_path / "ticket")
    final = METHODS.get("earlybird")().run(earlybird(speed), session)
    assert final["eb_detected"] is True and final["eb_epoch"] == 4  # eps 1.0: as soon as the queue is full
    assert final["epochs_trained"] == 8 and final["flops"] < final["dense_flops"]
    assert final["train_device"].startswith("cuda")
    assert all(torch.isfinite(torch.tensor(e["train_loss"])) for e in session.epochs)
    ticket = load_ticket(tmp_path / "ticket")
    assert sum(p.numel() for p in ticket.parameters()) == final["params"]


def test_a_new_hook_is_a_new_capture() -> None:
    """What a hook does is baked into the graph: a loop that passes a new hook (new masks, a new rho)
    must get a new capture, not the old hook replayed."""
    _, model = pair()
    opt = sgd(model)
    graph = StepOptions(cuda_graph=True)
    data = batches(3, 0)
    train_one_epoch(model, data, opt, CUDA, after_step=lambda m: None, opts=graph)
    first = next(p for p in model.parameters() if p.dim() == 4)
    assert float(first.detach().abs().sum()) > 0

    def zero_first_conv(m: torch.nn.Module) -> None:
        with torch.no_grad():
            next(p for p in m.parameters() if p.dim() == 4).zero_()

    train_one_epoch(model, data, opt, CUDA, after_step=zero_first_conv, opts=graph)
    assert float(first.detach().abs().sum()) == 0.0


def test_supertickets_search_under_graph_and_bf16_on_cuda() -> None:
    """The supernet search (hooks rebuilt per epoch, shrinks, progressive masks) under the step settings."""
    cfg = ExperimentConfig(
        seed=3, data=DataConfig(name="synthetic", batch_size=32), model=ModelConfig(name="supernet_tiny"),
        train=TrainConfig(epochs=4, device="cuda", lr=0.1, lr_milestones=(0.9,), precision="bf16", channels_last=True, cuda_graph=True),
        method=METHODS.get("supertickets").Params(search_epochs=5, retrain_epochs=1, target_sparsity=0.3, rho=0.05, shrink_threshold=0.3),
    )
    session = LocalSession()
    final = METHODS.get("supertickets")().run(cfg, session)
    assert final["weight_sparsity"] == pytest.approx(0.3, abs=0.02)
    assert final["flops"] < final["dense_flops"] and final["train_device"].startswith("cuda")
    assert all(math.isfinite(e["train_loss"]) for e in session.epochs)
