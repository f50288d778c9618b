"""Ticket-drawing algorithms in plain PyTorch: models, data, masks, pruning, training. No Ray inside."""
