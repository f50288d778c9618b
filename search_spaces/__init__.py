"""Search spaces Optuna explores: named maps of dotted config keys to distributions.

Importing this package imports every module in it, which registers the spaces.
"""
import importlib
import pkgutil

from search_spaces.base import SEARCH_SPACES, Choice, FloatRange, IntRange, SearchSpace

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base" and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["SEARCH_SPACES", "Choice", "FloatRange", "IntRange", "SearchSpace"]
