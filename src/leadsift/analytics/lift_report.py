"""The lift report: a campaign's treated contacts against its control group — conversion, visits
and revenue per contact, their differences with 95 % intervals, and who not to contact."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.analytics import lift_repository as sql
from leadsift.analytics.cost_repository import campaign_known
from leadsift.analytics.lift import GroupOutcome, Lift, lift
from leadsift.analytics.rendering import ChartSpec, Column, Report
from leadsift.errors import InvalidInputError, NotFoundError

SEGMENTS: Final = ("source", "region", "country")
_COLUMNS: Final = (
    Column("segment", "segment", "text"),
    Column("treated", "treated", "count"),
    Column("control", "control", "count"),
    Column("treated_visit_rate", "visits (treated)", "rate"),
    Column("control_visit_rate", "visits (control)", "rate"),
    Column("visit_lift", "visit lift", "rate"),
    Column("treated_conversion", "conversion (treated)", "rate"),
    Column("control_conversion", "conversion (control)", "rate"),
    Column("conversion_lift", "conversion lift", "rate"),
    Column("conversion_lift_low", "lift low (95 %)", "rate"),
    Column("conversion_lift_high", "lift high (95 %)", "rate"),
    Column("treated_revenue_per_contact", "revenue/contact (treated)", "money"),
    Column("control_revenue_per_contact", "revenue/contact (control)", "money"),
    Column("revenue_lift", "revenue lift/contact", "money"),
    Column("revenue_lift_low", "low (95 %)", "money"),
    Column("revenue_lift_high", "high (95 %)", "money"),
    Column("incremental_conversions", "incremental conversions", "number"),
    Column("incremental_revenue", "incremental revenue", "money"),
    Column("do_not_contact", "do not contact", "text"),
)


def _check_segment(by: str | None) -> Any:
    if by is None:
        return None
    if by in SEGMENTS or (by.startswith("attrs.") and len(by) > len("attrs.")):
        return sql.segment_column(by)
    raise InvalidInputError(
        f"--by {by!r}: lift is split by {', '.join(SEGMENTS)} or a custom attribute attrs.KEY"
    )


def _outcome(name: str, row: dict[str, Any] | None) -> GroupOutcome:
    if row is None:
        return GroupOutcome(name, 0, 0, 0, 0.0, 0.0)
    return GroupOutcome(
        name, int(row["contacts"]), int(row["converted"] or 0), int(row["visited"] or 0),
        float(row["revenue"] or 0.0), float(row["revenue_sq"] or 0.0),
    )  # fmt: skip


def _per_contact(group: GroupOutcome) -> float | None:
    return group.revenue / group.contacts if group.contacts else None


def _row(segment: str, found: Lift) -> dict[str, object]:
    treated, control = found.treated, found.control
    return {
        "segment": segment,
        "treated": treated.contacts,
        "control": control.contacts,
        "treated_visit_rate": treated.visited / treated.contacts if treated.contacts else None,
        "control_visit_rate": control.visited / control.contacts if control.contacts else None,
        "visit_lift": found.visit_lift.estimate,
        "treated_conversion": found.treated_conversion.value,
        "control_conversion": found.control_conversion.value,
        "conversion_lift": found.conversion_lift.estimate,
        "conversion_lift_low": found.conversion_lift.low,
        "conversion_lift_high": found.conversion_lift.high,
        "treated_revenue_per_contact": _per_contact(treated),
        "control_revenue_per_contact": _per_contact(control),
        "revenue_lift": found.revenue_per_contact_lift.estimate,
        "revenue_lift_low": found.revenue_per_contact_lift.low,
        "revenue_lift_high": found.revenue_per_contact_lift.high,
        "incremental_conversions": found.incremental_conversions,
        "incremental_revenue": found.incremental_revenue,
        "do_not_contact": "yes" if found.harmful else "",
    }


def lift_report(
    session: Session, campaign: str, *, window: timedelta, by: str | None = None
) -> Report:
    """Treated against control for CAMPAIGN, counting what happened within WINDOW of the send
    (or of being held out), overall or per segment."""
    segment = _check_segment(by)
    if not campaign_known(session, campaign):
        raise NotFoundError(
            f"no campaign {campaign!r}: `leadsift campaign list` shows leadsift's campaigns; "
            "imported ones are those named on events"
        )
    seconds = window.total_seconds()
    treated = {
        r["segment"]: r for r in sql.group_outcomes(session, campaign, True, seconds, segment)
    }
    control = {
        r["segment"]: r for r in sql.group_outcomes(session, campaign, False, seconds, segment)
    }
    rows = []
    for name in sorted(set(treated) | set(control), key=lambda s: (s is None, str(s))):
        found = lift(_outcome("treated", treated.get(name)), _outcome("control", control.get(name)))
        rows.append(_row("(none)" if name is None else str(name), found))
    notes = []
    if not control:
        notes.append(
            "this campaign has no control group: lift is undefined (give it one with "
            "`campaign create … --control 10%`)"
        )
    harmful = [str(r["segment"]) for r in rows if r["do_not_contact"]]
    if harmful:
        notes.append(f"negative lift (do not contact): {', '.join(harmful)}")
    return Report(
        title=f"Lift of {campaign}" + (f" by {by}" if by else ""),
        columns=_COLUMNS,
        rows=tuple(rows),
        notes=tuple(notes),
        chart=ChartSpec("bar", "segment", "conversion_lift"),
        meta={"campaign": campaign, "window_days": window.total_seconds() / 86400, "by": by},
    )
