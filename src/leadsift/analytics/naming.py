"""How report rows named by people (campaigns, sources) are ordered; pure."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[tuple[int, int | str], ...], str]:
    """A sort key that orders numbers inside names by value: traffic-2 before traffic-10.

    Case-insensitive first, then the exact text, so the order is total and stable.
    """
    parts = _DIGITS.split(name.casefold())
    key = tuple((1, int(part)) if part.isdigit() else (0, part) for part in parts if part)
    return key, name
