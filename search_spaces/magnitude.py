"""One-shot magnitude pruning: sparsity and whether the survivors rewind to init."""
from search_spaces.base import SEARCH_SPACES, Choice, FloatRange, SearchSpace

SEARCH_SPACES.register("magnitude", help="one-shot magnitude pruning: sparsity, rewind (none | init)")(
    SearchSpace(
        method="magnitude",
        dimensions={
            "method.sparsity": FloatRange(0.3, 0.95),
            "method.rewind": Choice(("none", "init")),
        },
    )
)
