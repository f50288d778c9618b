"""Preset loading, `--set` overrides, validation messages and config identities."""
from __future__ import annotations

from pathlib import Path

import pytest

from lottery.codec import build, config_hash, experiment_from_dict, to_flat_dict, with_overrides
from lottery.config import ExperimentConfig
from lottery.errors import ConfigError
from lottery.methods.dense import DenseParams
from lottery.methods.earlybird import EarlyBirdParams
from orchestrator.config import SweepConfig, apply_overrides, load_configs

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "configs" / "demo.yaml"


def load(*overrides: str):
    return load_configs(DEMO, list(overrides))


# --- loading the demo preset ---------------------------------------------------------------------

def test_demo_preset_loads_typed_values():
    cfg, sweep = load()
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.seed == 0
    assert cfg.data.name == "digits" and cfg.data.batch_size == 64 and cfg.data.val_fraction == 0.2
    assert cfg.model.name == "vgg11" and cfg.model.width == 0.25 and isinstance(cfg.model.width, float)
    assert cfg.train.epochs == 30 and cfg.train.lr == 0.05 and cfg.train.threads == 1
    assert cfg.train.momentum == 0.9  # not in the preset: the dataclass default
    assert isinstance(cfg.method, EarlyBirdParams)
    assert cfg.method.prune_ratio == 0.5 and cfg.method.bn_l1 == pytest.approx(1e-4)
    assert cfg.method.eb_queue == 5 and cfg.method.retrain_init == "continue"
    assert isinstance(sweep, SweepConfig)
    assert sweep.name == "demo" and sweep.num_trials == 8 and sweep.max_concurrent == 2
    assert sweep.baselines == ("dense",)
    assert sweep.objectives == ("val_accuracy:max", "flops:min")
    assert sweep.objective_pairs() == [("val_accuracy", "max"), ("flops", "min")]
    assert sweep.resources.cpu == 1.0 and sweep.resources.gpu == 0.0
    assert sweep.results_dir == "results"


def test_missing_method_section_defaults_to_earlybird():
    cfg = experiment_from_dict({"data": {"name": "synthetic"}})
    assert isinstance(cfg.method, EarlyBirdParams)
    assert cfg.method.prune_ratio == 0.5
    assert cfg.data.name == "synthetic"


# --- overrides -----------------------------------------------------------------------------------

def test_overrides_parse_types():
    cfg, sweep = load(
        "train.epochs=5", "train.lr=0.2", "data.augment=false", "train.lr_milestones=[0.3, 0.6, 0.9]",
        "method.prune_ratio=0.7", "sweep.baselines=[]", "sweep.num_trials=3", "seed=7", "model.width=1",
    )
    assert cfg.train.epochs == 5 and type(cfg.train.epochs) is int
    assert cfg.train.lr == 0.2
    assert cfg.data.augment is False
    assert cfg.train.lr_milestones == (0.3, 0.6, 0.9)
    assert cfg.method.prune_ratio == 0.7
    assert cfg.model.width == 1.0 and type(cfg.model.width) is float  # int accepted for a float field
    assert cfg.seed == 7
    assert sweep.baselines == () and sweep.num_trials == 3


def test_override_scalar_for_tuple_becomes_one_element_tuple():
    cfg, _ = load("train.lr_milestones=0.5")
    assert cfg.train.lr_milestones == (0.5,)


def test_override_scientific_notation_without_dot_is_a_number():
    # YAML 1.1 reads `1e-4` as a string; a float field must still accept it.
    cfg, _ = load("method.bn_l1=3e-5")
    assert cfg.method.bn_l1 == pytest.approx(3e-5)


def test_apply_overrides_does_not_mutate_input_and_creates_sections():
    raw = {"train": {"epochs": 3}}
    out = apply_overrides(raw, ["train.epochs=9", "sweep.resources.gpu=0.5"])
    assert raw == {"train": {"epochs": 3}}
    assert out == {"train": {"epochs": 9}, "sweep": {"resources": {"gpu": 0.5}}}


def test_override_later_wins():
    cfg, _ = load("train.epochs=5", "train.epochs=6")
    assert cfg.train.epochs == 6


# --- validation errors ---------------------------------------------------------------------------

BAD = [
    # (overrides, substrings every message must contain)
    (["nope=1"], ["'nope'", "top level", "data", "method", "train"]),
    (["train.nope=1"], ["'train.nope'", "epochs", "lr_milestones"]),
    (["data.nope=1"], ["'data.nope'", "batch_size", "augment"]),
    (["method.nope=1"], ["'method.nope'", "prune_ratio", "retrain_init"]),
    (["sweep.nope=1"], ["'sweep.nope'", "num_trials", "sampler"]),
    (["sweep.resources.tpu=1"], ["'sweep.resources.tpu'", "cpu", "gpu"]),
    (["train.epochs=ten"], ["train.epochs", "'ten'", "integer"]),
    (["train.epochs=2.5"], ["train.epochs", "2.5", "integer"]),
    (["data.augment=1"], ["data.augment", "true or false", "1"]),
    (["model.width=wide"], ["model.width", "'wide'", "number"]),
    (["train.epochs=true"], ["train.epochs", "True", "integer"]),
    (["method.prune_ratio=0"], ["method.prune_ratio", "0.0", "(0, 1)"]),
    (["method.prune_ratio=1"], ["method.prune_ratio", "1.0", "(0, 1)"]),
    (["method.prune_ratio=1.5"], ["method.prune_ratio", "1.5", "(0, 1)"]),
    (["method.prune_ratio=-0.1"], ["method.prune_ratio", "-0.1", "(0, 1)"]),
    (["train.epochs=0"], ["train.epochs", "0", ">= 1"]),
    (["method.retrain_init=random"], ["method.retrain_init", "'random'", "continue", "reinit"]),
    (["model.name=alexnet"], ["model", "'alexnet'", "vgg11", "resnet20"]),
    (["data.name=mnist"], ["dataset", "'mnist'", "digits", "cifar10", "synthetic"]),
    (["method.name=lth"], ["method", "'lth'", "dense", "earlybird"]),
    (["sweep.baselines=[lth]"], ["method", "'lth'", "dense", "earlybird"]),
    (["sweep.search_space=grid"], ["search space", "'grid'", "earlybird"]),
    (["sweep.sampler=cmaes"], ["sampler", "'cmaes'", "tpe", "nsga2", "random"]),
    (["sweep.objectives=[accuracy:max]"], ["'accuracy:max'", "val_accuracy", "flops"]),
    (["sweep.objectives=[flops:lowest]"], ["'flops:lowest'", "max|min"]),
    (["sweep.objectives=[]"], ["sweep.objectives", "empty"]),
    (["sweep.name=a/b"], ["'a/b'", "sweep name"]),
    (["train.epochs"], ["'train.epochs'", "key.path=value"]),
    (["=5"], ["'=5'", "key.path=value"]),
    (["train=5"], ["section train", "5", "mapping"]),
    (["train.epochs.x=1"], ["train.epochs.x", "'epochs' is a value"]),
]


@pytest.mark.parametrize("overrides,needles", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_input_raises_config_error_naming_it(overrides, needles):
    with pytest.raises(ConfigError) as info:
        load(*overrides)
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_method_params_of_another_method_are_unknown_keys():
    # an explicit earlybird parameter given for dense is an error (the preset's own are dropped on a switch)
    with pytest.raises(ConfigError, match=r"unknown key 'method.bn_l1' in method; valid keys: name$"):
        load("method.name=dense", "method.bn_l1=1e-4")


def test_missing_config_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="config file not found") as info:
        load_configs(missing)
    assert str(missing) in str(info.value)


def test_malformed_yaml_and_non_mapping(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_configs(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_configs(listing)


def test_empty_file_is_refused_but_an_empty_mapping_gives_defaults(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="is empty"):  # a truncated or wrong file must not run on defaults
        load_configs(empty)
    empty.write_text("{}\n")
    cfg, sweep = load_configs(empty)
    assert cfg == ExperimentConfig(method=EarlyBirdParams())
    assert sweep == SweepConfig()


def test_build_rejects_unknown_key_directly():
    with pytest.raises(ConfigError, match=r"unknown key 'sweep\.foo' in sweep"):
        build(SweepConfig, {"foo": 1}, "sweep.")


# --- identities ----------------------------------------------------------------------------------

def test_config_hash_equal_for_equal_configs():
    a, _ = load()
    b, _ = load()
    assert a == b and a is not b
    h = config_hash(a)
    assert h == config_hash(b)
    assert len(h) == 12 and all(c in "0123456789abcdef" for c in h)


@pytest.mark.parametrize("override", [
    "method.prune_ratio=0.6", "train.lr=0.06", "seed=1", "model.width=0.5", "data.batch_size=32",
    "train.lr_milestones=[0.5]", "method.retrain_init=reinit",
])
def test_config_hash_changes_with_any_value(override):
    base, _ = load()
    changed, _ = load(override)
    assert config_hash(changed) != config_hash(base)


def test_config_hash_ignores_sweep_section():
    a, _ = load()
    b, _ = load("sweep.num_trials=99", "sweep.name=other")
    assert config_hash(a) == config_hash(b)


def test_config_hash_unchanged_by_explicit_defaults():
    base, _ = load()
    explicit, _ = load(
        "train.momentum=0.9", "train.weight_decay=0.0001", "train.lr_milestones=[0.5, 0.75]",
        "method.max_search_epochs=0", "method.eb_epsilon=0.1", "data.augment=true", "model.width=0.25",
    )
    assert explicit == base
    assert config_hash(explicit) == config_hash(base)
    # default-valued fields are left out of the identity entirely
    assert config_hash(experiment_from_dict({})) == config_hash(
        experiment_from_dict({"method": {"name": "earlybird", "prune_ratio": 0.5}, "train": {"epochs": 20}})
    )


def test_dense_and_earlybird_hash_differently():
    eb = experiment_from_dict({"method": {"name": "earlybird"}})
    dense = experiment_from_dict({"method": {"name": "dense"}})
    assert config_hash(eb) != config_hash(dense)
    base, _ = load()
    dense_base = with_overrides(base, {"method.name": "dense"})
    assert (dense_base.data, dense_base.model, dense_base.train) == (base.data, base.model, base.train)
    assert config_hash(dense_base) != config_hash(base)


# --- with_overrides ------------------------------------------------------------------------------

def test_with_overrides_replaces_values_and_validates():
    base, _ = load()
    out = with_overrides(base, {"method.prune_ratio": 0.3, "train.epochs": 4})
    assert out.method.prune_ratio == 0.3 and out.train.epochs == 4
    assert base.method.prune_ratio == 0.5 and base.train.epochs == 30  # frozen original untouched
    assert out.model == base.model
    with pytest.raises(ConfigError, match=r"\(0, 1\)"):
        with_overrides(base, {"method.prune_ratio": 1.0})


def test_with_overrides_switching_method_resets_params():
    base, _ = load("method.prune_ratio=0.3", "method.eb_queue=7")
    dense = with_overrides(base, {"method.name": "dense"})
    assert dense.method == DenseParams()
    assert "method.prune_ratio" not in to_flat_dict(dense)
    back = with_overrides(dense, {"method.name": "earlybird"})
    assert back.method == EarlyBirdParams()  # defaults again, not the 0.3 / 7 of `base`
    assert back.method.prune_ratio == 0.5 and back.method.eb_queue == 5
    # same name: params kept
    same = with_overrides(base, {"method.name": "earlybird"})
    assert same.method.prune_ratio == 0.3 and same.method.eb_queue == 7


def test_switching_method_on_the_command_line_drops_the_presets_method_params():
    cfg, _ = load_configs(DEMO, ["method.rounds=2", "method.name=imp"])
    assert cfg.method.name == "imp" and cfg.method.rounds == 2
    assert not hasattr(cfg.method, "bn_l1")
    same, _ = load_configs(DEMO, ["method.name=earlybird"])
    assert same.method.bn_l1 == 1e-4 and same.method.prune_ratio == 0.5  # same method: preset params kept
