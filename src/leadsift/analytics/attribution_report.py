"""Attribution of conversions to the touches before them: five models side by side, kept in a
rollup credited as conversions arrive (idempotent, resumable)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.analytics import attribution_repository as sql
from leadsift.analytics import rollup_repository as cursors
from leadsift.analytics.attribution import MODELS, NO_TOUCH_KEY, Conversion, Touch, credits
from leadsift.analytics.rendering import ChartSpec, Column, Report
from leadsift.analytics.rollups import hold, prepare, settled_id, taken_as_they_are
from leadsift.engagement.models import Event

LOOKBACK: Final = timedelta(days=30)
# The mark of the last pass (its time: how fresh the credits are).
REFRESHED: Final = "attribution_refreshed"
HALF_LIFE: Final = timedelta(days=7)
_BATCH: Final = 5_000
_CURSOR: Final = "attribution"


def _credit_rows(conversion: Conversion, conversion_id: int) -> list[dict[str, Any]]:
    rows = []
    for model in MODELS:
        shares: dict[str, list[float]] = defaultdict(list)
        for touch, share in credits(conversion, model, lookback=LOOKBACK, half_life=HALF_LIFE):
            shares[touch.key].append(share)
        if not shares:
            shares[NO_TOUCH_KEY] = [1.0]
        for key, parts in shares.items():
            credit = sum(parts)
            rows.append(
                {
                    "conversion_id": conversion_id, "model": model, "key": key[:250],
                    "contact_id": conversion.contact_id, "converted_at": conversion.at,
                    "credit": credit, "value": credit * conversion.value,
                    "touches": sum(1 for p in parts if p > 0),
                }
            )  # fmt: skip
    return rows


def refresh(session: Session, now: datetime) -> int:
    """Credit every conversion recorded since the last pass; how many were credited (none when
    the session's reports take the rollups as they are)."""
    if taken_as_they_are(session):
        return 0
    hold(session)
    done = 0
    first = start = cursors.cursor(session, _CURSOR)
    while batch := sql.conversions_after(session, start, _BATCH):
        touches: dict[int, list[Touch]] = defaultdict(list)
        earliest = min(c["at"] for c in batch) - LOOKBACK
        latest = max(c["at"] for c in batch)
        for contact_id, key, at in sql.touches_of(
            session, [c["contact_id"] for c in batch], earliest, latest
        ):
            touches[contact_id].append(Touch(key, at))
        rows = []
        for found in batch:
            path = tuple(sorted(touches[found["contact_id"]], key=lambda t: t.at))
            conversion = Conversion(found["contact_id"], found["at"], float(found["amount"]), path)
            rows += _credit_rows(conversion, found["id"])
        sql.replace_credits(session, [c["id"] for c in batch], rows)
        start = batch[-1]["id"]
        done += len(batch)
    # Past what was credited, but not past an id an earlier one may still join (PostgreSQL):
    # those conversions are credited again next time, which writes the same credits.
    settled = min(start, settled_id(session, Event.id, Event.received_at, now))
    if settled > first:
        cursors.move_cursor(session, _CURSOR, settled, now)
    cursors.move_cursor(session, REFRESHED, 0, now)
    session.flush()
    return done


def attribution(session: Session, *, since: datetime, until: datetime, now: datetime) -> Report:
    """Credited conversions and revenue per touch key under each model, side by side."""
    prepare(session)
    refresh(session, now)
    table: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in sql.credit_totals(session, since.date(), until.date()):
        entry = table[row["key"]]
        entry[f"{row['model']}_conversions"] = float(row["conversions"] or 0)
        entry[f"{row['model']}_revenue"] = float(row["revenue"] or 0)
    rows = [
        {
            "key": key,
            **{
                f"{m}_{k}": values.get(f"{m}_{k}", 0.0)
                for m in MODELS
                for k in ("conversions", "revenue")
            },
        }
        for key, values in sorted(table.items(), key=lambda kv: -kv[1].get("linear_conversions", 0))
    ]
    columns = [Column("key", "touch", "text")]
    for model in MODELS:
        label = model.replace("_", " ")
        columns += [
            Column(f"{model}_conversions", f"{label}: conversions", "number"),
            Column(f"{model}_revenue", f"{label}: revenue", "money"),
        ]
    return Report(
        title="Attribution of conversions",
        columns=tuple(columns),
        rows=tuple(rows),
        notes=(
            f"touches: messages, clicks and visits carrying a campaign or UTM field in the "
            f"{LOOKBACK.days} days before a conversion; time decay halves every "
            f"{HALF_LIFE.days} days; position based gives 40 % to the first and the last, 20 % "
            "to those between",
        ) if rows else ("no conversion in this period: no data",),
        chart=ChartSpec("bar", "key", "linear_conversions") if rows else None,
        meta={"from": since.isoformat(), "to": until.isoformat()},
    )  # fmt: skip


def contact_credits(session: Session, contact_id: int, now: datetime) -> Report:
    """Each conversion of one contact and the credit each touch key got, model by model."""
    refresh(session, now)
    rows = [
        {
            "conversion": c.conversion_id, "converted_at": c.converted_at.isoformat(),
            "model": c.model, "key": c.key, "credit": c.credit, "value": c.value,
            "touches": c.touches,
        }
        for c in sql.credits_of_contact(session, contact_id)
    ]  # fmt: skip
    return Report(
        title=f"Attribution of contact {contact_id}'s conversions",
        columns=(
            Column("conversion", "conversion", "text"),
            Column("converted_at", "when", "text"),
            Column("model", "model", "text"),
            Column("key", "touch", "text"),
            Column("credit", "credit", "rate"),
            Column("value", "revenue credited", "money"),
            Column("touches", "touches", "count"),
        ),
        rows=tuple(rows),
        notes=() if rows else ("this contact has no conversion",),
    )
