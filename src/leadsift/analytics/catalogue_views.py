"""The reports the web pages offer: each `leadsift report …` command, and `speed report|waiting`,
with its options as form filters, read into the same service call the command makes."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, Literal

from sqlalchemy.orm import Session

from leadsift.agents import speed_service
from leadsift.analytics import (
    agent_days,
    attribution_report,
    breakdowns,
    funnel,
    lift_report,
    roi,
    rollups,
)
from leadsift.analytics import repository as funnel_repository
from leadsift.analytics.display_views import Refresh
from leadsift.analytics.rendering import Column, Report
from leadsift.kit.durations import parse_duration

FilterKind = Literal["choice", "date", "text", "number", "integer", "duration"]
Values = dict[str, Any]
# The CLI's default period: the last 365 days up to tomorrow (speed to lead: the last 30 days).
DEFAULT_DAYS: Final = 365
SPEED_DAYS: Final = 30
MAX_TEXT: Final = 200


class FilterError(ValueError):
    """A filter value the report cannot take: which field, and an English message with values
    (translated by the page)."""

    def __init__(self, field: str, text: str, **values: object) -> None:
        super().__init__(text.format(**values))
        self.field = field
        self.text = text
        self.values = values


@dataclass(frozen=True)
class Filter:
    """One filter of a report's form: its query name, label, kind and what it accepts."""

    name: str
    label: str
    kind: FilterKind
    choices: tuple[str, ...] = ()
    default: str = ""
    hint: str = ""
    required: bool = False
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class ReportPage:
    """A report of the catalogue: its name in URLs, title, summary, filters and how it is built."""

    name: str
    title: str
    summary: str
    filters: tuple[Filter, ...]
    build: Callable[[Session, Values, datetime], Report]
    refreshes: tuple[Refresh, ...] = ()


def _as_day(text: str) -> datetime:
    return datetime.combine(date.fromisoformat(text), time(0), tzinfo=UTC)


def _number(spec: Filter, text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise FilterError(spec.name, "Give a number, such as {example}.", example="10") from None
    if not math.isfinite(number):
        raise FilterError(spec.name, "Give a number, such as {example}.", example="10")
    return number


def _integer(spec: Filter, text: str) -> int:
    if not text.isdigit() or len(text) > 12:
        raise FilterError(spec.name, "Give a whole number, such as {example}.", example="20")
    number = int(text)
    low, high = spec.low or 1, spec.high or 10**12
    if not low <= number <= high:
        raise FilterError(
            spec.name, "Give a whole number from {low} to {high}.", low=int(low), high=int(high)
        )
    return number


def _read(spec: Filter, text: str) -> object:
    if len(text) > MAX_TEXT:
        raise FilterError(spec.name, "At most {size} characters.", size=MAX_TEXT)
    if spec.kind == "choice":
        if text not in spec.choices:
            raise FilterError(
                spec.name, "Choose one of {choices}.", choices=", ".join(spec.choices)
            )
        return text
    if spec.kind == "date":
        try:
            return _as_day(text)
        except ValueError:
            raise FilterError(
                spec.name, "Give a date such as {example}.", example="2026-11-01"
            ) from None
    if spec.kind == "duration":
        span = parse_duration(text)
        if not span:
            raise FilterError(spec.name, "Give a duration such as {example}.", example="14d")
        return span
    if spec.kind == "number":
        return _number(spec, text)
    if spec.kind == "integer":
        return _integer(spec, text)
    return text


def read_filters(report: ReportPage, query: Mapping[str, str]) -> Values:
    """The report's filter values from a query (defaults for those not given); FilterError on
    the first value it cannot take."""
    values: Values = {}
    for spec in report.filters:
        text = (query.get(spec.name) or "").strip() or spec.default
        if not text:
            if spec.required:
                raise FilterError(spec.name, "{name} is required.", name=spec.label)
            values[spec.name] = None
            continue
        values[spec.name] = _read(spec, text)
    since, until = values.get("from"), values.get("to")
    if isinstance(since, datetime) and isinstance(until, datetime) and since >= until:
        raise FilterError("to", "“From” must be before “To”.")
    return values


def period(values: Values, now: datetime, days: int = DEFAULT_DAYS) -> tuple[datetime, datetime]:
    """From/to as the CLI reads them: by default DAYS up to tomorrow (midnight UTC)."""
    end = values.get("to") or datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)
    start = values.get("from") or end - timedelta(days=days)
    if start >= end:
        raise FilterError("from", "“From” must be before “To”.")
    return start, end


FROM: Final = Filter("from", "From", "date", hint="YYYY-MM-DD")
TO: Final = Filter("to", "To (excluded)", "date", hint="YYYY-MM-DD")


def _funnel(session: Session, values: Values, now: datetime) -> Report:
    start, end = period(values, now)
    return funnel.funnel(session, by=values["by"], since=start, until=end, now=now)


def _stage_times(session: Session, values: Values, now: datetime) -> Report:
    start, end = period(values, now)
    return funnel.time_in_stage(session, since=start, until=end, now=now)


def _reasons(session: Session, values: Values, now: datetime) -> Report:
    start, end = period(values, now)
    return funnel.reasons(session, since=start, until=end, now=now)


def _roi(session: Session, values: Values, now: datetime) -> Report:
    # All time unless from/to, as `report roi`.
    return roi.roi(session, now=now, by=values["by"], since=values["from"], until=values["to"])


def _attribution(session: Session, values: Values, now: datetime) -> Report:
    if values["contact"] is not None:
        return attribution_report.contact_credits(session, values["contact"], now)
    start, end = period(values, now)
    return attribution_report.attribution(session, since=start, until=end, now=now)


def _lift(session: Session, values: Values, _now: datetime) -> Report:
    by = values["by"]
    if by is not None and not (
        by in lift_report.SEGMENTS or (by.startswith("attrs.") and len(by) > len("attrs."))
    ):
        raise FilterError(
            "by", "Split by {choices} or a custom attribute attrs.KEY.",
            choices=", ".join(lift_report.SEGMENTS),
        )  # fmt: skip
    return lift_report.lift_report(session, values["campaign"], window=values["window"], by=by)


def _campaigns(session: Session, _values: Values, now: datetime) -> Report:
    return breakdowns.campaigns(session, now=now)


def _sources(session: Session, values: Values, now: datetime) -> Report:
    start, end = period(values, now)
    return breakdowns.sources(session, since=start, until=end, now=now)


def _agents(session: Session, values: Values, now: datetime) -> Report:
    start, end = period(values, now)
    return breakdowns.agents(session, since=start, until=end, now=now)


def _interest(session: Session, values: Values, now: datetime) -> Report:
    return breakdowns.interest_no_purchase(
        session, threshold=values["threshold"], now=now, limit=values["limit"]
    )


def speed_report(
    session: Session, *, by: str, since: datetime, until: datetime, now: datetime,
    sla: timedelta | None = None,
) -> Report:  # fmt: skip
    """`speed report` as a report value: per group and in total (the last row)."""
    found = speed_service.report(session, by=by, since=since, until=until, now=now, sla=sla)
    return Report(
        title="Speed to lead",
        columns=(
            Column("group", by, "text"),
            Column("qualified", "qualified", "count"),
            Column("touched", "touched", "count"),
            Column("within_sla", "within SLA", "count"),
            Column("median_minutes", "median", "minutes"),
            Column("p90_minutes", "p90", "minutes"),
            Column("waiting_beyond_sla", "waiting beyond the SLA", "count"),
        ),
        rows=tuple(asdict(speed) for speed in [*found.rows, found.total]),
        notes=(f"SLA {found.sla_minutes:g} minutes",),
        meta={"by": by, "from": since.isoformat(), "to": until.isoformat(),
              "sla_minutes": found.sla_minutes},
    )  # fmt: skip


def _speed(session: Session, values: Values, now: datetime) -> Report:
    end = values["to"] or now
    start = values["from"] or end - timedelta(days=SPEED_DAYS)
    if start >= end:
        raise FilterError("from", "“From” must be before “To”.")
    return speed_report(
        session, by=values["by"], since=start, until=end, now=now, sla=values["sla"]
    )


def _waiting(session: Session, values: Values, now: datetime) -> Report:
    found = speed_service.waiting(session, now=now, sla=values["sla"], limit=values["limit"])
    return Report(
        title="Waiting beyond the SLA",
        columns=(
            Column("contact_id", "contact", "text"),
            Column("qualified_at", "qualified at", "text"),
            Column("waiting_minutes", "waiting", "minutes"),
            Column("owner", "owner", "text"),
            Column("source", "source", "text"),
        ),
        rows=tuple(
            {**item.model_dump(), "qualified_at": item.qualified_at.isoformat(timespec="minutes")}
            for item in found
        ),
        notes=() if found else ("nobody is waiting beyond the SLA",),
    )


SLA: Final = Filter("sla", "SLA", "duration", hint="1h, 30m, 2d")
_FRESH: Final[tuple[Refresh, ...]] = (rollups.refresh,)
REPORTS: Final = (
    ReportPage(
        "funnel", "Funnel", "Contacts → leads → qualified → customers: step and overall rates.",
        (Filter("by", "Split by", "choice", tuple(funnel_repository.DIMENSIONS), "all"),
         FROM, TO),
        _funnel, _FRESH,
    ),
    ReportPage(
        "stage-times", "Time in stage", "How long each step took (median, p90).",
        (FROM, TO), _stage_times, _FRESH,
    ),
    ReportPage(
        "reasons", "Reasons", "Unqualified and lost contacts by reason.",
        (FROM, TO), _reasons, _FRESH,
    ),
    ReportPage(
        "roi", "ROI", "Cost, results, ROI and return on ad spend (all time unless dates).",
        (Filter("by", "Split by", "choice", roi.DIMENSIONS, "campaign"), FROM, TO),
        _roi, _FRESH,
    ),
    ReportPage(
        "attribution", "Attribution", "Conversions credited to touches under five models.",
        (FROM, TO, Filter("contact", "One contact (id)", "integer", hint="1234")),
        _attribution, (*_FRESH, attribution_report.refresh),
    ),
    ReportPage(
        "lift", "Lift", "A campaign's treated contacts against its control group.",
        (Filter("campaign", "Campaign", "text", required=True),
         Filter("window", "Window", "duration", default="14d", hint="14d"),
         Filter("by", "Split by", "text", hint="source, region, country, attrs.KEY")),
        _lift,
    ),
    ReportPage(
        "campaigns", "Campaigns", "Sent, opened, clicked, replies, purchases, revenue, cost.",
        (), _campaigns, _FRESH,
    ),
    ReportPage(
        "sources", "Sources", "The funnel by source, with cost per lead and per customer.",
        (FROM, TO), _sources, _FRESH,
    ),
    ReportPage(
        "agents", "Agents", "Per agent: prospects, calls, won, lost, win rate, revenue.",
        (FROM, TO), _agents, (*_FRESH, agent_days.refresh),
    ),
    ReportPage(
        "interest-no-purchase", "Interest but no purchase",
        "Who showed interest but did not buy (for remarketing).",
        (Filter("threshold", "Interest at least", "number", default="10"),
         Filter("limit", "Contacts listed", "integer", default="20", low=1, high=10_000)),
        _interest, _FRESH,
    ),
    ReportPage(
        "speed", "Speed to lead", "Time from qualification to the first touch by a person.",
        (Filter("by", "Split by", "choice", speed_service.GROUPS, "agent"),
         Filter("from", "From", "date", hint="YYYY-MM-DD"),
         Filter("to", "To (excluded)", "date", hint="YYYY-MM-DD"), SLA),
        _speed,
    ),
    ReportPage(
        "waiting", "Waiting beyond the SLA", "Qualified prospects nobody has touched yet.",
        (SLA, Filter("limit", "Contacts listed", "integer", default="100", low=1, high=10_000)),
        _waiting,
    ),
)  # fmt: skip
BY_NAME: Final = {report.name: report for report in REPORTS}
