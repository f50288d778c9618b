"""Training loop pieces shared by every method: one epoch, evaluation, LR schedule, phases."""
