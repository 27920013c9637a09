"""The funnel's figures read from the day rollups: counts per group over whole days of entry
(the facts of a period's partial first and last day added), and times to convert or per step
at their exact ranks — the rollup's spans say which whole day holds a rank, the facts of that
day count only give its exact value. The same figures as the facts give, in a few hundred rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Final

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from leadsift.analytics import day_repository as sql
from leadsift.analytics.day_repository import GROUP_COLUMNS
from leadsift.analytics.day_tally import (
    COUNTS,
    NONE,
    STEP_MEASURES,
    Tally,
    median_ranks,
    merge,
    nearest_rank,
    tally,
    values_at,
)

# Dimensions of the funnel the rollups answer (the agent's, an owner now, is read from facts).
ROLLED: Final = (
    "all", "cohort_week", "cohort_month", "source", "region", "utm_campaign", "campaign",
    "channel",
)  # fmt: skip
_COHORTS: Final = ("all", "cohort_week", "cohort_month")
_DAY: Final = 86_400.0


@dataclass(frozen=True)
class GroupFigures:
    """One group of a funnel: its name (None: no value), counts, and days to convert."""

    name: str | None
    counts: dict[str, int]
    median_days: float | None
    p90_days: float | None


@dataclass(frozen=True)
class FunnelFigures:
    """The funnel's groups in report order, and the p90 of every conversion (seconds)."""

    groups: tuple[GroupFigures, ...]
    p90_seconds: float | None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def day_split(
    since: datetime, until: datetime
) -> tuple[date, date, list[tuple[datetime, datetime]]]:
    """[SINCE, UNTIL) as the whole UTC days [first, end) (none when first >= end) and the
    partial days before and after them."""
    first = sql.utc_date(since) + timedelta(days=int(_midnight(sql.utc_date(since)) < since))
    end = sql.utc_date(until)
    edges = [(since, _midnight(first)), (_midnight(end), until)]
    return first, end, [(start, stop) for start, stop in edges if start < stop]


def sums(
    session: Session, dimension: str, since: datetime, until: datetime,
    measures: tuple[str, ...] = (), *, by_day: bool = False,
) -> Tally:  # fmt: skip
    """DIMENSION's counts and spans of MEASURES for entries in [SINCE, UNTIL): whole days from
    the rollup (summed over the days, unless BY_DAY), partial days from the facts (by day)."""
    first, end, edges = day_split(since, until)
    if first >= end:
        return tally(sql.facts_between(session, since, until))
    found = sql.day_sums(session, dimension, first, end, measures, by_day=by_day)
    for start, stop in edges:
        merge(found, tally(sql.facts_between(session, start, stop)))
    return found


def _group_of(by: str) -> Callable[[str, date], str]:
    """The report's group of a rollup value and day."""
    if by == "all":
        return lambda _value, _day: "all"
    if by == "cohort_week":
        return lambda _value, day: (day - timedelta(days=day.weekday())).isoformat()
    if by == "cohort_month":
        return lambda _value, day: day.isoformat()[:7]
    return lambda value, _day: value


def _period_of(by: str, group: str, since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The part of [SINCE, UNTIL) a cohort GROUP covers (the whole of it for other groups)."""
    if by == "cohort_week":
        start = _midnight(date.fromisoformat(group))
        return max(since, start), min(until, start + timedelta(weeks=1))
    if by == "cohort_month":
        start = _midnight(date.fromisoformat(group + "-01"))
        following = (start + timedelta(days=32)).replace(day=1)
        return max(since, start), min(until, following)
    return since, until


def _where(by: str, group: str) -> ColumnElement[bool] | None:
    if by in _COHORTS:
        return None
    found: ColumnElement[bool] = (
        GROUP_COLUMNS[by].is_(None) if group == NONE else GROUP_COLUMNS[by] == group
    )
    return found


def _ranked(
    session: Session, histogram: dict[int, int], period: tuple[datetime, datetime],
    where: ColumnElement[bool] | None, ranks: tuple[int, ...],
) -> dict[int, float] | None:  # fmt: skip
    return values_at(
        histogram,
        ranks,
        lambda bucket, offset: sql.value_at(
            session, "convert", bucket, offset, period=period, where=where
        ),
    )


def _name(by: str, group: str) -> str | None:
    return None if by not in _COHORTS and group == NONE else group


class BehindError(Exception):
    """The rollup does not hold what the facts do (read the facts instead)."""


def funnel(
    session: Session, by: str, since: datetime, until: datetime, *, times: bool = True
) -> FunnelFigures:
    """The funnel BY a rolled dimension for entries in [SINCE, UNTIL) (without TIMES: counts
    only); BehindError when the rollup and the facts disagree."""
    dimension = "all" if by in _COHORTS else by
    found = sums(
        session, dimension, since, until, ("convert",) if times else (), by_day=by != dimension
    )
    group_of = _group_of(by)
    counts: dict[str, list[int]] = {}
    for (name, value, day), figures in found.days.items():
        if name == dimension:
            sums_of = counts.setdefault(group_of(value, day), [0] * len(COUNTS))
            for index, count in enumerate(figures):
                sums_of[index] += count
    histograms: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    overall: dict[int, int] = defaultdict(int)
    for (measure, name, value, day, days), contacts in found.spans.items():
        if measure == "convert" and name == dimension and contacts:
            histograms[group_of(value, day)][days] += contacts
            overall[days] += contacts
    names = [group for group, figures in counts.items() if figures[0]]
    names = sorted(names) if by in _COHORTS else sql.ordered(session, names)
    if not times:
        empty = (GroupFigures(_name(by, g), dict(zip(COUNTS, counts[g], strict=True)), None, None)
                 for g in names)  # fmt: skip
        return FunnelFigures(tuple(empty), None)
    groups = []
    for group in names:
        histogram = histograms.get(group, {})
        total = sum(histogram.values())
        middle, p90 = median_ranks(total), nearest_rank(total, 0.9)
        period = _period_of(by, group, since, until)
        values = _ranked(session, histogram, period, _where(by, group), (*middle, p90))
        if values is None:
            raise BehindError(group)
        halves = [values[rank] / _DAY for rank in middle]
        groups.append(
            GroupFigures(
                _name(by, group),
                dict(zip(COUNTS, counts[group], strict=True)),
                (sum(halves) / 2 if len(halves) == 2 else halves[0]) if halves else None,
                values[p90] / _DAY if total else None,
            )
        )
    rank = nearest_rank(sum(overall.values()), 0.9)
    every = _ranked(session, dict(overall), (since, until), None, (rank,)) if rank >= 0 else {}
    if every is None:
        raise BehindError("all")
    return FunnelFigures(tuple(groups), every.get(rank))


def step_times(
    session: Session, since: datetime, until: datetime
) -> dict[str, tuple[int, float | None, float | None]] | None:
    """Per step measure (lead, qualify, win): contacts who made it among those who entered in
    [SINCE, UNTIL), and the whole hours at the median and p90 (nearest rank); None when the
    rollup and the facts disagree."""
    found = sums(session, "all", since, until, STEP_MEASURES)
    figures: dict[str, tuple[int, float | None, float | None]] = {}
    for measure in STEP_MEASURES:
        histogram: dict[int, int] = defaultdict(int)
        for (name, dimension, _, _, days), contacts in found.spans.items():
            if name == measure and dimension == "all":
                histogram[days] += contacts
        total = sum(histogram.values())
        ranks = (nearest_rank(total, 0.5), nearest_rank(total, 0.9))
        read = partial(sql.value_at, session, measure, period=(since, until))
        values = values_at(histogram, ranks if total else (), read)
        if values is None:
            return None
        figures[measure] = (total, values.get(ranks[0]), values.get(ranks[1]))
    return figures


def group_counts(
    session: Session, dimension: str, since: datetime, until: datetime
) -> dict[str | None, dict[str, int]]:
    """Counts per group of DIMENSION (None: no value) for entries in [SINCE, UNTIL)."""
    found: dict[str | None, dict[str, int]] = {}
    for (name, value, _), figures in sums(session, dimension, since, until).days.items():
        if name != dimension:
            continue
        group = found.setdefault(value or None, dict.fromkeys(COUNTS, 0))
        for key, count in zip(COUNTS, figures, strict=True):
            group[key] += count
    return {group: counts for group, counts in found.items() if counts["contacts"]}
