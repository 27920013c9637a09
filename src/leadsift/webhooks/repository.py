"""SQL of webhooks: endpoints, cursors over the logs, deliveries derived from them (one
`INSERT … SELECT … ON CONFLICT DO NOTHING` per endpoint and event type), score marks, claims
(`FOR UPDATE SKIP LOCKED` on PostgreSQL) and settling."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Final

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
from leadsift.kit.bulk import dialect_insert
from leadsift.kit.orm import UtcDateTime
from leadsift.kit.sqljson import json_record, json_value_at
from leadsift.qualification.models import StageChange
from leadsift.webhooks.models import (
    WebhookCursor,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookScoreMark,
)

_DELIVERIES: Final = WebhookDelivery.__table__
_D = WebhookDelivery
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
    statement = insert.on_conflict_do_nothing(index_elements=["endpoint_id", "event_key"])
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


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
        delete(WebhookScoreMark).where(
            WebhookScoreMark.endpoint_id == endpoint_id, ~still.exists()
        )
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
        session.execute(
            dialect_insert(session)(WebhookScoreMark).on_conflict_do_nothing(), rows
        )


def insert_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert deliveries; those whose (endpoint, event key) exists are skipped. The number new."""
    if not rows:
        return 0
    statement = dialect_insert(session)(WebhookDelivery).on_conflict_do_nothing(
        index_elements=["endpoint_id", "event_key"]
    )
    return int(session.execute(statement, list(rows)).rowcount or 0)  # type: ignore[attr-defined]
