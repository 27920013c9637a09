"""Speed to lead: how fast newly qualified prospects get their first touch from a person; pure.

A prospect not yet touched has no time to first touch: it is counted apart (waiting beyond the
SLA or not), never as a zero nor as an infinite time, so medians describe touched prospects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from leadsift.kit.stats import median, percentile


@dataclass(frozen=True)
class Qualified:
    """One qualification: its group (agent, source or team), when, and the first touch after."""

    group: str
    qualified_at: datetime
    first_touch_at: datetime | None


@dataclass(frozen=True)
class Speed:
    """Speed to lead of one group."""

    group: str
    qualified: int
    touched: int
    within_sla: int
    median_minutes: float | None
    p90_minutes: float | None
    waiting_beyond_sla: int


def speed_of(group: str, items: Iterable[Qualified], sla: timedelta, now: datetime) -> Speed:
    """The speed to lead of ITEMS (all of one group)."""
    touched: list[tuple[datetime, datetime]] = []
    untouched = waiting = 0
    for item in items:
        if item.first_touch_at is None:
            untouched += 1
            waiting += now - item.qualified_at > sla
        else:
            touched.append((item.qualified_at, item.first_touch_at))
    return speed_from(group, touched, untouched, waiting, sla)


def speed_from(
    group: str,
    touched: Iterable[tuple[datetime, datetime]],
    untouched: int,
    waiting: int,
    sla: timedelta,
) -> Speed:
    """The speed to lead of a group from its touched prospects' (qualified, first touch) times,
    how many were not touched, and how many of those wait beyond the SLA."""
    minutes = sorted(
        (touched_at - qualified_at).total_seconds() / 60 for qualified_at, touched_at in touched
    )
    limit = sla.total_seconds() / 60
    return Speed(
        group=group,
        qualified=len(minutes) + untouched,
        touched=len(minutes),
        within_sla=sum(1 for m in minutes if m <= limit),
        median_minutes=_rounded(median(minutes)),
        p90_minutes=_rounded(percentile(minutes, 0.9)),
        waiting_beyond_sla=waiting,
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def slowest_first(speeds: Iterable[Speed]) -> list[Speed]:
    """Groups' speeds, slowest median first (groups never touched first of all)."""
    return sorted(
        speeds,
        key=lambda s: (s.median_minutes is not None, -(s.median_minutes or 0.0), s.group),
    )


def by_group(items: Iterable[Qualified], sla: timedelta, now: datetime) -> list[Speed]:
    """Speed to lead per group, slowest median first (groups never touched first of all)."""
    groups: dict[str, list[Qualified]] = {}
    for item in items:
        groups.setdefault(item.group, []).append(item)
    return slowest_first(speed_of(name, members, sla, now) for name, members in groups.items())
