"""Random pruning (the control arm): only the sparsity level."""
from search_spaces.base import SEARCH_SPACES, FloatRange, SearchSpace

SEARCH_SPACES.register("random", help="random pruning at init: sparsity")(
    SearchSpace(method="random", dimensions={"method.sparsity": FloatRange(0.3, 0.95)})
)
