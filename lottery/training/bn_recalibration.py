"""Re-estimate BatchNorm running statistics after a network was cut.

After channels are shrunk or weights pruned, the running mean and variance a BN layer collected
belong to the network before the cut: evaluating the cut network with them is what makes a pruned
ticket look broken before it is retrained. Re-estimating them on a few training batches (forward
passes in train mode, no gradients, cumulative average) fixes the statistics without touching a
single weight. The random state of the data stream and of torch is restored afterwards, so the
training that follows draws exactly the batches it would have drawn without this step.
"""
from __future__ import annotations

import itertools

import torch
from torch import nn

from lottery.data import DataBundle

DEFAULT_BATCHES = 20


def _batch_norms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@torch.no_grad()
def recalibrate_bn(model: nn.Module, data: DataBundle, device: torch.device, num_batches: int = DEFAULT_BATCHES) -> int:
    """Replace every BN's running statistics by their average over `num_batches` training batches.

    Weights, biases and BN affine parameters are unchanged; returns the samples seen (for the
    training-FLOPs count: one forward pass each). `num_batches` 0 does nothing.
    """
    norms = _batch_norms(model)
    if num_batches <= 0 or not norms:
        return 0
    generator = getattr(data.train, "generator", None)
    saved_data_rng = generator.get_state() if isinstance(generator, torch.Generator) else None
    saved_torch_rng = torch.get_rng_state()
    was_training = model.training
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average over the batches below
    seen = 0
    model.train()
    try:
        for x, _ in itertools.islice(iter(data.train), num_batches):
            model(x.to(device))
            seen += int(x.shape[0])
    finally:
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
        model.train(was_training)
        torch.set_rng_state(saved_torch_rng)
        if saved_data_rng is not None and isinstance(generator, torch.Generator):
            generator.set_state(saved_data_rng)
    return seen
