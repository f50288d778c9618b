"""Fixed grids for the claims presets (configs/claims-*.yaml): the paper's settings, nothing searched."""
from search_spaces.base import SEARCH_SPACES, Choice, SearchSpace

SEARCH_SPACES.register("earlybird_ratios", help="Early-Bird at the papers' prune ratios 0.3 / 0.5 / 0.7 (grid)")(
    SearchSpace(method="earlybird", dimensions={"method.prune_ratio": Choice((0.3, 0.5, 0.7))})
)
SEARCH_SPACES.register("supertickets_sparsities", help="SuperTickets at target sparsity 0.3 / 0.5 / 0.7 (grid)")(
    SearchSpace(method="supertickets", dimensions={"method.target_sparsity": Choice((0.3, 0.5, 0.7))})
)
SEARCH_SPACES.register("robust_claims", help="robust tickets at sparsity 0.5 / 0.7 / 0.9, unstructured | channel (grid; epsilon fixed)")(
    SearchSpace(method="robust_ticket", dimensions={"method.sparsity": Choice((0.5, 0.7, 0.9)),
                                                    "method.pattern": Choice(("unstructured", "channel"))})
)
