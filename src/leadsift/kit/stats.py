"""Medians and percentiles of already sorted values (for time-to-X figures); pure."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """The FRACTION percentile (nearest rank) of already sorted values; None when empty."""
    if not sorted_values:
        return None
    rank = max(math.ceil(fraction * len(sorted_values)), 1)
    return sorted_values[rank - 1]


def median(sorted_values: Sequence[float]) -> float | None:
    """The median of already sorted values (mean of the middle two when even); None when empty."""
    n = len(sorted_values)
    if not n:
        return None
    middle = n // 2
    if n % 2:
        return sorted_values[middle]
    return (sorted_values[middle - 1] + sorted_values[middle]) / 2
