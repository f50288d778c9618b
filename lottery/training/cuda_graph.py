"""The whole training step (forward, loss, backward, gradient hook, SGD step, weight hook) captured
once as a CUDA graph and replayed per full batch: these CIFAR networks are launch-bound on a large
GPU, and one replay replaces hundreds of kernel launches.

Re-captured when the batch shape or the learning rate changes (SGD bakes the lr into the kernels),
and when the step's hooks are new objects (what a hook closes over is baked in too); a shrunk ticket
is a new model with a new optimizer, hence a new capture. Warm-up steps (needed so
that lazily created state, the momentum buffers and cudnn's autotuning, exists before capture) run
on a copy of the state that is then restored, so capturing never trains an extra step. CUDA only:
nothing here runs on a CPU machine; the trial falls back to the eager loop there.
"""
from __future__ import annotations

import weakref
from typing import Optional
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lottery.training.speed import StepOptions, autocast, prepare_input

Hook = Optional[Callable[[nn.Module], None]]
WARMUP_STEPS = 3


class CapturedStep:
    """Replays a captured step on static input buffers; `step(x, y)` returns the batch's loss tensor."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, after_backward: Hook, after_step: Hook, opts: StepOptions) -> None:
        self.model, self.optimizer = model, optimizer
        self.after_backward, self.after_step, self.opts = after_backward, after_step, opts
        self.graph: torch.cuda.CUDAGraph | None = None
        self.key: tuple | None = None

    def _eager(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast(self.opts, x.device):
            loss = F.cross_entropy(self.model(x), y)
        loss.backward()
        if self.after_backward is not None:
            self.after_backward(self.model)
        self.optimizer.step()
        if self.after_step is not None:
            self.after_step(self.model)
        return loss

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.graph = None
        for group in self.optimizer.param_groups:  # momentum buffers must exist before capture
            for p in group["params"]:
                state = self.optimizer.state[p]
                if group.get("momentum", 0) and state.get("momentum_buffer") is None:
                    state["momentum_buffer"] = torch.zeros_like(p)  # = grad on the first step (no dampening)
        saved_model = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        saved_opt = {id(t): t.detach().clone() for s in self.optimizer.state.values() for t in s.values() if torch.is_tensor(t)}
        self.static_x, self.static_y = x.clone(), y.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                self.optimizer.zero_grad(set_to_none=True)
                self._eager(self.static_x, self.static_y)
        torch.cuda.current_stream().wait_stream(side)
        with torch.no_grad():  # undo the warm-up in place: the graph keeps these addresses
            for k, v in self.model.state_dict().items():
                v.copy_(saved_model[k])
            for s in self.optimizer.state.values():
                for t in s.values():
                    if torch.is_tensor(t) and id(t) in saved_opt:
                        t.copy_(saved_opt[id(t)])
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.static_loss = self._eager(self.static_x, self.static_y).detach()
        self.graph = graph

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = prepare_input(x, self.opts)
        key = (tuple(x.shape), x.stride(), tuple(float(g["lr"]) for g in self.optimizer.param_groups))
        if self.graph is None or key != self.key:
            self._capture(x, y)
            self.key = key
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        assert self.graph is not None
        self.graph.replay()
        return self.static_loss


_STEPS: weakref.WeakKeyDictionary[torch.optim.Optimizer, CapturedStep] = weakref.WeakKeyDictionary()


def captured_step(model: nn.Module, optimizer: torch.optim.Optimizer, after_backward: Hook, after_step: Hook, opts: StepOptions) -> CapturedStep:
    """One CapturedStep per optimizer (a phase), reused across its epochs while the model and the hooks
    are the same objects: a hook is baked into the graph, so a new hook (a loop that builds its hooks
    per epoch, e.g. the supernet search's rho schedule and its changing masks) means a new capture."""
    step = _STEPS.get(optimizer)
    if step is None or step.model is not model or step.after_backward is not after_backward or step.after_step is not after_step:
        step = CapturedStep(model, optimizer, after_backward, after_step, opts)
        _STEPS[optimizer] = step
    return step
