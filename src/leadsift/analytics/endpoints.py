"""Reports over the API: each `leadsift report NAME` at `GET /api/v1/reports/NAME`, its options
as query parameters, answering the JSON `leadsift --json report NAME` prints (or its CSV with
`format=csv`), after bringing the rollups up to date as the command does."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy.orm import Session

from leadsift.access.endpoints import RATE_LIMITED, allow
from leadsift.access.repository import is_visible
from leadsift.access.schemas import Caller, Role, Scope
from leadsift.analytics import attribution_report, breakdowns, funnel, rendering, roi
from leadsift.analytics import repository as funnel_repository
from leadsift.analytics.cli import day, period
from leadsift.analytics.lift_report import SEGMENTS, lift_report
from leadsift.analytics.rendering import Report
from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.kit.durations import parse_duration
from leadsift.kit.query import strict_query
from leadsift.kit.web import NO_NUL, ErrorBody, error_responses, writing_session

router = APIRouter(
    prefix="/api/v1", tags=["reports"], responses=error_responses(401, 403, described=RATE_LIMITED)
)
# As the report pages: administrators and managers; agents have their own console.
_READERS: Final = strict_query(allow(Scope.READ, roles={Role.ADMIN, Role.MANAGER}))
BUSY: Final[dict[int | str, dict[str, Any]]] = {503: {"model": ErrorBody, "description": (
    "The database cannot take the request now (on SQLite a long job may hold its one writer): "
    "retry in a minute.")}}  # fmt: skip
_REPORT_ANSWER: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "description": "The report: JSON as `leadsift --json report NAME` prints it, or with "
        "`format=csv` the CSV of `--format csv` (a header of column keys, then raw values).",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    **error_responses(422),
    **BUSY,
}

_ISO_DAY: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_day(value: object) -> object:
    """A day only as YYYY-MM-DD (pydantic alone also reads 0, a timestamp, as 1970-01-01)."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DAY.fullmatch(value)):
        return value
    raise ValueError("give a date as YYYY-MM-DD, such as 2026-11-01")


IsoDay = Annotated[date, BeforeValidator(_iso_day)]
# Reports read whole days; dates out of this range are refused rather than overflowing.
_DAY_RANGE: Final = {"ge": date(1900, 1, 1), "le": date(9000, 12, 31)}
Since = Annotated[
    IsoDay | None,
    Query(alias="from", description="From this day (YYYY-MM-DD, UTC; 1900 to 9000).", **_DAY_RANGE),
]
Until = Annotated[
    IsoDay | None,
    Query(alias="to", description="Up to this day, excluded (YYYY-MM-DD).", **_DAY_RANGE),
]
Format = Annotated[
    Literal["json", "csv"], Query(alias="format", description="json (the default) or csv.")
]


def _choice(names: tuple[str, ...]) -> Any:
    """A query parameter taking one of NAMES (checked by the report itself, as on the CLI)."""
    return Query(
        max_length=40, description=f"One of {', '.join(names)}.",
        json_schema_extra={"enum": list(names)},
    )  # fmt: skip


class ReportColumn(BaseModel):
    """A column: the row key it reads, its heading and how its values read."""

    key: str
    label: str
    kind: str = Field(description="text, count, rate, money, minutes or number")


class ReportDocument(BaseModel):
    """A report as `leadsift --json report NAME` prints it; undefined values are null."""

    title: str
    columns: list[ReportColumn]
    rows: list[dict[str, Any]] = Field(description="Raw values keyed by column key.")
    notes: list[str]
    meta: dict[str, Any]


def _answer(
    request: Request, name: str, fmt: str, build: Callable[[Session, datetime], Report]
) -> Response:
    with writing_session(request) as session:
        report = build(session, utcnow())
    if fmt == "csv":
        disposition = f'attachment; filename="{name}.csv"'
        return Response(
            rendering.render_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": disposition},
        )
    return Response(rendering.render_json(report), media_type="application/json")


def _period(since: date | None, until: date | None) -> tuple[datetime, datetime]:
    """--from/--to as the command reads them: by default the last 365 days up to tomorrow."""
    return period(
        since.isoformat() if since is not None else None,
        until.isoformat() if until is not None else None,
    )


def _report(
    name: str, summary: str, not_found: str | None = None
) -> Callable[[Callable[..., Response]], Any]:
    """The route of `leadsift report NAME` (NOT_FOUND: what its 404 means, if it has one)."""
    missing = error_responses(described={404: not_found}) if not_found else {}
    return router.get(
        f"/reports/{name}",
        operation_id=f"report_{name.replace('-', '_')}",
        response_model=ReportDocument,
        responses={**_REPORT_ANSWER, **missing},
        summary=summary,
    )


Reader = Annotated[Caller, Depends(_READERS)]
FUNNEL_BY: Final = tuple(funnel_repository.DIMENSIONS)


@_report("funnel", "The funnel")
def report_funnel(
    request: Request,
    _caller: Reader,
    by: Annotated[str, _choice(FUNNEL_BY)] = "all",
    since: Since = None,
    until: Until = None,
    fmt: Format = "json",
) -> Response:
    """Contacts → leads → qualified → customers: step and overall rates, time to convert
    (`leadsift report funnel`), of the contacts who entered in the period."""
    start, end = _period(since, until)
    return _answer(
        request, "funnel", fmt,
        lambda s, now: funnel.funnel(s, by=by, since=start, until=end, now=now),
    )  # fmt: skip


@_report("stage-times", "Time in stage")
def report_stage_times(
    request: Request, _caller: Reader, since: Since = None, until: Until = None,
    fmt: Format = "json",
) -> Response:  # fmt: skip
    """How long entry → lead, lead → qualified and qualified → customer took (median, p90)."""
    start, end = _period(since, until)
    return _answer(
        request, "stage-times", fmt,
        lambda s, now: funnel.time_in_stage(s, since=start, until=end, now=now),
    )  # fmt: skip


@_report("reasons", "Reasons")
def report_reasons(
    request: Request, _caller: Reader, since: Since = None, until: Until = None,
    fmt: Format = "json",
) -> Response:  # fmt: skip
    """Unqualified and lost contacts by reason."""
    start, end = _period(since, until)
    return _answer(
        request, "reasons", fmt,
        lambda s, now: funnel.reasons(s, since=start, until=end, now=now),
    )  # fmt: skip


@_report("roi", "Return on investment")
def report_roi(
    request: Request,
    _caller: Reader,
    by: Annotated[str, _choice(roi.DIMENSIONS)] = "campaign",
    since: Since = None,
    until: Until = None,
    fmt: Format = "json",
) -> Response:
    """Per campaign, channel or source: cost, messages, leads, qualified, customers, revenue,
    cost per step, ROI and return on ad spend (all time unless from/to)."""
    start = day(since.isoformat(), "from") if since is not None else None
    end = day(until.isoformat(), "to") if until is not None else None
    return _answer(
        request, "roi", fmt,
        lambda s, now: roi.roi(s, now=now, by=by, since=start, until=end),
    )  # fmt: skip


ContactOption = Annotated[
    int | None,
    Query(ge=1, le=2**63 - 1, description="One contact: each conversion's credit per touch."),
]


@_report("attribution", "Attribution", "No such contact among those the caller may see.")
def report_attribution(  # noqa: PLR0917 — one parameter per option of the command
    request: Request,
    caller: Reader,
    since: Since = None,
    until: Until = None,
    contact: ContactOption = None,
    fmt: Format = "json",
) -> Response:
    """Conversions and revenue credited to touches under first touch, last touch, linear,
    position-based (40/20/40) and time-decay models, side by side; or one contact's (404 for
    a contact the key's user may not see)."""
    if contact is not None:
        chosen = contact

        def credits(session: Session, now: datetime) -> Report:
            if not is_visible(session, caller, chosen):
                raise NotFoundError(f"no contact {chosen}")
            return attribution_report.contact_credits(session, chosen, now)

        return _answer(request, "attribution", fmt, credits)
    start, end = _period(since, until)
    return _answer(
        request, "attribution", fmt,
        lambda s, now: attribution_report.attribution(s, since=start, until=end, now=now),
    )  # fmt: skip


@_report("lift", "Lift against a control group", "No such campaign.")
def report_lift(
    request: Request,
    _caller: Reader,
    campaign: Annotated[
        str,
        Query(
            min_length=1,
            max_length=200,
            pattern=NO_NUL,
            description="The campaign (with a control group).",
        ),
    ],
    window: Annotated[
        str,
        Query(
            max_length=12,
            pattern=r"^0{0,3}[1-9][0-9]{0,5}[smhdw]$",
            description="Count what happened this long after, e.g. 14d (s, m, h, d, w).",
        ),
    ] = "14d",
    by: Annotated[
        str | None,
        Query(
            max_length=100,
            pattern=rf"^({'|'.join(SEGMENTS)}|attrs\.[^\x00]+)$",
            description=f"{', '.join(SEGMENTS)} or a custom attribute attrs.KEY.",
        ),
    ] = None,
    fmt: Format = "json",
) -> Response:
    """Treated against control: conversion, visits, revenue per contact, with 95 % intervals;
    segments where contacting lowers results are flagged "do not contact"."""
    span = parse_duration(window)
    if not span:
        raise InvalidInputError(f"window {window!r}: give a duration such as 14d")
    return _answer(
        request, "lift", fmt, lambda s, _now: lift_report(s, campaign, window=span, by=by)
    )


@_report("campaigns", "Campaigns")
def report_campaigns(request: Request, _caller: Reader, fmt: Format = "json") -> Response:
    """Per campaign: sent, opened, clicked, replies, unsubscribes, bounces, purchases, revenue,
    cost."""
    return _answer(request, "campaigns", fmt, lambda s, now: breakdowns.campaigns(s, now=now))


@_report("sources", "Sources")
def report_sources(
    request: Request, _caller: Reader, since: Since = None, until: Until = None,
    fmt: Format = "json",
) -> Response:  # fmt: skip
    """The funnel by source, with cost per lead and per customer where costs name the source."""
    start, end = _period(since, until)
    return _answer(
        request, "sources", fmt,
        lambda s, now: breakdowns.sources(s, since=start, until=end, now=now),
    )  # fmt: skip


@_report("agents", "Agents")
def report_agents(
    request: Request, _caller: Reader, since: Since = None, until: Until = None,
    fmt: Format = "json",
) -> Response:  # fmt: skip
    """Per agent, for prospects qualified in the period: touched, calls, won, lost, win rate,
    revenue."""
    start, end = _period(since, until)
    return _answer(
        request, "agents", fmt,
        lambda s, now: breakdowns.agents(s, since=start, until=end, now=now),
    )  # fmt: skip


@_report("interest-no-purchase", "Interest but no purchase")
def report_interest_no_purchase(
    request: Request,
    _caller: Reader,
    threshold: Annotated[
        float,
        Query(ge=-1e9, le=1e9, allow_inf_nan=False, description="At least this much interest."),
    ] = 10.0,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Contacts listed.")] = 20,
    fmt: Format = "json",
) -> Response:
    """Who showed interest but did not buy, by last activity (for remarketing)."""
    return _answer(
        request, "interest-no-purchase", fmt,
        lambda s, now: breakdowns.interest_no_purchase(s, threshold=threshold, now=now,
                                                       limit=limit),
    )  # fmt: skip
