"""Capped exponential back-off, so an unreachable remote costs no busy loop and no log flood."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, first: float = 1.0, cap: float = 60.0, factor: float = 2.0) -> None:
        self.first = first
        self.cap = cap
        self.factor = factor
        self.failures = 0

    def next_delay(self) -> float:
        """The wait before the next try; grows with every failure up to `cap` (±10 % jitter
        so that many replicas do not retry in lock-step)."""
        delay = min(self.cap, self.first * self.factor ** self.failures)
        self.failures += 1
        return delay * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not security

    def reset(self) -> None:
        self.failures = 0
