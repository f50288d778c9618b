"""Iterative magnitude pruning: number of rounds, per-round rate, rewind epoch."""
from search_spaces.base import SEARCH_SPACES, FloatRange, IntRange, SearchSpace

SEARCH_SPACES.register("imp", help="IMP with rewinding: rounds, rate, rewind_epoch")(
    SearchSpace(
        method="imp",
        dimensions={
            "method.rounds": IntRange(1, 5),
            "method.rate": FloatRange(0.1, 0.5),
            "method.rewind_epoch": IntRange(0, 3),
        },
    )
)
