"""Reconnect policy: exponential backoff with full jitter and a cap. Pure; no I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float = 1.0
    maximum_s: float = 60.0
    factor: float = 2.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before reconnect attempt ``attempt`` (0-based).

        Full jitter (uniform in [0, ceiling]) spreads a fleet that lost its CSMS at
        once, so the reconnect storm does not hit it in lock-step; half the ceiling is
        kept as a floor so one charger never hammers a dead CSMS.
        """
        ceiling = min(self.maximum_s, self.initial_s * self.factor ** min(attempt, 32))
        r = (rng or random).random()
        return ceiling / 2 + r * ceiling / 2
