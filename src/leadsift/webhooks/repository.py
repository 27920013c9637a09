"""SQL of webhooks: endpoints, cursors over the logs, deliveries derived from them (one
`INSERT … SELECT … ON CONFLICT DO NOTHING` per endpoint and event type), score marks, claims
(`FOR UPDATE SKIP LOCKED` on PostgreSQL) and settling."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from typing import cast as cast_table

from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    cast,
    delete,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from leadsift.contacts.models import ContactPrediction, ContactScore
from leadsift.engagement.models import Event
from leadsift.kit.bulk import dialect_insert, is_postgres
from leadsift.kit.orm import UtcDateTime
from leadsift.kit.sqljson import json_record, json_value_at
from leadsift.qualification.models import StageChange
from leadsift.webhooks.models import (
    WebhookCursor,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookScoreMark,
)

_DELIVERIES: Final = cast_table(Table, WebhookDelivery.__table__)
_D: Final = _DELIVERIES.c
_WAITING: Final = ("pending", "failed")
# Per score field: its table's contact, value and write time columns.
SCORES: Final[dict[str, tuple[Any, Any, Any]]] = {
    "interest": (ContactScore.contact_id, ContactScore.interest, ContactScore.scored_at),
    "probability": (
        ContactPrediction.contact_id,
        ContactPrediction.probability,
        ContactPrediction.predicted_at,
    ),
}
# Stage-history event types: the stage a change must reach (None: every change).
STAGE_TARGETS: Final = {
    "contact.stage_changed": None,
    "contact.qualified": "qualified",
    "contact.customer": "customer",
}
_INSERTED: Final = [
    "endpoint_id", "event_type", "event_key", "occurred_at", "data", "status", "attempts",
    "next_attempt_at", "created_at",
]  # fmt: skip


def add_endpoint(session: Session, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Store a new endpoint (its id assigned)."""
    session.add(endpoint)
    session.flush()
    return endpoint


def endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint | None:
    """One endpoint by id."""
    return session.get(WebhookEndpoint, endpoint_id)


def endpoints(session: Session, *, active_only: bool = False) -> list[WebhookEndpoint]:
    """Endpoints in id order (only those not disabled, when asked)."""
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.id)
    if active_only:
        query = query.where(WebhookEndpoint.disabled_at.is_(None))
    return list(session.scalars(query))


def endpoints_by_id(session: Session, ids: Collection[int]) -> dict[int, WebhookEndpoint]:
    """Endpoints by id."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.id.in_(list(ids)))
    return {row.id: row for row in session.scalars(query)}


def cursor(session: Session, name: str) -> tuple[int, datetime | None]:
    """The last id the cursor NAME has taken in, and when it last moved (0, None at first)."""
    row = session.get(WebhookCursor, name)
    return (row.last_id, row.updated_at) if row is not None else (0, None)


def move_cursor(session: Session, name: str, last_id: int, now: datetime) -> None:
    """Record that NAME has taken in everything up to LAST_ID, at NOW."""
    insert = dialect_insert(session)
    statement = insert(WebhookCursor).values(name=name, last_id=last_id, updated_at=now)
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


def _text(value: str) -> Any:
    return literal(value, String())


def _derive(session: Session, rows: Any) -> int:
    """Insert the deliveries ROWS selects; those already derived are skipped."""
    insert = dialect_insert(session)(WebhookDelivery).from_select(_INSERTED, rows)
    statement = insert.on_conflict_do_nothing(
        index_elements=["endpoint_id", "event_key"]
    ).returning(WebhookDelivery.id)
    # Counted from RETURNING: psycopg reports no rowcount (-1) for an INSERT … SELECT here.
    return len(session.execute(statement).all())


def _constants(endpoint_id: int, event_type: str, now: datetime) -> dict[str, Any]:
    stamp = literal(now, UtcDateTime())
    return {
        "endpoint_id": literal(endpoint_id),
        "event_type": _text(event_type),
        "status": _text("pending"),
        "attempts": literal(0),
        "next_attempt_at": stamp,
        "created_at": stamp,
    }


def derive_stage_changes(
    session: Session, target: WebhookEndpoint, event_type: str, after_id: int, now: datetime
) -> int:
    """Deliveries to TARGET of EVENT_TYPE for the stage changes after AFTER_ID made since the
    endpoint exists; the number new."""
    stage = STAGE_TARGETS[event_type]
    prefix = event_type.removeprefix("contact.") + "-"
    fixed = _constants(target.id, event_type, now)
    data = json_record(
        _text("contact_id"), StageChange.contact_id,
        _text("from_stage"), StageChange.from_stage,
        _text("to_stage"), StageChange.to_stage,
        _text("reason"), StageChange.reason,
    )  # fmt: skip
    rows = select(
        fixed["endpoint_id"], fixed["event_type"],
        _text(prefix) + cast(StageChange.id, String), StageChange.changed_at, data,
        fixed["status"], fixed["attempts"], fixed["next_attempt_at"], fixed["created_at"],
    ).where(StageChange.id > after_id, StageChange.changed_at >= target.created_at)  # fmt: skip
    if stage is not None:
        rows = rows.where(StageChange.to_stage == stage)
    return _derive(session, rows)


def derive_redemptions(
    session: Session, target: WebhookEndpoint, after_id: int, now: datetime
) -> int:
    """Deliveries to TARGET for the promo codes redeemed (their purchase events) after event
    AFTER_ID since the endpoint exists; the number new."""
    event_type = "promo_code.redeemed"
    fixed = _constants(target.id, event_type, now)
    data = json_record(
        _text("contact_id"), Event.contact_id,
        _text("code"), json_value_at(Event.properties, "promo_code", "text"),
        _text("program"), json_value_at(Event.properties, "program", "text"),
        _text("amount"), json_value_at(Event.properties, "amount", "number"),
        _text("campaign"), Event.campaign,
    )  # fmt: skip
    rows = select(
        fixed["endpoint_id"], fixed["event_type"],
        _text("code_redeemed-") + cast(Event.id, String), Event.occurred_at, data,
        fixed["status"], fixed["attempts"], fixed["next_attempt_at"], fixed["created_at"],
    ).where(
        Event.id > after_id,
        Event.type == "purchase",
        Event.source == "promo",
        Event.contact_id.is_not(None),
        Event.received_at >= target.created_at,
    )  # fmt: skip
    return _derive(session, rows)


def _marked(endpoint_id: int, contact: Any) -> Any:
    return (
        select(WebhookScoreMark.contact_id)
        .where(WebhookScoreMark.endpoint_id == endpoint_id, WebhookScoreMark.contact_id == contact)
        .exists()
    )


def seed_marks(session: Session, endpoint_id: int, field: str, threshold: float) -> None:
    """Mark the contacts already at or above THRESHOLD (they did not cross it)."""
    contact, value, _ = SCORES[field]
    rows = select(literal(endpoint_id), contact).where(value >= threshold)
    session.execute(
        dialect_insert(session)(WebhookScoreMark)
        .from_select(["endpoint_id", "contact_id"], rows)
        .on_conflict_do_nothing()
    )


def drop_fallen_marks(session: Session, endpoint_id: int, field: str, threshold: float) -> None:
    """Forget the marked contacts now below THRESHOLD (or unscored): they may cross again."""
    contact, value, _ = SCORES[field]
    still = select(contact).where(contact == WebhookScoreMark.contact_id, value >= threshold)
    session.execute(
        delete(WebhookScoreMark).where(WebhookScoreMark.endpoint_id == endpoint_id, ~still.exists())
    )


def crossings(
    session: Session, endpoint_id: int, field: str, threshold: float, since: datetime | None
) -> list[tuple[int, float, datetime]]:
    """Contacts scored since SINCE at or above THRESHOLD and not marked: (id, value, when)."""
    contact, value, written = SCORES[field]
    query = select(contact, value, written).where(
        value >= threshold, ~_marked(endpoint_id, contact)
    )
    if since is not None:
        query = query.where(written >= since)
    return [(int(c), float(v), w) for c, v, w in session.execute(query.order_by(contact))]


def add_marks(session: Session, endpoint_id: int, contact_ids: Sequence[int]) -> None:
    """Mark contacts as standing above the endpoint's threshold."""
    if contact_ids:
        rows = [{"endpoint_id": endpoint_id, "contact_id": c} for c in contact_ids]
        session.execute(dialect_insert(session)(WebhookScoreMark).on_conflict_do_nothing(), rows)


def insert_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert deliveries; those whose (endpoint, event key) exists are skipped. The number new."""
    if not rows:
        return 0
    statement = dialect_insert(session)(_DELIVERIES).on_conflict_do_nothing(
        index_elements=["endpoint_id", "event_key"]
    )
    # RETURNING gives the rows inserted (an executemany's row count is the driver's guess).
    return len(session.execute(statement.returning(_D.id), list(rows)).all())


@dataclass(frozen=True)
class Claimed:
    """A delivery taken for sending, with what its body needs and its attempt's number."""

    id: int
    endpoint_id: int
    event_type: str
    event_key: str
    occurred_at: datetime
    data: dict[str, Any]
    attempts: int


def claim(
    session: Session,
    now: datetime,
    lease_until: datetime,
    limit: int,
    *,
    delivery_id: int | None = None,
) -> list[Claimed]:
    """Take up to LIMIT due deliveries (or the one given, due or not): each counts an attempt
    and is not due again before LEASE_UNTIL (a process dying mid-send leaves it to be retried
    then). Other PostgreSQL processes skip the rows held; in id order."""
    due = select(_D.id).where(_D.status.in_(_WAITING))
    if delivery_id is not None:
        due = due.where(_D.id == delivery_id)
    else:
        due = due.where(_D.next_attempt_at <= now).order_by(_D.next_attempt_at, _D.id)
    due = due.limit(limit)
    chosen: Any = due
    if is_postgres(session):
        # Locked once in a materialised CTE: `IN (… LIMIT n FOR UPDATE SKIP LOCKED)` may be
        # re-run by the planner and take more than n rows, or rows another worker holds.
        held = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        chosen = select(held.c.id)
    statement = (
        update(_DELIVERIES)
        .where(_D.id.in_(chosen))
        .values(attempts=_D.attempts + 1, next_attempt_at=lease_until, last_attempt_at=now)
        .returning(
            _D.id, _D.endpoint_id, _D.event_type, _D.event_key, _D.occurred_at, _D.data,
            _D.attempts,
        )
    )  # fmt: skip
    rows = [Claimed(**row) for row in session.execute(statement).mappings()]
    return sorted(rows, key=lambda row: row.id)


def settle(session: Session, delivery_id: int, values: dict[str, Any]) -> None:
    """Record an attempt's outcome (status, code, error, next time, delivery time)."""
    session.execute(update(_DELIVERIES).where(_D.id == delivery_id).values(**values))


def postpone(session: Session, delivery_ids: Sequence[int], until: datetime) -> None:
    """Put claimed deliveries back, due at UNTIL, without counting the attempt they did not
    get."""
    if delivery_ids:
        session.execute(
            update(_DELIVERIES)
            .where(_D.id.in_(list(delivery_ids)))
            .values(attempts=_D.attempts - 1, next_attempt_at=until)
        )


def give_up_waiting(session: Session, endpoint_id: int, error: str, now: datetime) -> int:
    """Give up the deliveries of an endpoint still waiting (it was disabled); how many."""
    result = session.execute(
        update(_DELIVERIES)
        .where(_D.endpoint_id == endpoint_id, _D.status.in_(_WAITING))
        .values(status="gave_up", last_error=error, next_attempt_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def deliveries(
    session: Session, *, endpoint_id: int | None, status: str | None, limit: int
) -> list[WebhookDelivery]:
    """The latest deliveries (of an endpoint, in a status), newest first."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit)
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return list(session.scalars(query))


def delivery(session: Session, delivery_id: int) -> WebhookDelivery | None:
    """One delivery by id."""
    return session.get(WebhookDelivery, delivery_id)


# The logs deliveries are derived from: (their id, when a row was written).
LOGS: Final[dict[str, tuple[Any, Any]]] = {
    "stage_changes": (StageChange.id, StageChange.changed_at),
    "redemptions": (Event.id, Event.received_at),
}


def latest_id(session: Session, log: str) -> int:
    """The highest id of a log."""
    return max_id(session, LOGS[log][0])


def settled_id(session: Session, log: str, written_before: datetime | None) -> int:
    """The highest id of a log among rows written before WRITTEN_BEFORE (None: all)."""
    id_column, written = LOGS[log]
    return max_id(session, id_column, None if written_before is None else written < written_before)


def delivery_id(session: Session, endpoint_id: int, event_key: str) -> int | None:
    """The id of an endpoint's delivery of an event."""
    query = select(_D.id).where(_D.endpoint_id == endpoint_id, _D.event_key == event_key)
    found = session.scalar(query)
    return int(found) if found is not None else None
