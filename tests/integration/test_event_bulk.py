"""Large batches take the bulk SQL (executemany on SQLite, COPY on PostgreSQL): they store what
the ORM statement stores, and skip keys another writer stored meanwhile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact
from leadsift.engagement import bulk_repository, repository
from leadsift.engagement.models import Event
from leadsift.engagement.schemas import EventView
from leadsift.engagement.service import ingest

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _contacts(session: Session, count: int) -> list[int]:
    contacts = [
        Contact(
            email=f"bulk{n}@example.com",
            phone=f"+3361234{n:04d}",
            external_id=f"crm-{n}",
            created_at=NOW,
            updated_at=NOW,
            attrs={},
        )
        for n in range(count)
    ]
    session.add_all(contacts)
    session.flush()
    return [contact.id for contact in contacts]


def _events(batch: str, count: int) -> list[dict[str, Any]]:
    """Every shape a row can take: each reference, anonymous, nested and non-ASCII properties."""
    events: list[dict[str, Any]] = []
    for n in range(count):
        event: dict[str, Any] = {
            "type": ("page_view", "form_submitted", "purchase")[n % 3],
            "occurred_at": (NOW - timedelta(minutes=n, microseconds=n)).isoformat(),
            "idempotency_key": f"{batch}-{n}",
            "properties": {"path": "/menu", "plat": "Crème brûlée", "n": n, "tags": ["a", n]}
            if n % 2
            else {},
        }
        reference = n % 5
        if reference == 0:
            event["email"] = f"BULK{n % 7}@example.com"
        elif reference == 1:
            event["phone"] = f"06 12 34 {n % 7:04d}"[:14]
        elif reference == 2:
            event["external_id"] = f"crm-{n % 7}"
        elif reference == 3:
            event["anonymous_id"] = f"visitor-{n:04d}"
            event["utm_source"], event["campaign"] = "newsletter", "[i]spring[/i]"
        else:
            event["email"] = f"bulk{n % 7}@example.com"
            event["source"] = "crm"
        events.append(event)
    return events


def _stored(session: Session, batch: str) -> list[dict[str, Any]]:
    query = select(Event).where(Event.idempotency_key.startswith(batch)).order_by(Event.id)
    return [
        EventView.model_validate(event).model_dump(exclude={"id", "idempotency_key"})
        | {"key": event.idempotency_key.removeprefix(batch), "dedup": len(event.dedup_key)}
        for event in session.scalars(query)
    ]


def test_the_bulk_path_stores_what_the_orm_path_stores(session: Session) -> None:
    _contacts(session, 7)
    small = _events("orm", 40)
    assert len(small) < bulk_repository.BULK_ROWS
    recorded = []
    for start in range(0, len(small), 10):  # batches of 10: the ORM statement
        recorded.append(ingest(session, small[start : start + 10], now=NOW).result)
    large = _events("bulk", bulk_repository.BULK_ROWS + 100)
    bulk = ingest(session, large, now=NOW).result  # one batch: the bulk SQL
    assert sum(r.inserted for r in recorded) == 40 and not any(r.errors for r in recorded)
    assert (bulk.inserted, bulk.duplicates, bulk.errors) == (len(large), 0, [])
    session.expire_all()
    assert _stored(session, "bulk")[:40] == _stored(session, "orm")
    again = ingest(session, large, now=NOW + timedelta(minutes=1)).result
    assert (again.inserted, again.duplicates, again.errors) == (0, len(large), [])


def test_keys_stored_meanwhile_are_skipped_and_the_transaction_goes_on(session: Session) -> None:
    (contact_id,) = _contacts(session, 1)

    def row(n: int) -> dict[str, Any]:
        return {
            "type": "page_view",
            "contact_id": contact_id,
            "anonymous_id": None,
            "occurred_at": NOW - timedelta(seconds=n),
            "received_at": NOW,
            "properties": {"n": n},
            **dict.fromkeys(("source", "campaign", "utm_source", "utm_medium")),
            **dict.fromkeys(("utm_campaign", "utm_term", "utm_content", "idempotency_key")),
            "dedup_key": n.to_bytes(16, "big"),
            "payload_hash": bytes(16),
        }

    first = [row(n) for n in range(bulk_repository.BULK_ROWS)]
    assert len(repository.insert_events(session, first)) == len(first)
    # As if another writer had stored half of them since the check: only the rest goes in.
    mixed = [row(n) for n in range(len(first) // 2, len(first) + 300)]
    inserted = repository.insert_events(session, mixed)
    assert inserted == {n.to_bytes(16, "big") for n in range(len(first), len(first) + 300)}
    latest = session.scalars(select(Event).order_by(Event.id.desc()).limit(1)).one()
    assert latest.properties == {"n": len(first) + 299} and latest.received_at == NOW
    keys = [n.to_bytes(16, "big") for n in range(len(first) + 300)]
    assert len(repository.stored_payloads(session, keys)) == len(keys)
    found = repository.contact_ids_by(session, "contact_id", [contact_id] * 600)
    assert found == {contact_id: contact_id}
