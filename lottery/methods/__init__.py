"""Registered ticket methods. Importing this package registers them all."""
from lottery.methods.base import METHODS, Session, TicketMethod
from lottery.methods import dense, earlybird  # noqa: F401  (registration side effect)

__all__ = ["METHODS", "Session", "TicketMethod"]
