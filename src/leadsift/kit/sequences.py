"""Cutting long lists for SQL `IN (…)` lists; pure."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final, TypeVar

T = TypeVar("T")
# Values per statement: SQLite allows 32,766 bound parameters in one.
IN_LIST_SIZE: Final = 5_000


def pieces(values: Sequence[T], size: int = IN_LIST_SIZE) -> Iterator[Sequence[T]]:
    """VALUES in consecutive slices of at most SIZE."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
