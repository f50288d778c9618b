"""Robust tickets: robustness strength epsilon (0 = vanilla), sparsity and pattern.

Epsilon is in raw pixel units, so its scale depends on the data: `robust` uses the CIFAR / ImageNet
convention (2/255 .. 8/255), `robust_digits` radii that matter on 8x8 digits (pixels in [0, 1] in
steps of 1/16). Both are choices only, so the grid sampler can cover them exactly.
"""
from search_spaces.base import SEARCH_SPACES, Choice, SearchSpace

PATTERNS = Choice(("unstructured", "channel"))

SEARCH_SPACES.register("robust", help="robust tickets: epsilon 0..8/255, sparsity 0.5..0.95, unstructured | channel")(
    SearchSpace(
        method="robust_ticket",
        dimensions={
            "method.epsilon": Choice((0.0, 2 / 255, 4 / 255, 8 / 255)),
            "method.sparsity": Choice((0.5, 0.7, 0.9, 0.95)),
            "method.pattern": PATTERNS,
        },
    )
)

SEARCH_SPACES.register("robust_digits", help="robust tickets on 8x8 digits: epsilon 0..0.2, sparsity 0.5..0.9, unstructured | channel")(
    SearchSpace(
        method="robust_ticket",
        dimensions={
            "method.epsilon": Choice((0.0, 0.05, 0.1, 0.2)),
            "method.sparsity": Choice((0.5, 0.7, 0.9)),
            "method.pattern": PATTERNS,
        },
    )
)
