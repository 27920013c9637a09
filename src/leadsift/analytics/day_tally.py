"""The funnel facts counted per day of entry and group, and their spans per whole day: what a
set of facts adds to (or, before they change, takes from) the day rollups; and the value at a
rank of a histogram whose buckets are read exactly on demand. Pure."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

# Contacts still on their way (neither converted nor out of the funnel now).
OPEN_STAGES: Final = ("contact", "lead", "qualified")
# The groups a fact is counted in: each dimension's value ("" when it has none).
COUNT_DIMENSIONS: Final = (
    "all", "source", "region", "campaign", "channel", "utm_campaign", "touch",
    "unqualified_reason", "lost_reason",
)  # fmt: skip
# Dimensions whose contacts without a value are not counted (a reason only when one was given).
ONLY_WITH_VALUE: Final = frozenset({"unqualified_reason", "lost_reason"})
SPAN_DIMENSIONS: Final = ("all", "source", "region", "campaign", "channel", "utm_campaign")
# Time to convert by every dimension; the steps' times (stage-times) of everyone only.
MEASURES: Final = ("convert", "lead", "qualify", "win")
STEP_MEASURES: Final = ("lead", "qualify", "win")
COUNTS: Final = (
    "contacts",
    "leads",
    "qualified",
    "customers",
    "unqualified",
    "lost",
    "in_progress",
)
NONE: Final = ""

DayKey = tuple[str, str, date]  # dimension, value, day
SpanKey = tuple[str, str, str, date, int]  # measure, dimension, value, day, whole days


@dataclass(frozen=True)
class Fact:
    """What the rollups count of one contact's funnel fact."""

    day: date
    stage: str
    lead: bool  # reached lead, or a later stage
    qualified: bool  # reached qualified, or customer
    customer: bool
    groups: Mapping[str, str | None]  # dimension → value (None: none)
    spans: Mapping[str, int | None]  # measure → whole days (None: not made)


@dataclass
class Tally:
    """Counts per (dimension, value, day) and contacts per span key: sums, so signed."""

    days: dict[DayKey, list[int]]
    spans: dict[SpanKey, int]


def counts_of(fact: Fact) -> tuple[int, ...]:
    """The fact's contribution to each count, in the order of COUNTS."""
    return (
        1,
        int(fact.lead),
        int(fact.qualified),
        int(fact.customer),
        int(fact.stage == "unqualified"),
        int(fact.stage == "lost"),
        int(fact.stage in OPEN_STAGES),
    )


def tally(facts: Iterable[Fact], sign: int = 1) -> Tally:
    """What FACTS add to the rollups (SIGN -1: what they take away)."""
    found = Tally({}, {})
    for fact in facts:
        counts = counts_of(fact)
        for dimension in COUNT_DIMENSIONS:
            value = fact.groups.get(dimension)
            if value is None and dimension in ONLY_WITH_VALUE:
                continue
            key = (dimension, value or NONE, fact.day)
            sums = found.days.setdefault(key, [0] * len(COUNTS))
            for index, count in enumerate(counts):
                sums[index] += sign * count
        for measure in MEASURES:
            days = fact.spans.get(measure)
            if days is None:
                continue
            for dimension in SPAN_DIMENSIONS if measure == "convert" else ("all",):
                value = fact.groups.get(dimension) or NONE
                span = (measure, dimension, value, fact.day, days)
                found.spans[span] = found.spans.get(span, 0) + sign
    return found


def merge(into: Tally, other: Tally) -> Tally:
    """INTO with OTHER's sums added."""
    for key, counts in other.days.items():
        sums = into.days.setdefault(key, [0] * len(COUNTS))
        for index, count in enumerate(counts):
            sums[index] += count
    for span, contacts in other.spans.items():
        into.spans[span] = into.spans.get(span, 0) + contacts
    return into


def median_ranks(total: int) -> tuple[int, ...]:
    """The 0-based ranks a median of TOTAL sorted values reads (two when TOTAL is even)."""
    if not total:
        return ()
    middle = total // 2
    return (middle,) if total % 2 else (middle - 1, middle)


def nearest_rank(total: int, fraction: float) -> int:
    """The 0-based rank of the FRACTION percentile (nearest rank) of TOTAL values."""
    return max(math.ceil(fraction * total), 1) - 1 if total else -1


def values_at(
    histogram: Mapping[int, int],
    ranks: Sequence[int],
    read: Callable[[int, int], float | None],
) -> dict[int, float] | None:
    """The values at RANKS (0-based) of the sorted values HISTOGRAM counts per bucket (buckets
    in the values' order); READ(bucket, offset) gives the OFFSET-th smallest value of a bucket.
    None when a bucket does not hold what the histogram counts (the rollup is behind)."""
    found: dict[int, float] = {}
    seen, wanted = 0, sorted(set(ranks))
    for bucket in sorted(histogram):
        size = histogram[bucket]
        while wanted and wanted[0] < seen + size:
            value = read(bucket, wanted[0] - seen)
            if value is None:
                return None
            found[wanted.pop(0)] = value
        seen += size
    return found if not wanted else None
