"""Durations written the way marketers write them: `30d`, `12h`, `2w`, `15m`, `90s`; pure."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

UNIT_SECONDS: Final[dict[str, int]] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_PATTERN: Final[str] = r"[0-9]+(s|m|h|d|w)"
_DURATION = re.compile(DURATION_PATTERN)


def parse_duration(text: str) -> timedelta | None:
    """`30d` -> 30 days, `12h` -> 12 hours (units s, m, h, d, w); None when not a duration."""
    text = text.strip()
    if _DURATION.fullmatch(text) is None:
        return None
    amount, unit = int(text[:-1]), text[-1]
    try:
        return timedelta(seconds=amount * UNIT_SECONDS[unit])
    except OverflowError:
        return None


def format_duration(value: timedelta) -> str:
    """The shortest exact text form of a duration (`1209600 s` -> `2w`)."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = UNIT_SECONDS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
