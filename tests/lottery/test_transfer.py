"""Class-subset datasets (the offline transfer tasks) and moving a ticket onto a new head."""
from __future__ import annotations

import pytest
import torch

from lottery.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lottery.data import load_dataset, parse_dataset_spec
from lottery.errors import ConfigError
from lottery.methods.base import load_data
from lottery.models import create_model
from lottery.pruning.weight_mask import global_topk_masks, magnitude_scores, prunable_weights
from lottery.session import LocalSession
from lottery.training.checkpoint import TrialProgress
from lottery.transfer import check_compatible, finetune_transfer, head_name, with_new_head


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("digits", ("digits", ())),
        ("digits[0-4]", ("digits", (0, 1, 2, 3, 4))),
        ("digits[7,2, 5-6]", ("digits", (7, 2, 5, 6))),
        (" cifar100[0-1] ", ("cifar100", (0, 1))),
    ],
)
def test_parse_dataset_spec(spec: str, expected: tuple) -> None:
    assert parse_dataset_spec(spec) == expected


@pytest.mark.parametrize("spec, fragment", [
    ("digits[", "NAME[CLASSES]"), ("digits[4-2]", "end must be >= the start"), ("digits[1,1]", "twice"),
    ("digits[3]", "at least 2"), ("digits[1--3]", "invalid class selector"), ("digits[a]", "NAME[CLASSES]"),
])
def test_bad_dataset_specs_name_the_problem(spec: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
        parse_dataset_spec(spec)


def _labels(batches) -> torch.Tensor:
    return torch.cat([y for _, y in batches])


def test_digits_class_split_is_disjoint_and_relabelled() -> None:
    full = load_dataset("digits", augment=False)
    source = load_dataset("digits[0-4]", augment=False)
    target = load_dataset("digits[5-9]", augment=False)
    assert source.num_classes == target.num_classes == 5
    for part in ("train", "val", "test"):
        assert set(_labels(getattr(source, part)).tolist()) == {0, 1, 2, 3, 4}
        assert set(_labels(getattr(target, part)).tolist()) == {0, 1, 2, 3, 4}
    # Together the halves hold exactly the full dataset's rows of each split.
    for part in ("train", "val", "test"):
        n_full = len(_labels(getattr(full, part)))
        n_halves = len(_labels(getattr(source, part))) + len(_labels(getattr(target, part)))
        assert abs(n_full - n_halves) <= 10  # stratified rounding, at most one row per class
    # The relabelled target images are the full dataset's images of classes 5..9.
    full_test = torch.cat([x for x, _ in full.test])
    assert target.num_train == pytest.approx(full.num_train / 2, rel=0.05)
    assert full_test.shape[1:] == torch.cat([x for x, _ in target.test]).shape[1:]


def test_unknown_class_is_rejected() -> None:
    with pytest.raises(ConfigError, match="class 12 does not exist"):
        load_dataset("digits[0,12]")


def test_with_new_head_keeps_the_body_and_resizes_the_head() -> None:
    torch.manual_seed(0)
    model = create_model("vgg_tiny", in_channels=1, num_classes=5, input_size=8)
    moved = with_new_head(model, 7)
    head = head_name(model)
    assert moved.get_submodule(head).out_features == 7
    source, target = model.state_dict(), moved.state_dict()
    body = [k for k in source if not k.startswith(head + ".")]
    assert body and all(torch.equal(source[k], target[k]) for k in body)


def test_incompatible_target_is_rejected() -> None:
    digits = load_dataset("digits")
    synthetic = load_dataset("synthetic")
    with pytest.raises(ConfigError, match="3x8x8 inputs but the ticket was drawn on 1x8x8"):
        check_compatible(digits, synthetic, "synthetic")


def test_transfer_finetuning_keeps_the_mask_fixed(tmp_path) -> None:
    torch.manual_seed(0)
    cfg = ExperimentConfig(data=DataConfig(name="digits[0-4]"), model=ModelConfig(name="vgg_tiny"), train=TrainConfig(epochs=2, lr=0.05))
    target = load_data(cfg.data, 0, name="digits[5-9]")
    model = create_model("vgg_tiny", in_channels=1, num_classes=5, input_size=8)
    masks = global_topk_masks(magnitude_scores(prunable_weights(model, skip_classifier=False)), 0.6)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    session = LocalSession(tmp_path)
    result, fixed = finetune_transfer(
        model=model, masks=masks, target=target, epochs=2, phase="transfer", cfg=cfg, device=torch.device("cpu"),
        session=session, progress=TrialProgress(),
    )
    head = head_name(model)
    assert fixed is not None and set(fixed) == {k for k in masks if not k.startswith(head + ".")}
    params = dict(result.model.named_parameters())
    for name, mask in fixed.items():
        assert torch.equal(mask, masks[name])
        assert torch.count_nonzero(params[name].detach()[~mask]) == 0
        assert not torch.equal(params[name].detach(), before[name])  # the kept weights did train
    assert result.last_metrics["weight_sparsity"] == pytest.approx(
        1 - sum(int(m.sum()) for m in fixed.values()) / sum(m.numel() for m in fixed.values())
    )
    assert result.model.get_submodule(head).out_features == target.num_classes == 5


def _transfer_config(ticket_path: str, data: str) -> ExperimentConfig:
    from lottery.methods.transfer_ticket import TransferParams

    return ExperimentConfig(data=DataConfig(name=data), model=ModelConfig(name="vgg_tiny"),
                            train=TrainConfig(epochs=1, device="cpu"), method=TransferParams(ticket_path=ticket_path))


def test_transfer_method_rejects_a_folder_without_a_ticket(tmp_path) -> None:
    from lottery.methods.transfer_ticket import TransferTicket

    with pytest.raises(ConfigError, match="arch.json, weights.pt missing"):
        TransferTicket().run(_transfer_config(str(tmp_path), "digits[5-9]"), LocalSession())
    with pytest.raises(ConfigError, match="method.ticket_path"):
        _transfer_config("", "digits")


def test_transfer_method_rejects_a_target_with_other_inputs(tmp_path) -> None:
    from lottery.methods.transfer_ticket import TransferTicket
    from lottery.ticket import save_ticket

    save_ticket(create_model("vgg_tiny", in_channels=1, num_classes=5, input_size=8), tmp_path, {})
    with pytest.raises(ConfigError, match="3x8x8 inputs but the ticket was drawn on 1x8x8"):
        TransferTicket().run(_transfer_config(str(tmp_path), "synthetic"), LocalSession())
