"""Pruning decisions (what matters, how much) and their application (how to cut), kept apart."""
