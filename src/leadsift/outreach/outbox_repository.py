"""SQL of the outbox: claiming due messages (`FOR UPDATE SKIP LOCKED` on PostgreSQL), settling
them one by one, the workers' registry, and recovering a dead worker's claims."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from leadsift.contacts.models import ConsentRecord, Contact
from leadsift.engagement.bulk_repository import EVENT_COLUMNS
from leadsift.engagement.models import Event
from leadsift.kit.bulk import dialect_insert, driver_connection, is_postgres, sqlite_timestamp
from leadsift.kit.sequences import pieces
from leadsift.outreach.models import Campaign, OutboxMessage, OutboxWorker, Suppression
from leadsift.qualification.policy import CONVERSION_EVENTS

_OUTBOX = cast(Table, OutboxMessage.__table__)
_WORKERS = cast(Table, OutboxWorker.__table__)
_SUPPRESSIONS = cast(Table, Suppression.__table__)
_O = _OUTBOX.c
_CONSENT = ConsentRecord.__table__.c
_CONTACTS = Contact.__table__.c
_EVENTS = Event.__table__.c
_CAMPAIGNS = Campaign.__table__.c
# The SQL types of the events' columns that are not text, and where the properties are.
_EVENT_TYPES = {"contact_id": "bigint", "occurred_at": "timestamptz", "received_at": "timestamptz",
                "properties": "jsonb", "dedup_key": "bytea", "payload_hash": "bytea"}  # fmt: skip
_EVENT_PROPERTIES = EVENT_COLUMNS.index("properties")

# Due rows, oldest due first: one range of the (status, due_at, id) index. A paused campaign's
# rows are `held`, not `pending`, so no join to campaigns is needed (with a million held rows
# due earlier, the join made every claim walk them). PostgreSQL skips rows another worker
# holds, so several workers share the queue without waiting on each other.
_CLAIM_SQL = """
UPDATE outbox_messages SET status = 'claimed', claim_token = :token, claimed_at = :now,
       attempts = attempts + 1
WHERE id IN (
    SELECT o.id FROM outbox_messages o
    WHERE o.status = 'pending' AND o.due_at <= :now
    ORDER BY o.due_at, o.id LIMIT :limit {lock}
)
RETURNING id, campaign_id, contact_id, channel, step, attempts
"""


def claim(session: Session, token: str, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Mark up to LIMIT due messages as claimed by TOKEN; return them in id order."""
    lock = "FOR UPDATE OF o SKIP LOCKED" if is_postgres(session) else ""
    statement = text(_CLAIM_SQL.format(lock=lock)).bindparams(
        token=token, now=_bind_time(session, now), limit=limit
    )
    rows = [dict(r) for r in session.execute(statement).mappings()]
    return sorted(rows, key=lambda r: r["id"])


def _bind_time(session: Session, moment: datetime) -> Any:
    # Raw SQL bypasses UtcDateTime: give SQLite the same text the ORM writes.
    if is_postgres(session):
        return moment
    return sqlite_timestamp(moment)


def contact_facts(
    session: Session, contact_ids: Sequence[int], channel: str
) -> dict[int, dict[str, Any]]:
    """The claimed contacts' columns, latest marketing consent on CHANNEL and last purchase, in
    one query (what rendering and the gate read; `recheck` refreshes what may change)."""
    consent = (
        select(_CONSENT.granted)
        .where(
            _CONSENT.contact_id == _CONTACTS.id,
            _CONSENT.channel == channel,
            _CONSENT.purpose == "marketing",
        )
        .order_by(_CONSENT.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    purchase = (
        select(func.max(_EVENTS.occurred_at))
        .where(_EVENTS.contact_id == _CONTACTS.id, _EVENTS.type.in_(list(CONVERSION_EVENTS)))
        .scalar_subquery()
    )
    found: dict[int, dict[str, Any]] = {}
    for piece in pieces(list(contact_ids)):
        query = select(
            Contact.__table__, consent.label("consent"), purchase.label("last_purchase_at")
        ).where(_CONTACTS.id.in_(piece))
        found.update({row["id"]: dict(row) for row in session.execute(query).mappings()})
    return found


# Run once per message: written for the driver (SQLAlchemy's statement machinery would cost more
# than the query itself). `{p}` is the driver's placeholder; values are always bound.
_RECHECK_SQL = """
SELECT
  (SELECT 1 FROM contacts WHERE id = {p}),
  (SELECT granted FROM consent_records WHERE contact_id = {p} AND channel = {p}
     AND purpose = 'marketing' ORDER BY id DESC LIMIT 1),
  (SELECT reason FROM suppressions
     WHERE (channel = 'all' AND identifier_hash IN ({p}, {p}))
        OR (channel = {p} AND identifier_hash = {p}) LIMIT 1),
  (SELECT status FROM campaigns WHERE id = {p})
"""
_SETTLE_SQL = (
    "UPDATE outbox_messages SET status = {p}, reason = {p}, detail = {p}, message_id = {p}, "
    "provider_id = {p}, settled_at = {p}, claim_token = NULL WHERE id = {p}"
)


def _driver(session: Session, sql: str, parameters: tuple[Any, ...]) -> tuple[Any, ...] | None:
    postgres = is_postgres(session)
    cursor = driver_connection(session).cursor()
    try:
        cursor.execute(sql.format(p="%s" if postgres else "?"), parameters)
        return cursor.fetchone() if cursor.description else None
    finally:
        cursor.close()


def _recheck_parameters(
    *,
    contact_id: int,
    channel: str,
    campaign_id: int,
    email_hash: str | None,
    phone_hash: str | None,
    channel_hash: str | None,
) -> tuple[Any, ...]:
    return (contact_id, contact_id, channel, email_hash, phone_hash, channel,
            channel_hash, campaign_id)  # fmt: skip


def _fresh(row: Sequence[Any] | None) -> dict[str, Any]:
    assert row is not None  # noqa: S101 — a SELECT without FROM always gives one row
    present, consent, suppressed, status = row
    return {"present": present, "consent": None if consent is None else bool(consent),
            "suppressed": suppressed, "campaign_status": status}  # fmt: skip


def recheck(
    session: Session,
    *,
    contact_id: int,
    channel: str,
    campaign_id: int,
    email_hash: str | None,
    phone_hash: str | None,
    channel_hash: str | None,
) -> dict[str, Any]:
    """What may have changed since the claim, in one round trip right before a send: whether
    the contact still exists, its latest consent on CHANNEL, the suppression reason of its
    identifiers (everywhere, or the channel's own identifier on it), the campaign's status."""
    parameters = _recheck_parameters(
        contact_id=contact_id, channel=channel, campaign_id=campaign_id,
        email_hash=email_hash, phone_hash=phone_hash, channel_hash=channel_hash,
    )  # fmt: skip
    return _fresh(_driver(session, _RECHECK_SQL, parameters))


# A sent message on PostgreSQL, in one statement run on its own (autocommit, so atomic): its
# settlement, its `*_sent` event (stored as `record_for_contacts` stores it) and, when the lane
# has a next message, that one's re-check (`_RECHECK_SQL`'s four values). One round trip instead
# of BEGIN, three statements and COMMIT: the lane's time is mostly waits and per-call costs. The
# re-check reads no table the statement writes, so the shared snapshot changes nothing.
_EVENT_NAMES = ", ".join(EVENT_COLUMNS)
_EVENT_VALUES = ", ".join(f"%s::{_EVENT_TYPES.get(name, 'text')}" for name in EVENT_COLUMNS)
_SENT_SQL = (  # fixed names and types only: every value is a parameter
    "WITH settled AS (UPDATE outbox_messages SET status = 'sent', reason = NULL, detail = %s, "  # noqa: S608
    "message_id = %s, provider_id = %s, settled_at = %s, claim_token = NULL WHERE id = %s), "
    f"logged AS (INSERT INTO events ({_EVENT_NAMES}) VALUES ({_EVENT_VALUES}) "
    "ON CONFLICT (dedup_key) DO NOTHING) "  # nosec B608 — names and types are constants
)
_SENT_ONLY_SQL = _SENT_SQL + "SELECT NULL"
_SENT_AND_RECHECK_SQL = _SENT_SQL + _RECHECK_SQL.format(p="%s")
_event_record = itemgetter(*EVENT_COLUMNS)
_json_text = json.JSONEncoder().encode


def settle_sent(
    connection: Any,
    outbox_id: int,
    *,
    settled_at: datetime,
    detail: str,
    message_id: str | None,
    provider_id: str | None,
    event: Mapping[str, Any],
    recheck_next: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """PostgreSQL: settle a sent message and store its EVENT (a row of `events`) in one
    committed statement on CONNECTION (psycopg, outside any transaction); with RECHECK_NEXT
    (`recheck`'s arguments), the lane's next message is re-checked in it too: its values."""
    values = list(_event_record(event))
    values[_EVENT_PROPERTIES] = _json_text(values[_EVENT_PROPERTIES])
    parameters = [detail, message_id, provider_id, settled_at, outbox_id, *values]
    sql = _SENT_ONLY_SQL
    if recheck_next is not None:
        sql = _SENT_AND_RECHECK_SQL
        parameters += _recheck_parameters(**recheck_next)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, parameters, prepare=True)
            row = cursor.fetchone()
    finally:
        connection.autocommit = False
    return None if recheck_next is None else _fresh(row)


_RETRY = (
    update(_OUTBOX)
    .where(_O.id == bindparam("outbox_id"))
    .values(
        status="pending",
        claim_token=None,
        claimed_at=None,
        due_at=bindparam("due_at"),
        detail=bindparam("detail"),
    )
)


def settle(
    session: Session,
    outbox_id: int,
    *,
    status: str,
    settled_at: datetime,
    reason: str | None = None,
    detail: str | None = None,
    message_id: str | None = None,
    provider_id: str | None = None,
) -> None:
    """Record what became of a claimed message (driver-level: once per message)."""
    stamp = settled_at if is_postgres(session) else sqlite_timestamp(settled_at)
    parameters = (status, reason, detail, message_id, provider_id, stamp, outbox_id)
    _driver(session, _SETTLE_SQL, parameters)


def retry_later(session: Session, outbox_id: int, *, due_at: datetime, detail: str) -> None:
    """Put a message refused for now back in the queue, due at DUE_AT (its attempt counted)."""
    session.execute(_RETRY, {"outbox_id": outbox_id, "due_at": due_at, "detail": detail})


def release(
    session: Session,
    outbox_ids: Sequence[int],
    due_at: datetime | None = None,
    *,
    status: str = "pending",
) -> int:
    """Put claimed messages back in the queue (or aside, `held`, for a paused campaign), their
    claim's attempt not counted."""
    if not outbox_ids:
        return 0
    values: dict[str, Any] = {
        "status": status,
        "claim_token": None,
        "claimed_at": None,
        "attempts": _O.attempts - 1,
    }
    if due_at is not None:
        values["due_at"] = due_at
    statement = update(_OUTBOX).where(_O.id.in_(list(outbox_ids)), _O.status == "claimed")
    return int(session.execute(statement.values(**values)).rowcount or 0)  # type: ignore[attr-defined]


def add_next_step(session: Session, row: dict[str, Any]) -> None:
    """A sequence's next message (once: the unique key ignores a second)."""
    statement = dialect_insert(session)(_OUTBOX).values(**row)
    session.execute(
        statement.on_conflict_do_nothing(
            index_elements=["campaign_id", "contact_id", "channel", "step"]
        )
    )


def claimed_by(session: Session, token: str) -> list[int]:
    """The ids of messages TOKEN claimed and did not settle, in id order."""
    query = select(_O.id).where(_O.claim_token == token, _O.status == "claimed")
    return list(session.scalars(query.order_by(_O.id)))


def mark_ambiguous(session: Session, outbox_id: int, detail: str, now: datetime) -> None:
    """The message may have left: never sent again, listed for a person to decide."""
    settle(session, outbox_id, status="ambiguous", reason="worker_died", detail=detail,
           settled_at=now)  # fmt: skip


def register_worker(session: Session, worker: OutboxWorker) -> None:
    """Add a worker to the registry."""
    session.add(worker)
    session.flush()


def heartbeat(session: Session, token: str, now: datetime) -> None:
    """Say the worker TOKEN is alive."""
    session.execute(update(_WORKERS).where(_WORKERS.c.token == token).values(heartbeat_at=now))


def stop_worker(session: Session, token: str, now: datetime) -> None:
    """Mark the worker TOKEN as stopped."""
    session.execute(update(_WORKERS).where(_WORKERS.c.token == token).values(stopped_at=now))


def running_workers(session: Session) -> list[OutboxWorker]:
    """Workers not known to have stopped."""
    query = select(OutboxWorker).where(OutboxWorker.stopped_at.is_(None))
    return list(session.scalars(query.order_by(OutboxWorker.started_at)))


def orphan_tokens(session: Session) -> list[str]:
    """Claim tokens of no running worker (a worker whose row was lost)."""
    running = select(OutboxWorker.token).where(OutboxWorker.stopped_at.is_(None))
    query = select(_O.claim_token).where(
        and_(_O.status == "claimed", _O.claim_token.is_not(None), _O.claim_token.not_in(running))
    )
    return sorted({t for t in session.scalars(query.distinct()) if t})


def stop_events_since(
    session: Session, contact_id: int, types: Sequence[str], since: datetime
) -> str | None:
    """The type of the first event among TYPES the contact had since SINCE, if any."""
    query = (
        select(_EVENTS.type)
        .where(
            _EVENTS.contact_id == contact_id,
            _EVENTS.type.in_(list(types)),
            _EVENTS.occurred_at >= since,
        )
        .order_by(_EVENTS.occurred_at)
        .limit(1)
    )
    return session.scalar(query)
