"""Budgets in the sampler: at equal trial counts, constrained TPE (the sweep's budgets as Optuna
constraints) vs random search, on the real `earlybird` search space and a cheap deterministic
surrogate of a trial (no Ray, no training), over several sampler seeds.

The surrogate: FLOPs of the channel ticket = the dense FLOPs of VGG-11 x0.25 on 8x8 digits (torch's
FLOP counter, as the trials count them) x (1 - prune_ratio)^2 (a conv's cost scales with its input
and output channels); validation accuracy falls with the prune ratio beyond 0.55 and is best at a
middling BN-L1 and detector epsilon. The budget `flops<=10% of dense` needs prune_ratio >= 0.684:
about 30 % of the space, and the best feasible accuracy is at its edge, so a sampler has to learn
both where the budget is met and where accuracy is.
"""
from __future__ import annotations

import math
import statistics
from typing import Any

import optuna

from lottery.measure import count_flops
from lottery.models import create_model
from orchestrator.budgets import Budget
from search_spaces import SEARCH_SPACES

SPACE = "earlybird"
BUDGET_RATIO = 0.10


def dense_flops() -> int:
    model = create_model("vgg11", in_channels=1, num_classes=10, input_size=8, width=0.25)
    return count_flops(model, (1, 8, 8))


def surrogate(params: dict[str, Any], dense: int) -> tuple[float, float]:
    """(val_accuracy, flops) of a configuration: deterministic, smooth, with a cliff at high pruning."""
    p, l1, eps = params["method.prune_ratio"], params["method.bn_l1"], params["method.eb_epsilon"]
    accuracy = 0.97 - 0.6 * max(0.0, p - 0.55) ** 2 - 0.03 * (math.log10(l1) + 3.7) ** 2 - 0.5 * (eps - 0.12) ** 2
    return accuracy, dense * (1.0 - p) ** 2


def search(sampler_name: str, seed: int, trials: int, dense: int, budget: Budget) -> dict[str, Any]:
    """One study of `trials` proposals: how many were feasible, and the best feasible accuracy."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler: optuna.samplers.BaseSampler = (optuna.samplers.RandomSampler(seed=seed) if sampler_name == "random"
                                            else optuna.samplers.TPESampler(seed=seed))
    constrained = sampler_name == "tpe"
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    space = SEARCH_SPACES.get(SPACE)
    feasible, best = 0, float("nan")
    for _ in range(trials):
        trial = study.ask()
        accuracy, flops = surrogate(space.sample(trial), dense)
        if constrained:
            trial.set_constraint(str(budget), budget.violation(flops))  # what the sweep's searcher does before tell
        study.tell(trial, [accuracy, flops])
        if budget.met(flops):
            feasible += 1
            best = accuracy if math.isnan(best) else max(best, accuracy)
    return {"feasible": feasible, "best_feasible_accuracy": best}


def run(smoke: bool) -> dict[str, Any]:
    trials, seeds = (15, 2) if smoke else (60, 10)
    dense = dense_flops()
    budget = Budget("flops", "<=", BUDGET_RATIO * dense)
    out: dict[str, Any] = {"space": SPACE, "budget": str(budget), "trials": trials, "seeds": seeds, "dense_flops": dense}
    p_min = 1.0 - math.sqrt(BUDGET_RATIO)
    out["best_feasible_accuracy_possible"] = 0.97 - 0.6 * (p_min - 0.55) ** 2
    # tpe: the budget told as a constraint (the sweep's way); tpe_unconstrained: the same sampler told
    # nothing about it (what the searcher did before budgets); random: the baseline, which ignores constraints
    for name in ("tpe", "tpe_unconstrained", "random"):
        runs = [search(name, seed, trials, dense, budget) for seed in range(seeds)]
        bests = [r["best_feasible_accuracy"] for r in runs if not math.isnan(r["best_feasible_accuracy"])]
        out[name] = {
            "feasible_mean": statistics.fmean(r["feasible"] for r in runs),
            "feasible_per_seed": [r["feasible"] for r in runs],
            "best_feasible_accuracy_mean": statistics.fmean(bests) if bests else float("nan"),
            "seeds_with_a_feasible_trial": len(bests),
        }
    return out
