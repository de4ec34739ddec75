"""A request's time budget, shared by every Firestore and Twilio call it makes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Deadline:
    seconds: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return max(0.0, self.started + self.seconds - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def elapsed_ms(self) -> float:
        return round((time.monotonic() - self.started) * 1000, 1)

    def share(self, fraction: float) -> Deadline:
        """A deadline for one step that must leave the rest of the budget to the steps after it."""
        return Deadline(self.remaining() * fraction)
