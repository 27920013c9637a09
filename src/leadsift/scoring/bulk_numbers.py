"""Helpers of the bulk feature reads: numbers parsed from long texts in C, the collector off."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from leadsift.scoring.dataset import CodedTexts

# Integers above this are written by SQLite in exponent form when they come from a JSON real,
# and its CAST then reads only the leading digits: such values take the general query.
EXACT_INTEGER = 1e15


@contextmanager
def no_collection() -> Iterator[None]:
    """The cyclic collector off while millions of acyclic tuples and lists are made (it would
    run hundreds of times for nothing); back on afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parsed(joined: str, count: int) -> np.ndarray | None:
    """COUNT comma-separated numbers (`nan` for a missing one) parsed in C, or None unless
    the text holds exactly COUNT numbers."""
    if not count:
        return np.zeros(0)
    with warnings.catch_warnings():
        # numpy warns, and stops, at the first text that is not a number.
        warnings.simplefilter("error", DeprecationWarning)
        try:
            values = np.fromstring(joined, dtype=np.float64, sep=",")
        except (ValueError, DeprecationWarning):
            return None
    return values if len(values) == count else None


def whole(column: np.ndarray) -> bool:
    """Whether every value is a whole number read back exactly (NaN allowed)."""
    present = column[~np.isnan(column)]
    return bool(np.all(present == np.floor(present)) and np.all(np.abs(present) < EXACT_INTEGER))


def joined(parts: Sequence[Any]) -> Any:
    """Slices of one column (arrays, lists or coded texts) as one column."""
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    if isinstance(parts[0], CodedTexts):
        index: dict[Any, int] = {}
        codes = [
            np.asarray([index.setdefault(v, len(index)) for v in part.values], np.int32)[part.codes]
            for part in parts
        ]
        return CodedTexts(np.concatenate(codes), list(index))
    out: list[Any] = []
    for part in parts:
        out.extend(part)
    return out


def taken(column: Any, order: np.ndarray) -> Any:
    """A column's values in ORDER (positions)."""
    if isinstance(column, np.ndarray):
        return column[order]
    if isinstance(column, CodedTexts):
        return CodedTexts(column.codes[order], column.values)
    return [column[i] for i in order]
