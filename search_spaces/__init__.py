"""Search spaces Optuna explores: named maps of dotted config keys to distributions."""
from search_spaces.base import SEARCH_SPACES, Choice, FloatRange, IntRange, SearchSpace
from search_spaces import earlybird  # noqa: F401  (registration side effect)

__all__ = ["SEARCH_SPACES", "Choice", "FloatRange", "IntRange", "SearchSpace"]
