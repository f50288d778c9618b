"""The Early-Bird detector: a FIFO of recent masks; fire when the newest is close to all older ones."""
from __future__ import annotations

from collections import deque
from typing import Any

import torch

from lottery.errors import ConfigError
from lottery.pruning.channel_mask import mask_distance


class EarlyBirdDetector:
    """Queue of the last `queue_size` flat masks (the initial mask counts).

    Following the reference code, the ticket is drawn when the queue is full and the distance
    between the newest mask and every older mask in it is <= epsilon.
    """

    def __init__(self, queue_size: int = 5, epsilon: float = 0.1) -> None:
        if queue_size < 2:
            raise ConfigError(f"invalid value {queue_size!r} for method.eb_queue; valid: an integer >= 2")
        if not 0.0 <= epsilon <= 1.0:
            raise ConfigError(f"invalid value {epsilon!r} for method.eb_epsilon; valid: a number in [0, 1]")
        self.queue_size = queue_size
        self.epsilon = epsilon
        self._masks: deque[torch.Tensor] = deque(maxlen=queue_size)

    def push(self, flat_mask: torch.Tensor) -> bool:
        """Add the newest mask; returns whether the Early-Bird ticket is drawn now."""
        self._masks.append(flat_mask.detach().bool().cpu().clone())
        return self.fired()

    def distances(self) -> list[float]:
        """Distance of the newest mask to each older mask in the queue (oldest first)."""
        if len(self._masks) < 2:
            return []
        newest = self._masks[-1]
        return [mask_distance(newest, old) for old in list(self._masks)[:-1]]

    def max_distance(self) -> float:
        """Largest of `distances()`, NaN while fewer than two masks are queued."""
        d = self.distances()
        return max(d) if d else float("nan")

    def fired(self) -> bool:
        return len(self._masks) == self.queue_size and all(d <= self.epsilon for d in self.distances())

    def state_dict(self) -> dict[str, Any]:
        return {"queue_size": self.queue_size, "epsilon": self.epsilon, "masks": list(self._masks)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.queue_size = int(state["queue_size"])
        self.epsilon = float(state["epsilon"])
        self._masks = deque((m.bool() for m in state["masks"]), maxlen=self.queue_size)
