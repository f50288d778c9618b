"""SuperTickets: target sparsity, the FLOPs-L1 coefficient rho (log) and the pruning interval K.

Meant for objectives like val_accuracy:max, sparse_flops:min, nonzero_params:min. The
search-then-prune baselines run as fixed arms beside it (sweep.baselines, e.g.
'search_then_prune:criterion=snip,target_sparsity=0.7').
"""
from search_spaces.base import SEARCH_SPACES, FloatRange, IntRange, SearchSpace

SEARCH_SPACES.register("supertickets", help="SuperTickets: target_sparsity, rho (log), prune_interval")(
    SearchSpace(
        method="supertickets",
        dimensions={
            "method.target_sparsity": FloatRange(0.3, 0.9),
            "method.rho": FloatRange(3e-3, 1e-1, log=True),
            "method.prune_interval": IntRange(1, 2),
        },
    )
)

