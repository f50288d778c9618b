"""One exception family for the whole project, so the CLI can turn any of them into a clean exit 2."""


class TicketsError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(TicketsError):
    """A configuration key or value is invalid; the message names it and the valid choices."""


class DatasetNotFoundError(TicketsError):
    """A dataset is not on disk; the message says how to get it."""


class PruningError(TicketsError):
    """A pruning decision failed its checks (e.g. it would empty a layer)."""
