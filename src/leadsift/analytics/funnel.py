"""The funnel report: contacts → leads → qualified → customers, step and overall conversion,
time to convert, who left and why — honest about cohorts still converting."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.analytics import funnel_days, repository, rollups
from leadsift.analytics.rendering import ChartSpec, Column, Report
from leadsift.errors import InvalidInputError
from leadsift.kit.stats import median, percentile

STAGES: Final = ("contacts", "leads", "qualified", "customers")
_COUNT_KEYS: Final = (*STAGES, "in_progress", "unqualified", "lost")
_DAY: Final = 86_400.0


def rate(part: float, whole: float) -> float | None:
    """PART / WHOLE, or None (undefined — never 0 nor infinite) when WHOLE is 0."""
    return part / whole if whole else None


def check_dimension(by: str) -> str:
    """A dimension of the funnel, or an error listing them."""
    if by not in repository.DIMENSIONS:
        names = ", ".join(repository.DIMENSIONS)
        raise InvalidInputError(f"--by {by!r}: the funnel is split by one of {names}")
    return by


def check_period(since: datetime, until: datetime) -> None:
    """Refuse an empty or reversed period."""
    if since >= until:
        raise InvalidInputError(
            f"the period from {since:%Y-%m-%d} to {until:%Y-%m-%d} is empty: --from must be "
            "before --to"
        )


_COLUMNS: Final = (
    Column("group", "group", "text"),
    Column("contacts", "contacts", "count"),
    Column("leads", "leads", "count"),
    Column("lead_rate", "→ lead", "rate"),
    Column("qualified", "qualified", "count"),
    Column("qualified_rate", "→ qualified", "rate"),
    Column("customers", "customers", "count"),
    Column("customer_rate", "→ customer", "rate"),
    Column("overall_rate", "overall", "rate"),
    Column("in_progress", "in progress", "count"),
    Column("unqualified", "unqualified", "count"),
    Column("lost", "lost", "count"),
    Column("days_to_convert_median", "days to convert (median)", "number"),
    Column("days_to_convert_p90", "days to convert (p90)", "number"),
)


def _row(counts: dict[str, Any], middle: float | None, p90: float | None) -> dict[str, object]:
    return {
        **{key: counts[key] for key in ("contacts", "leads", "qualified", "customers")},
        "group": "(none)" if counts["group"] is None else str(counts["group"]),
        "lead_rate": rate(counts["leads"], counts["contacts"]),
        "qualified_rate": rate(counts["qualified"], counts["leads"]),
        "customer_rate": rate(counts["customers"], counts["qualified"]),
        "overall_rate": rate(counts["customers"], counts["contacts"]),
        "in_progress": counts["in_progress"],
        "unqualified": counts["unqualified"],
        "lost": counts["lost"],
        "days_to_convert_median": None if middle is None else round(middle, 1),
        "days_to_convert_p90": None if p90 is None else round(p90, 1),
    }


def funnel(
    session: Session, *, by: str = "all", since: datetime, until: datetime, now: datetime
) -> Report:
    """The funnel of contacts who entered in [SINCE, UNTIL), split BY a dimension."""
    check_dimension(by)
    check_period(since, until)
    rollups.refresh(session, now)
    rows, p90 = _figures(session, by, since, until)
    notes = _notes(rows, p90, until, now)
    if by == "all":
        empty = dict.fromkeys(_COUNT_KEYS, 0) | {"group": "all"}
        whole = rows[0] if rows else _row(empty, None, None)
        return _stages_report(whole, notes, since, until)
    return Report(
        title=f"Funnel by {by}",
        columns=_COLUMNS,
        rows=tuple(rows),
        notes=tuple(notes),
        meta={"by": by, "from": since.isoformat(), "to": until.isoformat()},
    )


def _figures(
    session: Session, by: str, since: datetime, until: datetime
) -> tuple[list[dict[str, object]], float | None]:
    """The funnel's rows and the p90 of every time to convert (seconds): from the day rollups
    when they answer BY, else (or should they disagree with the facts) from the facts."""
    if by in funnel_days.ROLLED:
        try:
            found = funnel_days.funnel(session, by, since, until)
        except funnel_days.BehindError:
            pass
        else:
            rows = [
                _row({**g.counts, "group": g.name}, g.median_days, g.p90_days) for g in found.groups
            ]
            return rows, found.p90_seconds
    counts = repository.funnel_counts(session, by, since, until)
    times: dict[Any, list[float]] = defaultdict(list)
    for group, total, _ in repository.conversion_times(session, by, since, until):
        times[group].append(total)
    rows = []
    for figures in counts:
        days = [t / _DAY for t in sorted(times[figures["group"]])]
        rows.append(_row(figures, median(days), percentile(days, 0.9)))
    return rows, percentile(sorted(t for ts in times.values() for t in ts), 0.9)


def counts_by(
    session: Session, *, by: str, since: datetime, until: datetime, now: datetime
) -> dict[str, dict[str, int]]:
    """Per group (its name in the funnel report): how many contacts entered in [SINCE, UNTIL),
    reached each stage and left — the funnel's counts without its times."""
    check_dimension(by)
    check_period(since, until)
    rollups.refresh(session, now)
    if by in funnel_days.ROLLED:
        groups = funnel_days.funnel(session, by, since, until, times=False).groups
        return {"(none)" if g.name is None else g.name: g.counts for g in groups}
    return {
        "(none)" if row["group"] is None else str(row["group"]): row
        for row in repository.funnel_counts(session, by, since, until)
    }


def counts_of_owner(
    session: Session, *, user_id: int, since: datetime, until: datetime, now: datetime
) -> dict[str, int]:
    """The funnel's counts of the contacts USER_ID owns who entered in [SINCE, UNTIL): their
    row of the funnel by agent (zeros when they own none)."""
    check_period(since, until)
    rollups.refresh(session, now)
    found = repository.owner_counts(session, user_id, since, until)
    return {key: int(found[key]) if found else 0 for key in _COUNT_KEYS}


def _days(value: object) -> str:
    """A number of days for a note: 0 is a same-day conversion, None is none to measure."""
    return "n/a" if value is None else str(value)


def _stages_report(
    row: dict[str, object], notes: list[str], since: datetime, until: datetime
) -> Report:
    """The whole funnel as one row per stage (the chart's bars)."""
    counts = [int(str(row[stage])) for stage in STAGES]
    stages: list[dict[str, object]] = [
        {
            "stage": stage,
            "count": count,
            "rate": None if index == 0 else rate(count, counts[index - 1]),
            "overall": rate(count, counts[0]),
        }
        for index, (stage, count) in enumerate(zip(STAGES, counts, strict=True))
    ]
    notes = [f"now: {row['in_progress']} in progress, {row['unqualified']} unqualified, "
             f"{row['lost']} lost", *notes]  # fmt: skip
    return Report(
        title="Funnel",
        columns=(
            Column("stage", "stage", "text"),
            Column("count", "contacts", "count"),
            Column("rate", "step conversion", "rate"),
            Column("overall", "of all contacts", "rate"),
        ),
        rows=tuple(stages),
        notes=tuple(
            [
                f"time to convert: median {_days(row['days_to_convert_median'])} days, "
                f"p90 {_days(row['days_to_convert_p90'])} days",
                *notes,
            ]
        ),
        chart=ChartSpec("funnel", "stage", "count", "rate"),
        meta={"by": "all", "from": since.isoformat(), "to": until.isoformat()},
    )


def histogram_percentile(bins: list[tuple[int, int]], fraction: float) -> float | None:
    """The FRACTION percentile (nearest rank) of a histogram of whole hours, in days (the
    middle of its hour); None when empty."""
    total = sum(n for _, n in bins)
    if not total:
        return None
    rank = max(math.ceil(fraction * total), 1)
    seen = 0
    for hours, n in bins:
        seen += n
        if seen >= rank:
            return round((hours + 0.5) / 24, 1)
    return None  # pragma: no cover — the ranks add up to the total


def time_in_stage(session: Session, *, since: datetime, until: datetime, now: datetime) -> Report:
    """How long each step took (median, p90, in days) for contacts who entered in the period,
    over those who made it (those still on their way are not counted as a time)."""
    check_period(since, until)
    rollups.refresh(session, now)
    rows = _step_rows(session, since, until)
    return Report(
        title="Time in stage",
        columns=(
            Column("step", "step", "text"),
            Column("contacts", "contacts who made it", "count"),
            Column("median_days", "median (days)", "number"),
            Column("p90_days", "p90 (days)", "number"),
        ),
        rows=tuple(rows),
        notes=("durations to the hour; contacts still in a stage are not counted",),
        meta={"from": since.isoformat(), "to": until.isoformat()},
    )


def _in_days(hours: float | None) -> float | None:
    """Whole hours as days, at the middle of the hour (as histogram_percentile reads them)."""
    return None if hours is None else round((hours + 0.5) / 24, 1)


def _step_rows(session: Session, since: datetime, until: datetime) -> list[dict[str, object]]:
    """Each step's contacts, median and p90: from the day rollups, else from the facts."""
    found = funnel_days.step_times(session, since, until)
    if found is not None:
        return [
            {"step": name, "contacts": total, "median_days": _in_days(middle),
             "p90_days": _in_days(p90)}
            for (name, _, _), (total, middle, p90) in zip(
                repository.STEPS, found.values(), strict=True
            )
        ]  # fmt: skip
    rows = []
    for name, bins in repository.step_hours(session, since, until).items():
        rows.append(
            {
                "step": name,
                "contacts": sum(n for _, n in bins),
                "median_days": histogram_percentile(bins, 0.5),
                "p90_days": histogram_percentile(bins, 0.9),
            }
        )
    return rows


def _notes(
    rows: list[dict[str, object]], p90: float | None, until: datetime, now: datetime
) -> list[str]:
    if not rows:
        return ["no contact entered in this period: no data"]
    if p90 is None:
        return ["no contact converted in this period: times to convert are undefined"]
    still = min(until, now) - timedelta(seconds=p90)
    open_ = sum(int(str(r["in_progress"])) for r in rows)
    return [
        f"{open_:,} contacts are still in progress (not yet converted ≠ never converts); "
        f"9 in 10 conversions came within {p90 / _DAY:.0f} days of entry, so contacts who "
        f"entered after {still:%Y-%m-%d} have not had that time yet"
    ]


def reasons(session: Session, *, since: datetime, until: datetime, now: datetime) -> Report:
    """Unqualified and lost contacts by reason."""
    check_period(since, until)
    rollups.refresh(session, now)
    rows = [
        {"stage": stage, "reason": reason, "contacts": n}
        for stage, reason, n in _reasons(session, since, until)
    ]
    return Report(
        title="Unqualified and lost, by reason",
        columns=(
            Column("stage", "stage", "text"),
            Column("reason", "reason", "text"),
            Column("contacts", "contacts", "count"),
        ),
        rows=tuple(rows),
        notes=() if rows else ("nobody left the funnel in this period",),
        meta={"from": since.isoformat(), "to": until.isoformat()},
    )


def _reasons(session: Session, since: datetime, until: datetime) -> list[tuple[str, str, int]]:
    """(stage, reason, contacts) by reason, most first: from the day rollups."""
    found: list[tuple[str, str, int]] = []
    for stage in ("unqualified", "lost"):
        groups = funnel_days.group_counts(session, f"{stage}_reason", since, until)
        counted = sorted(
            ((str(reason), figures["contacts"]) for reason, figures in groups.items()),
            key=lambda item: (-item[1], item[0]),
        )
        found += [(stage, reason, n) for reason, n in counted]
    return found
