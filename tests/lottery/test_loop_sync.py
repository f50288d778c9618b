"""The step loop must not read device values on the host per step (a GPU sync every step)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lottery.data.tensor_loader import TensorBatches
from lottery.training.loop import evaluate, train_one_epoch


def _data(n: int = 40, batch: int = 8) -> TensorBatches:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=gen)
    y = (x[:, 0] > 0).long()
    return TensorBatches(x, y, batch, shuffle=True, seed=1)


def _count_item_calls(monkeypatch) -> list[int]:
    calls = [0]
    original = torch.Tensor.item

    def counting(self):  # type: ignore[no-untyped-def]
        calls[0] += 1
        return original(self)

    monkeypatch.setattr(torch.Tensor, "item", counting)
    return calls


def test_one_host_read_per_epoch_and_hooks_run_every_step(monkeypatch) -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = _data()
    hooks = {"backward": 0, "step": 0, "perturb": 0}

    def after_backward(m: nn.Module) -> None:
        hooks["backward"] += 1
        assert m.weight.grad is not None

    def after_step(m: nn.Module) -> None:
        hooks["step"] += 1

    class Noise:
        passes = 0

        def __call__(self, m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            hooks["perturb"] += 1
            return x

    calls = _count_item_calls(monkeypatch)
    loss, seen = train_one_epoch(model, data, opt, torch.device("cpu"), after_backward, after_step, Noise())
    assert calls[0] == 1  # five steps, one read
    assert seen == 40 and hooks == {"backward": 5, "step": 5, "perturb": 5}
    calls[0] = 0
    acc = evaluate(model, data, torch.device("cpu"))
    assert calls[0] == 1 and 0.0 <= acc <= 1.0


def test_epoch_loss_is_the_sample_weighted_mean() -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    data = _data(n=20, batch=8)  # batches of 8, 8, 4
    reference = nn.Linear(4, 2)
    reference.load_state_dict(model.state_dict())
    opt_ref = torch.optim.SGD(reference.parameters(), lr=0.1)
    state = data.generator.get_state()
    expected, n = 0.0, 0
    for x, y in data:
        opt_ref.zero_grad()
        loss = F.cross_entropy(reference(x), y)
        loss.backward()
        opt_ref.step()
        expected += loss.item() * len(y)
        n += len(y)
    data.generator.set_state(state)
    loss, seen = train_one_epoch(model, data, torch.optim.SGD(model.parameters(), lr=0.1), torch.device("cpu"))
    assert seen == n == 20
    assert abs(loss - expected / n) < 1e-6
