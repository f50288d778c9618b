"""Early-Bird vs Network Slimming vs IMP vs random pruning at matched sparsity levels.

A level is the fraction of prunable units removed: channels for the channel methods (earlybird,
slimming), weights for the weight methods (imp, random). IMP keeps 2 rounds and takes the per-round
rate that lands exactly on the level: 1 - (1 - rate)^2 = level.
"""
from search_spaces.base import SEARCH_SPACES, MatchedSparsitySpace

IMP_ROUNDS = 2

SEARCH_SPACES.register("compare", help="earlybird vs slimming vs imp vs random at sparsity 0.5 / 0.7 / 0.9 (grid)")(
    MatchedSparsitySpace(
        levels=(0.5, 0.7, 0.9),
        mapping={
            "earlybird": lambda level: {"method.prune_ratio": level},
            "slimming": lambda level: {"method.prune_ratio": level},
            "imp": lambda level: {"method.rounds": IMP_ROUNDS, "method.rate": 1.0 - (1.0 - level) ** (1.0 / IMP_ROUNDS)},
            "random": lambda level: {"method.sparsity": level, "method.pattern": "unstructured"},
        },
    )
)
