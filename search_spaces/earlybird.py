"""Early-Bird: prune ratio p, the BN-L1 coefficient lambda, and the detector's epsilon."""
from search_spaces.base import SEARCH_SPACES, FloatRange, SearchSpace

SEARCH_SPACES.register("earlybird", help="Early-Bird: prune_ratio, bn_l1 (log), eb_epsilon")(
    SearchSpace(
        method="earlybird",
        dimensions={
            "method.prune_ratio": FloatRange(0.3, 0.85),
            "method.bn_l1": FloatRange(1e-5, 1e-3, log=True),
            "method.eb_epsilon": FloatRange(0.05, 0.2),
        },
    )
)
