"""Pruning at initialisation (SNIP, GraSP, SynFlow): the target weight sparsity."""
from search_spaces.base import SEARCH_SPACES, FloatRange, SearchSpace

for _method, _label in (("snip", "SNIP"), ("grasp", "GraSP"), ("synflow", "SynFlow")):
    SEARCH_SPACES.register(_method, help=f"{_label}: sparsity")(
        SearchSpace(method=_method, dimensions={"method.sparsity": FloatRange(0.3, 0.95)})
    )
