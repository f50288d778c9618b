"""The contract every registered ticket method keeps, checked for each name in METHODS.

A new method is covered automatically: the suite is parametrized over `METHODS.names()`, and a
registered method without an entry in CONTRACT_PARAMS FAILS, telling you to add one (the fast
overrides and what sparsity the ticket must have). Entries naming methods that are not registered
(yet) are simply unused.

For each method, on the synthetic data with vgg_tiny and a few epochs:
  * determinism: the same seed twice gives identical final and per-epoch metrics (bar wall time)
    and identical ticket weights;
  * reports: `epoch` strictly increases from 1, `epochs_trained` is the last one, one final report;
  * the saved ticket rebuilds (load_ticket) to the in-memory model of the last checkpoint, twice
    identically, with the reported val/test accuracy, params and FLOPs;
  * masks.pt (when saved): bool, keyed by parameter names, parameter shapes, pruned weights exactly
    zero in weights.pt, sparsity = target within one weight per masked layer = `weight_sparsity`;
  * channel tickets keep the expected channel count within one channel per prunable layer;
    supernet tickets (SuperTickets, search-then-prune) are both: channels shrunk by the search
    (fewer FLOPs and params than the supernet, no path wider than before) and unstructured masks
    at the target; the others keep the dense architecture (flops_ratio == 1); dense saves no mask;
  * resume: killed mid-trial and resumed from its checkpoint, a trial ends as if never killed;
  * declared results: every per-epoch and final metric it reports is a column it (or the common
    set) declares, with the declared type; a long table's rows carry exactly its declared columns.
"""
from __future__ import annotations

import atexit
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from lottery.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lottery.data import load_dataset
from lottery.measure import count_flops, count_params
from lottery.methods import METHODS, TicketMethod
from lottery.methods import Trial as MethodTrial
from lottery.methods.common import build_model, finish_trial
from lottery.methods.dense import DenseParams
from lottery.training.phase import run_phase
from lottery.results import undeclared as undeclared_metrics
from lottery.models import create_model
from lottery.pruning.weight_mask import apply_weight_masks_, global_topk_masks, magnitude_scores, mask_sparsity, prunable_weights
from lottery.session import LocalSession
from lottery.ticket import WEIGHTS_FILE, load_ticket, load_ticket_masks, model_from_arch, save_ticket
from lottery.training.loop import evaluate
from lottery.latency import TIMING_METRICS
from crashing_session import Crash, CrashingSession

EPOCHS = 2
SHAPE = (3, 8, 8)
TIMING_KEYS = TIMING_METRICS  # measured: wall time and latency
REQUIRED_FINAL = (
    "val_accuracy", "test_accuracy", "flops", "params", "dense_flops", "dense_params", "flops_ratio",
    "nonzero_params", "sparse_flops", "weight_sparsity", "epochs_trained", "train_flops_total", "wall_time_s",
)


@dataclass(frozen=True)
class Contract:
    """How to run a method fast, and what its ticket must look like.

    kind: "dense" (no pruning), "unstructured" (masks.pt, dense architecture), "channel"
    (physically fewer channels) or "supernet" (searched channels + masks.pt). sparsity: the fraction
    removed, of the masked weights (unstructured, supernet) or of the prunable BN channels (channel).
    model: the registered model the method runs on.
    """

    params: dict[str, Any] = field(default_factory=dict)
    kind: str = "dense"
    sparsity: float = 0.0
    model: str = "vgg_tiny"


ROBUST_FAST = {"epsilon": 0.1, "attack_steps": 2, "eval_epsilon": 0.1, "eval_pgd_steps": 2, "downstream": ("synthetic",),
               "finetune_epochs": 1, "sparsity": 0.6}
# Supernet methods: a high shrink threshold (gamma starts at 0.5) so the 2-epoch search surely shrinks.
SUPERNET_FAST = {"search_epochs": 2, "retrain_epochs": 2, "target_sparsity": 0.6, "rho": 0.05,
                 "rho_warmup_epochs": 0, "shrink_threshold": 0.49}

def _source_ticket() -> str:
    """A vgg_tiny ticket on disk (60% of its body weights masked) for the `transfer` method to load."""
    folder = Path(tempfile.mkdtemp(prefix="contract-source-ticket-"))
    atexit.register(shutil.rmtree, folder, True)
    torch.manual_seed(0)
    model = create_model("vgg_tiny", in_channels=3, num_classes=4, input_size=8)
    masks = global_topk_masks(magnitude_scores(prunable_weights(model)), 0.6)
    apply_weight_masks_(model, masks)
    save_ticket(model, folder, {}, masks=masks)
    return str(folder)


# Every registered method needs an entry here (a few seconds at most for two runs).
CONTRACT_PARAMS: dict[str, Contract] = {
    "dense": Contract(),
    "earlybird": Contract({"prune_ratio": 0.5, "eb_epsilon": 1.0, "eb_queue": 2, "retrain_epochs": 2}, "channel", 0.5),
    "slimming": Contract({"prune_ratio": 0.5, "bn_l1": 1e-3, "retrain_epochs": 2}, "channel", 0.5),
    "snip": Contract({"sparsity": 0.8}, "unstructured", 0.8),
    "grasp": Contract({"sparsity": 0.8}, "unstructured", 0.8),
    "synflow": Contract({"sparsity": 0.8, "synflow_iterations": 5}, "unstructured", 0.8),
    "random": Contract({"sparsity": 0.7, "pattern": "unstructured"}, "unstructured", 0.7),
    "magnitude": Contract({"sparsity": 0.7, "pattern": "unstructured"}, "unstructured", 0.7),
    "imp": Contract({"rounds": 2, "rate": 0.5, "rewind_epoch": 0}, "unstructured", 1 - (1 - 0.5) ** 2),
    # The final ticket is the robust ticket fine-tuned on the last downstream dataset (here the source
    # task itself with a new head, so the contract's synthetic checks apply); with the vanilla reference.
    "robust_ticket": Contract(ROBUST_FAST, "unstructured", 0.6),
    "supertickets": Contract(SUPERNET_FAST, "supernet", 0.6, "supernet_tiny"),
    "search_then_prune": Contract({**SUPERNET_FAST, "criterion": "snip"}, "supernet", 0.6, "supernet_tiny"),
    "transfer": Contract({"ticket_path": _source_ticket()}, "unstructured", 0.6),
}

# Further runs of a registered method in another mode: case id -> (method, contract).
EXTRA_CASES: dict[str, tuple[str, Contract]] = {
    "random-channel": ("random", Contract({"sparsity": 0.5, "pattern": "channel"}, "channel", 0.5)),
    "magnitude-channel": ("magnitude", Contract({"sparsity": 0.5, "pattern": "channel"}, "channel", 0.5)),
    "robust_ticket-channel": ("robust_ticket", Contract({**ROBUST_FAST, "sparsity": 0.5, "pattern": "channel", "attack": "fgsm"}, "channel", 0.5)),
    "robust_ticket-imp": ("robust_ticket", Contract({**ROBUST_FAST, "draw": "imp", "imp_rounds": 2, "draw_epochs": 1}, "unstructured", 0.6)),
}

CASES = list(METHODS.names()) + [case for case, (method, _) in EXTRA_CASES.items() if method in METHODS]


def contract_for(case: str) -> tuple[str, Contract]:
    if case in EXTRA_CASES:
        return EXTRA_CASES[case]
    if case not in CONTRACT_PARAMS:
        pytest.fail(
            f"method {case!r} is registered but has no entry in CONTRACT_PARAMS of {Path(__file__).name}: "
            f"add `{case!r}: Contract(<params for a run of a few seconds>, <kind>, <expected sparsity>)` "
            "so the shared method contract covers it",
            pytrace=False,
        )
    return case, CONTRACT_PARAMS[case]


def experiment(case: str) -> ExperimentConfig:
    method, contract = contract_for(case)
    return ExperimentConfig(
        seed=3,
        data=DataConfig(name="synthetic", batch_size=64),
        model=ModelConfig(name=contract.model),
        train=TrainConfig(epochs=EPOCHS, device="cpu", threads=1),
        method=METHODS.get(method).Params(name=method, **contract.params),
    )


def run(config: ExperimentConfig, session: LocalSession) -> dict[str, Any]:
    return METHODS.get(config.method.name)().run(config, session)


def without_timing(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k not in TIMING_KEYS}


@dataclass
class Trial:
    session: LocalSession
    final: dict[str, Any]
    ticket: Path


_RUNS: dict[str, tuple[Trial, Trial]] = {}


@pytest.fixture
def runs(request, tmp_path_factory) -> tuple[Trial, Trial]:
    """Two runs of the case with the same seed (cached for the module)."""
    case = request.param
    contract_for(case)
    if case not in _RUNS:
        trials = []
        for i in range(2):
            ticket = tmp_path_factory.mktemp(f"contract-{case}") / f"ticket{i}"
            session = LocalSession(ticket_out=ticket)
            trials.append(Trial(session, run(experiment(case), session), ticket))
        _RUNS[case] = (trials[0], trials[1])
    return _RUNS[case]


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", batch_size=64)


def dense_model(name: str = "vgg_tiny") -> torch.nn.Module:
    return create_model(name, in_channels=3, num_classes=4, input_size=8)


parametrize_cases = pytest.mark.parametrize("runs", CASES, indirect=True)


def test_contract_table_covers_every_registered_method() -> None:
    missing = [name for name in METHODS.names() if name not in CONTRACT_PARAMS]
    assert not missing, f"add {missing} to CONTRACT_PARAMS in {Path(__file__).name} (params for a fast run + expected sparsity)"
    for contract in list(CONTRACT_PARAMS.values()) + [c for _, c in EXTRA_CASES.values()]:
        assert contract.kind in ("dense", "unstructured", "channel", "supernet")
        assert (contract.kind == "dense") == (contract.sparsity == 0.0)


@parametrize_cases
def test_same_seed_same_trial(runs: tuple[Trial, Trial]) -> None:
    first, second = runs
    assert without_timing(first.final) == without_timing(second.final)
    assert [without_timing(e) for e in first.session.epochs] == [without_timing(e) for e in second.session.epochs]
    a, b = (torch.load(t.ticket / WEIGHTS_FILE, weights_only=True) for t in runs)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@parametrize_cases
def test_reports(runs: tuple[Trial, Trial]) -> None:
    trial = runs[0]
    epochs = [e["epoch"] for e in trial.session.epochs]
    assert epochs and epochs[0] == 1
    assert all(b > a for a, b in zip(epochs, epochs[1:])), f"epochs not strictly increasing: {epochs}"
    assert trial.final["epochs_trained"] == epochs[-1]
    assert trial.session.final == trial.final
    missing = [k for k in REQUIRED_FINAL if k not in trial.final]
    assert not missing, f"final metrics lack {missing}"
    assert trial.final["val_accuracy"] == trial.session.epochs[-1]["val_accuracy"]
    assert trial.final["test_accuracy"] == trial.session.epochs[-1]["test_accuracy"]
    assert all(0.0 <= e["val_accuracy"] <= 1.0 and math.isfinite(e["train_loss"]) for e in trial.session.epochs)


_PY_KINDS = {bool: (bool,), int: (int,), float: (float, int), str: (str,)}


def assert_reports_declared(method: type, epochs: list[dict[str, Any]], final: dict[str, Any]) -> None:
    """Every reported metric is a declared column of `method` with a value of the declared type."""
    def check(metrics: dict[str, Any], declared: dict[str, Any], where: str) -> None:
        undeclared = undeclared_metrics(metrics, declared.values())
        assert not undeclared, f"{method.__name__} reports undeclared {where} metrics {undeclared}: declare them in its {where}_columns"
        for key, value in metrics.items():
            kind = declared[key].kind
            ok = value is None or (isinstance(value, _PY_KINDS[kind]) and not (kind is not bool and isinstance(value, bool)))
            assert ok, f"{method.__name__}: {where} metric {key}={value!r} is not a {kind.__name__}"

    for epoch in epochs:
        check(epoch, method.declared_epoch_columns(), "epoch")
    tables = {name: final[name] for name in method.tables if name in final}
    check({k: v for k, v in final.items() if k not in tables}, method.declared_final_columns(), "final")
    for name, rows in tables.items():
        for row in rows:
            check(row, {c.name: c for c in method.tables[name]}, f"table {name!r}")


@parametrize_cases
def test_reports_only_declared_columns(runs: tuple[Trial, Trial], request) -> None:
    method, _ = contract_for(request.node.callspec.params["runs"])
    trial = runs[0]
    assert_reports_declared(METHODS.get(method), trial.session.epochs, trial.final)


class _UndeclaredMetric(TicketMethod[DenseParams]):
    """A deliberately wrong toy method: dense training plus a metric it never declares."""

    Params = DenseParams

    def train(self, trial: MethodTrial[DenseParams]) -> dict[str, Any]:
        result = run_phase(phase="train", model=build_model(trial.cfg, trial.data), epochs=1, cfg=trial.cfg, data=trial.data,
                           device=trial.device, session=trial.session, progress=trial.progress)
        return finish_trial(model=result.model, data=trial.data, dense_model=result.model, progress=trial.progress,
                            last_metrics=result.last_metrics, session=trial.session, extra={"secret_score": 1.0})


def test_contract_fails_a_method_that_reports_an_undeclared_metric() -> None:
    session = LocalSession()
    final = _UndeclaredMetric().run(experiment("dense"), session)
    with pytest.raises(AssertionError, match="undeclared final metrics \\['secret_score'\\]"):
        assert_reports_declared(_UndeclaredMetric, session.epochs, final)
    assert_reports_declared(METHODS.get("dense"), session.epochs, {k: v for k, v in final.items() if k != "secret_score"})


@parametrize_cases
def test_ticket_rebuilds_the_trained_model(runs: tuple[Trial, Trial], data) -> None:
    trial = runs[0]
    ticket, again = load_ticket(trial.ticket), load_ticket(trial.ticket)
    state = trial.session.last_state
    trained = model_from_arch(state["arch"])
    trained.load_state_dict(state["model"])
    x = torch.cat([xb for xb, _ in data.test])
    for model in (ticket, again, trained):
        model.eval()
    with torch.no_grad():
        out = ticket(x)
        assert torch.equal(out, again(x))
        assert torch.equal(out, trained(x))
    assert evaluate(ticket, data.test, torch.device("cpu")) == trial.final["test_accuracy"]
    assert evaluate(ticket, data.val, torch.device("cpu")) == trial.final["val_accuracy"]
    assert count_params(ticket) == trial.final["params"]
    assert count_flops(ticket, SHAPE) == trial.final["flops"]


@parametrize_cases
def test_masks(runs: tuple[Trial, Trial], request) -> None:
    _, contract = contract_for(request.node.callspec.params["runs"])
    trial = runs[0]
    masks = load_ticket_masks(trial.ticket)
    if contract.kind in ("unstructured", "supernet"):
        assert masks, "an unstructured ticket must save masks.pt"
    if contract.kind == "dense":
        assert masks is None
        assert trial.final["weight_sparsity"] == 0.0
    if masks is None:
        return
    weights = torch.load(trial.ticket / WEIGHTS_FILE, weights_only=True)
    params = dict(load_ticket(trial.ticket).named_parameters())
    for name, mask in masks.items():
        assert name in params, f"mask key {name!r} is not a parameter name"
        assert mask.dtype == torch.bool and mask.shape == params[name].shape
        assert (weights[name][~mask] == 0).all(), f"pruned weights of {name} are not zero"
    assert trial.final["weight_sparsity"] == mask_sparsity(masks)
    if contract.kind in ("unstructured", "supernet"):
        total = sum(m.numel() for m in masks.values())
        kept = sum(int(m.sum()) for m in masks.values())
        expected = (1.0 - contract.sparsity) * total
        assert abs(kept - expected) <= len(masks), f"kept {kept} weights of {total}, expected {expected:.1f}"
        assert trial.final["sparse_flops"] < trial.final["flops"]
        assert trial.final["nonzero_params"] <= trial.final["params"] - (total - kept)


@parametrize_cases
def test_channels_and_flops(runs: tuple[Trial, Trial], request) -> None:
    _, contract = contract_for(request.node.callspec.params["runs"])
    final = runs[0].final
    dense = dense_model(contract.model)
    dense_spec, spec = dense.channel_spec(), load_ticket(runs[0].ticket).channel_spec()
    assert final["dense_flops"] == count_flops(dense, SHAPE)
    assert final["dense_params"] == count_params(dense)
    assert final["flops_ratio"] == final["flops"] / final["dense_flops"]
    if contract.kind == "supernet":
        widths, dense_widths = load_ticket(runs[0].ticket).path_widths(), dense.path_widths()
        assert all(0 <= w <= d for w, d in zip(widths, dense_widths)) and sum(widths) < sum(dense_widths)
        assert final["flops"] < final["dense_flops"] and final["params"] < final["dense_params"]
    elif contract.kind == "channel":
        expected = (1.0 - contract.sparsity) * sum(dense_spec)
        assert abs(sum(spec) - expected) <= len(spec), f"kept channels {spec} (sum {sum(spec)}), expected {expected}"
        assert all(1 <= c <= d for c, d in zip(spec, dense_spec))
        assert final["flops"] < final["dense_flops"] and final["params"] < final["dense_params"]
    else:
        assert spec == dense_spec
        assert final["flops_ratio"] == 1.0
        assert final["params"] == final["dense_params"]




@parametrize_cases
def test_resume_after_crash(runs: tuple[Trial, Trial], request, tmp_path: Path) -> None:
    case = request.node.callspec.params["runs"]
    uninterrupted = runs[0]
    n = len(uninterrupted.session.epochs)
    k = max(1, n // 2)
    with pytest.raises(Crash):
        run(experiment(case), CrashingSession(k, checkpoint_dir=tmp_path))
    resumed = LocalSession(checkpoint_dir=tmp_path)
    final = run(experiment(case), resumed)
    assert [e["epoch"] for e in resumed.epochs] == [e["epoch"] for e in uninterrupted.session.epochs[k:]]
    assert without_timing(final) == without_timing(uninterrupted.final)
