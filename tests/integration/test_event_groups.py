"""Several requests recorded in one pass (the API's group commit) are each answered as if alone."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact
from leadsift.engagement.service import ingest_requests

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_each_request_gets_its_own_counts_and_indexes(session: Session) -> None:
    contact = Contact(email="ann@example.com", created_at=NOW, updated_at=NOW, attrs={})
    session.add(contact)
    session.flush()
    shared = {"type": "page_view", "contact_id": contact.id, "occurred_at": "2026-11-30T10:00Z"}
    first = [shared, {"type": "page_view", "email": "nobody@example.com"}]
    second = [
        {"type": "x", "contact_id": contact.id, "colour": 1},
        shared,  # the same event as the first request's: a duplicate
        {"type": "email_clicked", "contact_id": contact.id, "occurred_at": "2026-11-30T11:00Z"},
    ]
    results, touched = ingest_requests(session, [first, second, []], now=NOW)
    assert (results[0].inserted, results[0].duplicates) == (1, 0)
    assert [(e.index, e.code) for e in results[0].errors] == [(1, "unknown_contact")]
    assert (results[1].inserted, results[1].duplicates) == (1, 1)
    assert [(e.index, e.code) for e in results[1].errors] == [(0, "invalid_event")]
    assert (results[2].inserted, results[2].duplicates, results[2].errors) == (0, 0, [])
    assert touched == {contact.id}
