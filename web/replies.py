"""What a handler answers, and the one way a request is turned away."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime import logs


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def reject(status: int, reason: str, **headers: str) -> Reply:
    """A refusal: the same one line goes to the caller and to the log (ERROR when the fault is ours)."""
    log = logs.error if status >= 500 else logs.warning
    log(f"rejected: {reason}", status=status)
    return Reply(status, {"error": reason}, dict(headers))
