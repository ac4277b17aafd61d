"""Capped exponential back-off, so an unreachable remote or server costs no busy loop and
no log flood. A policy only: each user keeps its own count of failures."""

from __future__ import annotations

import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    first: float = 1.0
    factor: float = 2.0
    cap: float = 60.0

    def delay(self, failures: int) -> float:
        """The wait after `failures` failures in a row: first, first*factor, ... up to
        `cap`, with ±10 % jitter so that many replicas do not retry in lock-step."""
        base = min(self.cap, self.first * self.factor ** max(0, failures))
        return base * (0.9 + 0.2 * secrets.randbelow(1001) / 1000)
