"""Thin Ray Tune adapters around the plain-PyTorch methods in `lottery`."""
from trainables.ticket_trainable import RayTuneSession, ticket_trainable

__all__ = ["RayTuneSession", "ticket_trainable"]
