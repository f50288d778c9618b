"""Registered ticket methods. Importing this package imports every module in it, which registers them."""
import importlib
import pkgutil

from lottery.methods.base import METHODS, Session, TicketMethod

_NOT_METHODS = {"base", "common"}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _NOT_METHODS and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["METHODS", "Session", "TicketMethod"]
