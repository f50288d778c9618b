"""Network Slimming: prune ratio p and the BN-L1 coefficient lambda."""
from search_spaces.base import SEARCH_SPACES, FloatRange, SearchSpace

SEARCH_SPACES.register("slimming", help="Network Slimming: prune_ratio, bn_l1 (log)")(
    SearchSpace(
        method="slimming",
        dimensions={
            "method.prune_ratio": FloatRange(0.3, 0.85),
            "method.bn_l1": FloatRange(1e-5, 1e-3, log=True),
        },
    )
)
