"""Registered ticket methods. Importing this package imports every module in it, which registers them."""
import importlib
import pkgutil

from lottery.methods.base import METHODS, TicketMethod, Trial, all_epoch_columns, all_final_columns

# Modules of this package that are not methods: the contract, shared pieces, and family bases (a
# method may import these; it never imports a sibling method).
_NOT_METHODS = {"base", "common"}
FAMILY_BASES = {"supernet_search"}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _NOT_METHODS and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["FAMILY_BASES", "METHODS", "TicketMethod", "Trial", "all_epoch_columns", "all_final_columns"]
