"""Delivery failures: how long to wait before the next attempt, and which failures are final;
pure."""

from __future__ import annotations

from datetime import timedelta
from typing import Final, Literal

# After this many temporary failures of the same message, give up and suppress.
SOFT_FAILURE_LIMIT: Final = 5
# Waits after attempts 1, 2, 3, 4 and (the last value) every later one: quick for a greylisting
# server, then spread over hours for a full mailbox or a server down.
_BACKOFF: Final = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)


def backoff(attempt: int) -> timedelta:
    """The wait after failed attempt number ATTEMPT (1 → 1 min, 2 → 5 min, … ≥ 5 → 6 h)."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    return _BACKOFF[min(attempt, len(_BACKOFF)) - 1]


def smtp_failure_kind(code: int) -> Literal["hard", "soft"]:
    """Whether an SMTP reply code is a permanent (5xx) or a temporary (4xx) failure."""
    if 500 <= code <= 599:
        return "hard"
    if 400 <= code <= 499:
        return "soft"
    raise ValueError(f"SMTP reply code {code} is not a failure (expected 4xx or 5xx)")
