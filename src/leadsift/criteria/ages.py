"""Age predicates as sets of whole years and birth-date bounds computed from today; pure.

`age between 25 and 35` becomes a birth-date range (portable SQL, no dialect date functions):
age >= n  <=>  birth_date <= the same day n years ago.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from leadsift.criteria.ast import Between, Compare, InList, Predicate


@dataclass(frozen=True)
class YearRange:
    """Whole ages from `low` to `high` included; None is unbounded."""

    low: int | None
    high: int | None


def years_ago(today: date, years: int) -> date | None:
    """The same day `years` years before today (Feb 29 -> Feb 28); None outside the calendar."""
    year = today.year - years
    if not 1 <= year <= 9999:
        return None
    day = today.day
    if today.month == 2 and day == 29 and not _leap(year):
        day = 28
    return date(year, today.month, day)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _is_whole(value: float) -> bool:
    return float(value).is_integer()


def _complement(points: list[int]) -> list[YearRange]:
    ranges: list[YearRange] = []
    previous: int | None = None
    for point in sorted(set(points)):
        low = None if previous is None else previous + 1
        if low is None or low <= point - 1:
            ranges.append(YearRange(low, point - 1))
        previous = point
    ranges.append(YearRange(None if previous is None else previous + 1, None))
    return ranges


def _compare_ranges(op: str, value: float) -> list[YearRange]:
    if op == "=":
        return [YearRange(int(value), int(value))] if _is_whole(value) else []
    if op == "!=":
        return _complement([int(value)]) if _is_whole(value) else [YearRange(None, None)]
    if op == "<":
        return [YearRange(None, math.ceil(value) - 1)]
    if op == "<=":
        return [YearRange(None, math.floor(value))]
    if op == ">":
        return [YearRange(math.floor(value) + 1, None)]
    return [YearRange(math.ceil(value), None)]


def age_ranges(predicate: Predicate) -> list[YearRange]:
    """The whole ages a comparison, `between` or `in` on `age` accepts, as disjoint ranges."""
    if isinstance(predicate, Compare):
        value = predicate.value.value
        assert isinstance(value, int | float)  # noqa: S101 — guaranteed by the checker
        return _compare_ranges(predicate.op, value)
    if isinstance(predicate, Between):
        low, high = predicate.low.value, predicate.high.value
        assert isinstance(low, int | float) and isinstance(high, int | float)  # noqa: S101
        first, last = math.ceil(low), math.floor(high)
        return [YearRange(first, last)] if first <= last else []
    if isinstance(predicate, InList):
        points = [int(v.value) for v in predicate.values if _is_whole(v.value)]  # type: ignore[arg-type]
        if predicate.negated:
            return _complement(points)
        return [YearRange(p, p) for p in sorted(set(points))]
    raise TypeError(predicate)  # pragma: no cover — other predicates are compiled elsewhere
