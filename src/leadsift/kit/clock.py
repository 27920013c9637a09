"""The one place that reads the wall clock, so tests can freeze time."""

from __future__ import annotations

from datetime import UTC, date, datetime


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def today() -> date:
    """Return today's date in UTC."""
    return utcnow().date()
