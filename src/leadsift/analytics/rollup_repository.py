"""SQL of the rollups: each contact's way through the funnel, and events per day and campaign.

Both read their source past a cursor, which moves past a row only once no earlier id can still
appear: at once on SQLite (one writer), a minute after the row was written on PostgreSQL
(concurrent writers may commit ids out of order). The funnel facts of the contacts whose history
moved are recomputed whole from their history, so reading a row twice changes nothing; event
days are sums, read once each, and reports add the events past their cursor to the sums.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, case, func, literal, select, text, update
from sqlalchemy.orm import Session

from leadsift.analytics.models import EventDay, FunnelFact, RollupCursor
from leadsift.contacts.models import Contact
from leadsift.engagement.models import Event
from leadsift.kit.bulk import dialect_insert
from leadsift.kit.sqljson import json_value_at, utc_day
from leadsift.qualification.models import StageChange

CONVERSION_TYPES: Final = ("purchase", "promo_redeemed")


def without_jit(session: Session) -> None:
    """No JIT compilation for the rest of the transaction (PostgreSQL)."""
    session.execute(text("SET LOCAL jit = off"))


def hold_rollups(session: Session) -> None:
    """On PostgreSQL, wait for any other transaction refreshing the rollups to end (released at
    commit): two refreshes reading the same cursors would count the same events twice. SQLite
    serialises writing transactions already."""
    # 0x6c73726f6c6c: "lsroll", a key of this application's own.
    session.execute(text("SELECT pg_advisory_xact_lock(119243096943724)"))


def cursor(session: Session, name: str) -> int:
    """The last id the rollup NAME has taken in (0 before its first run)."""
    found = session.scalar(select(RollupCursor.last_id).where(RollupCursor.name == name))
    return int(found or 0)


def cursor_time(session: Session, name: str) -> datetime | None:
    """When the cursor NAME last moved (None before its first move)."""
    return session.scalar(select(RollupCursor.updated_at).where(RollupCursor.name == name))


def move_cursor(session: Session, name: str, last_id: int, now: datetime) -> None:
    """Record that the rollup NAME has taken in everything up to LAST_ID."""
    insert = dialect_insert(session)
    statement = insert(RollupCursor).values(name=name, last_id=last_id, updated_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"], set_={"last_id": last_id, "updated_at": now}
        )
    )


def max_id(session: Session, column: Any, where: ColumnElement[bool] | None = None) -> int:
    """The highest id of a table (optionally among rows matching WHERE)."""
    query = select(func.max(column))
    if where is not None:
        query = query.where(where)
    return int(session.scalar(query) or 0)


def new_contacts(after_id: int) -> Select[Any]:
    """The contacts added after AFTER_ID (ids)."""
    return select(Contact.id).where(Contact.id > after_id)


def moved_contacts(after_id: int) -> Select[Any]:
    """The contacts with stage changes after AFTER_ID (ids)."""
    return select(StageChange.contact_id).where(StageChange.id > after_id)


def contacts_with_events(after_id: int) -> Select[Any]:
    """The contacts with events after AFTER_ID (ids)."""
    return select(Event.contact_id).where(Event.id > after_id, Event.contact_id.is_not(None))


def add_new_contacts(session: Session, after_id: int) -> None:
    """A funnel row for each contact after AFTER_ID that has none yet."""
    rows = select(Contact.id, Contact.created_at, Contact.stage).where(Contact.id > after_id)
    # The key refuses those known (no anti-join: on PostgreSQL, with the facts analysed while
    # empty, it was planned as a nested loop scanning the growing table once per contact).
    session.execute(
        dialect_insert(session)(FunnelFact)
        .from_select(["contact_id", "entered_at", "stage"], rows)
        .on_conflict_do_nothing(index_elements=["contact_id"])
    )


def _earliest(first: Any, second: Any) -> Any:
    """The earlier of two times, either of which may be NULL (portable LEAST)."""
    return case(
        (first.is_(None), second),
        (second.is_(None), first),
        (second < first, second),
        else_=first,
    )


def _first_conversion() -> Any:
    """When the contact first bought (a purchase or a redemption), from its events."""
    return (
        select(func.min(Event.occurred_at))
        .where(Event.contact_id == FunnelFact.contact_id, Event.type.in_(CONVERSION_TYPES))
        .scalar_subquery()
    )


def _first(stage: str) -> Any:
    return (
        select(func.min(StageChange.changed_at))
        .where(StageChange.contact_id == FunnelFact.contact_id, StageChange.to_stage == stage)
        .scalar_subquery()
    )


def _latest(stage: str, column: Any) -> Any:
    return (
        select(column)
        .where(StageChange.contact_id == FunnelFact.contact_id, StageChange.to_stage == stage)
        .order_by(StageChange.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def refresh_stages(session: Session, after_id: int) -> None:
    """Recompute the stage times of the contacts with stage changes after AFTER_ID."""
    moved = moved_contacts(after_id)
    session.execute(
        update(FunnelFact)
        .where(FunnelFact.contact_id.in_(moved))
        .values(
            stage=select(Contact.stage)
            .where(Contact.id == FunnelFact.contact_id)
            .scalar_subquery(),
            lead_at=_first("lead"),
            qualified_at=_first("qualified"),
            # A customer became one when they first bought: with history imported later, the
            # purchase's own time, not when leadsift learnt of it.
            customer_at=case(
                (_first("customer").is_(None), None),
                else_=_earliest(_first("customer"), _first_conversion()),
            ),
            unqualified_at=_latest("unqualified", StageChange.changed_at),
            unqualified_reason=_latest("unqualified", StageChange.reason),
            lost_at=_latest("lost", StageChange.changed_at),
            lost_reason=_latest("lost", StageChange.reason),
        )
        .execution_options(synchronize_session=False)
    )


def _first_event(column: Any, present: Any = Event.campaign) -> Any:
    """COLUMN of the contact's earliest event whose PRESENT column is set."""
    return (
        select(column)
        .where(Event.contact_id == FunnelFact.contact_id, present.is_not(None))
        .order_by(Event.occurred_at, Event.id)
        .limit(1)
        .scalar_subquery()
    )


def _channel() -> Any:
    """The channel an event came through: email, sms, phone, else the web."""
    return case(
        (Event.type.startswith("email_"), "email"),
        (Event.type.startswith("sms_"), "sms"),
        (Event.type.startswith("call"), "phone"),
        else_="web",
    )


def refresh_entries(session: Session, after_id: int) -> None:
    """A contact entered when it was created, or at its first event if earlier (history
    imported after the fact): for the contacts with events after AFTER_ID."""
    first_event = (
        select(func.min(Event.occurred_at))
        .where(Event.contact_id == FunnelFact.contact_id)
        .scalar_subquery()
    )
    created = (
        select(Contact.created_at).where(Contact.id == FunnelFact.contact_id).scalar_subquery()
    )
    moved = contacts_with_events(after_id)
    session.execute(
        update(FunnelFact)
        .where(FunnelFact.contact_id.in_(moved))
        .values(entered_at=_earliest(created, first_event))
        .execution_options(synchronize_session=False)
    )


def refresh_touches(session: Session, after_id: int) -> None:
    """The first campaign (and its channel) and UTM campaign of contacts with events after
    AFTER_ID carrying either."""
    touched = select(Event.contact_id).where(
        Event.id > after_id,
        Event.contact_id.is_not(None),
        (Event.campaign.is_not(None)) | (Event.utm_campaign.is_not(None)),
    )
    session.execute(
        update(FunnelFact)
        .where(FunnelFact.contact_id.in_(touched))
        .values(
            campaign=_first_event(Event.campaign),
            channel=_first_event(_channel()),
            touched_at=_first_event(Event.occurred_at),
            utm_campaign=_first_event(Event.utm_campaign, Event.utm_campaign),
        )
        .execution_options(synchronize_session=False)
    )


def _day_key() -> tuple[Any, ...]:
    return (
        utc_day(Event.occurred_at).label("day"),
        Event.type,
        func.coalesce(Event.campaign, literal("")).label("campaign"),
        func.coalesce(Event.utm_source, literal("")).label("utm_source"),
        func.coalesce(Event.utm_campaign, literal("")).label("utm_campaign"),
    )


def event_amount() -> Any:
    """An event's amount (properties.amount), 0 when it has none."""
    return func.coalesce(json_value_at(Event.properties, "amount", "number"), 0.0)


def add_event_days(session: Session, after_id: int, up_to_id: int) -> None:
    """Add the events in (AFTER_ID, UP_TO_ID] to the day sums."""
    key = _day_key()
    grouped = (
        select(*key, func.count().label("events"), func.sum(event_amount()).label("amount"))
        .where(Event.id > after_id, Event.id <= up_to_id)
        .group_by(*key)
    )
    rows = [
        {**row._mapping, "day": date.fromisoformat(row.day)} for row in session.execute(grouped)
    ]
    if not rows:
        return
    insert = dialect_insert(session)(EventDay)
    statement = insert.on_conflict_do_update(
        index_elements=["day", "type", "campaign", "utm_source", "utm_campaign"],
        set_={
            "events": EventDay.events + insert.excluded.events,
            "amount": EventDay.amount + insert.excluded.amount,
        },
    )
    session.execute(statement, rows)
