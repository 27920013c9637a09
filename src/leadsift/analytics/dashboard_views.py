"""The dashboard's figures, section by section, from the same services as the reports: the
funnel, the weekly trend, the best campaigns and sources by ROI, speed to lead, who waits."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.access.schemas import Role
from leadsift.access.sessions import SessionCaller
from leadsift.agents import speed_service
from leadsift.agents.schemas import WaitingProspect
from leadsift.agents.speed import Speed
from leadsift.analytics import funnel, roi
from leadsift.analytics.display_views import COLOURS, lines_chart
from leadsift.analytics.rendering import Report, defined_number

TOP: Final = 5
# Waiting prospects read (the CLI's default) and shown on the dashboard.
WAITING_READ: Final = 100
WAITING_SHOWN: Final = 10
ROI_COLUMNS: Final = ("cost", "revenue", "roi")


@dataclass(frozen=True)
class Stage:
    """One step of the funnel: how many reached it, from the step before and from the start."""

    name: str
    count: int
    step_rate: float | None
    overall_rate: float | None


@dataclass(frozen=True)
class Week:
    """Contacts who entered in one week (its Monday), and how many of them qualified, bought."""

    monday: str
    contacts: int
    qualified: int
    customers: int


@dataclass(frozen=True)
class FunnelFigures:
    """The funnel's stages (agents: of the contacts they own) and the report's notes."""

    own: bool
    stages: tuple[Stage, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class SpeedFigures:
    """Speed to lead (the caller's own row for agents; None when nobody qualified) and the SLA."""

    speed: Speed | None
    sla_minutes: float


@dataclass(frozen=True)
class WaitingFigures:
    """Prospects waiting beyond the SLA that the caller may see, and whether more may wait."""

    prospects: tuple[WaitingProspect, ...]
    more: bool


def period_of(now: datetime, weeks: int) -> tuple[datetime, datetime]:
    """WEEKS whole weeks of entry (Monday to Monday, UTC) ending with this one, to tomorrow."""
    monday = now.date() - timedelta(days=now.weekday())
    since = datetime.combine(monday - timedelta(weeks=weeks - 1), time(0), tzinfo=UTC)
    return since, datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)


def _count(row: dict[str, object], key: str) -> int:
    value = row.get(key)
    return value if isinstance(value, int) else 0


def _rate(row: dict[str, object], key: str) -> float | None:
    # A number as the reports hold it (undefined: None, never 0).
    return defined_number(row.get(key))


def _stages_of_all(report: Report) -> tuple[Stage, ...]:
    return tuple(
        Stage(str(row["stage"]), _count(row, "count"), _rate(row, "rate"), _rate(row, "overall"))
        for row in report.rows
    )


def _stages_of_counts(counts: dict[str, int]) -> tuple[Stage, ...]:
    """The funnel's stages from its counts (the rates as the funnel report has them)."""
    found = [counts[stage] for stage in funnel.STAGES]
    return tuple(
        Stage(
            stage, count, None if index == 0 else funnel.rate(count, found[index - 1]),
            None if index == 0 else funnel.rate(count, found[0]),
        )
        for index, (stage, count) in enumerate(zip(funnel.STAGES, found, strict=True))
    )  # fmt: skip


def funnel_figures(
    session: Session, caller: SessionCaller, since: datetime, until: datetime, now: datetime
) -> FunnelFigures:
    """The funnel of contacts who entered in [SINCE, UNTIL): the workspace's, or for an agent
    their own (their row of the funnel by agent: the contacts they own)."""
    if caller.caller.role is Role.AGENT:
        mine = funnel.counts_of_owner(
            session, user_id=caller.user.id, since=since, until=until, now=now
        )
        return FunnelFigures(True, _stages_of_counts(mine), ())
    whole = funnel.funnel(session, since=since, until=until, now=now)
    return FunnelFigures(False, _stages_of_all(whole), whole.notes)


def trend_figures(
    session: Session, since: datetime, until: datetime, now: datetime
) -> tuple[Week, ...]:
    """The funnel by week of entry: one entry per week of the period (a quiet week counts 0)."""
    rows = funnel.counts_by(session, by="cohort_week", since=since, until=until, now=now)
    found = []
    monday = since.date()
    while monday < until.date():
        row: dict[str, object] = dict(rows.get(monday.isoformat(), {}))
        found.append(
            Week(monday.isoformat(), _count(row, "contacts"), _count(row, "qualified"),
                 _count(row, "customers"))
        )  # fmt: skip
        monday += timedelta(weeks=1)
    return tuple(found)


def _top(report: Report) -> Report:
    """The TOP rows by ROI (a defined ROI first, then by revenue), with cost, revenue and ROI."""
    name = report.columns[0].key

    def best(row: dict[str, Any]) -> tuple[bool, float, float, str]:
        ratio = _rate(row, "roi")
        return (ratio is None, -(ratio or 0.0), -(_rate(row, "revenue") or 0.0), str(row[name]))

    rows = sorted(report.rows, key=best)[:TOP]
    columns = (report.columns[0], *(report.column(key) for key in ROI_COLUMNS))
    return dataclasses.replace(report, columns=columns, rows=tuple(rows), notes=(), chart=None)


def roi_figures(
    session: Session, since: datetime, until: datetime, now: datetime
) -> tuple[Report, Report]:
    """The best campaigns and the best sources by ROI over the period."""
    campaigns = roi.roi(session, now=now, by="campaign", since=since, until=until)
    sources = roi.roi(session, now=now, by="source", since=since, until=until)
    return _top(campaigns), _top(sources)


def speed_figures(
    session: Session, caller: SessionCaller, since: datetime, now: datetime
) -> SpeedFigures:
    """Speed to lead of prospects qualified since SINCE: the team's (the report's total), or an
    agent's own (their row of the report by agent)."""
    mine = caller.user.id if caller.caller.role is Role.AGENT else None
    found, sla = speed_service.summary(session, since=since, until=now, now=now, user_id=mine)
    return SpeedFigures(found if found.qualified else None, sla)


def waiting_figures(session: Session, caller: SessionCaller, now: datetime) -> WaitingFigures:
    """Who waits beyond the SLA among the contacts the caller may see, longest first."""
    found = speed_service.waiting(session, now=now, limit=WAITING_READ, caller=caller.caller)
    return WaitingFigures(tuple(found), len(found) >= WAITING_READ)


def funnel_chart(stages: tuple[Stage, ...], translate: Callable[..., str]) -> dict[str, Any]:
    """The funnel as horizontal bars, one per stage."""
    return {
        "type": "bar",
        "data": {
            "labels": [translate(stage.name) for stage in stages],
            "datasets": [
                {
                    "label": translate("contacts"),
                    "data": [stage.count for stage in stages],
                    "backgroundColor": COLOURS[0],
                }
            ],
        },
        "options": {"indexAxis": "y"},
    }


def trend_chart(weeks: tuple[Week, ...], translate: Callable[..., str]) -> dict[str, Any]:
    """New contacts, qualified and customers per week of entry, as lines."""
    return lines_chart(
        [week.monday for week in weeks],
        [
            (translate("New contacts"), [week.contacts for week in weeks]),
            (translate("Qualified"), [week.qualified for week in weeks]),
            (translate("Customers"), [week.customers for week in weeks]),
        ],
    )
