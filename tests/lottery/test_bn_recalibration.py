"""BN re-estimation after a cut: statistics change, weights do not, training's random state is kept,
and a physically shrunk ticket then scores exactly what the masked model scores."""
from __future__ import annotations

import copy

import torch
from torch import nn

from lottery.data import load_dataset
from lottery.models import create_model
from lottery.pruning.channel_mask import bn_scores, global_channel_mask
from lottery.pruning.channel_surgery import apply_soft_mask_, prune_channels
from lottery.training.bn_recalibration import recalibrate_bn
from lottery.training.loop import evaluate, make_optimizer, train_one_epoch
from lottery.config import TrainConfig

CPU = torch.device("cpu")


def trained_vgg_tiny(data) -> nn.Module:
    torch.manual_seed(0)
    model = create_model("vgg_tiny", in_channels=data.in_channels, num_classes=data.num_classes, input_size=data.input_size)
    optimizer = make_optimizer(model, TrainConfig(lr=0.05))
    for _ in range(2):
        train_one_epoch(model, data.train, optimizer, CPU)
    return model


def test_recalibration_changes_statistics_not_weights_and_keeps_the_random_state() -> None:
    data = load_dataset("digits", batch_size=64, shuffle_seed=3)
    model = trained_vgg_tiny(data)
    params = {k: v.clone() for k, v in model.named_parameters()}
    stats = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    generator_state = data.train.generator.get_state()
    torch_state = torch.get_rng_state()

    seen = recalibrate_bn(model, data, CPU, num_batches=5)

    assert seen == 5 * 64
    assert all(torch.equal(v, params[k]) for k, v in model.named_parameters())  # no weight moved
    changed = [k for k, v in model.state_dict().items() if "running_mean" in k and not torch.allclose(v, stats[k])]
    assert changed, "running statistics were not re-estimated"
    assert torch.equal(data.train.generator.get_state(), generator_state)  # the next epoch's batches are unchanged
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(bn.momentum == 0.1 for bn in model.modules() if isinstance(bn, nn.BatchNorm2d))  # momentum restored
    assert recalibrate_bn(model, data, CPU, num_batches=0) == 0


def test_recalibrated_statistics_are_the_batch_average() -> None:
    data = load_dataset("synthetic", batch_size=32, augment=False)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    recalibrate_bn(model, data, CPU, num_batches=2)
    # the stream's random state was restored, so iterating now yields the two batches it averaged over
    batches = [x for x, _ in list(iter(data.train))[:2]]
    with torch.no_grad():
        means = [model[0](x).mean(dim=(0, 2, 3)) for x in batches]
    assert torch.allclose(model[1].running_mean, torch.stack(means).mean(0), atol=1e-5)


def test_shrunk_ticket_after_recalibration_scores_what_the_masked_model_scores() -> None:
    data = load_dataset("digits", batch_size=64)
    model = trained_vgg_tiny(data)
    masks = global_channel_mask(bn_scores(model), 0.6)
    masked = apply_soft_mask_(copy.deepcopy(model), masks)
    shrunk = prune_channels(model, masks, (data.in_channels, data.input_size, data.input_size))
    for net in (masked, shrunk):
        recalibrate_bn(net, data, CPU, num_batches=10)
    assert evaluate(shrunk, data.val, CPU) == evaluate(masked, data.val, CPU)
    x = next(iter(data.val))[0]
    with torch.no_grad():
        assert torch.allclose(shrunk.eval()(x), masked.eval()(x), atol=1e-4)
