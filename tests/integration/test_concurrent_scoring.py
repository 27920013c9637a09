"""Two transactions rescoring the same contact at once (the API's rescoring and a `score` run,
or two API processes): the later one wins, neither fails."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from leadsift.contacts.models import Contact, ContactScore
from leadsift.db import Database
from leadsift.engagement.criteria_fields import event_registry
from leadsift.engagement.service import ingest
from leadsift.interest import repository
from leadsift.interest.decay import compile_interest
from leadsift.kit.clock import utcnow

MODEL = compile_interest(
    {"half_life": "14d", "rules": [{"event": "page_view", "points": 10}]}, event_registry()
)


def test_concurrent_rescoring_of_one_contact(committed_db_url: str) -> None:
    database = Database(committed_db_url).ready()
    now = utcnow()
    with database.unit_of_work() as session:
        contact = Contact(email="c@example.com", created_at=now, updated_at=now, attrs={})
        session.add(contact)
        session.flush()
        contact_id = contact.id
        ingest(session, [{"type": "page_view", "contact_id": contact_id}], now=now)
    first_wrote = threading.Event()
    failures: list[BaseException] = []

    def second() -> None:
        first_wrote.wait(10)
        try:
            with database.unit_of_work() as session:
                repository.write_interest(session, MODEL, now + timedelta(days=14), [contact_id])
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=second)
    thread.start()
    with database.unit_of_work() as session:
        repository.write_interest(session, MODEL, now, [contact_id])
        first_wrote.set()
        thread.join(0.5)  # the second waits for this transaction's row locks
    thread.join(30)
    assert not failures, failures
    with database.unit_of_work() as session:
        stored = session.scalars(select(ContactScore).where(ContactScore.contact_id == contact_id))
        (row,) = stored.all()
    # Now, or 14 days later (one half-life): whichever committed last.
    assert any(abs(row.interest - value) < 1e-6 for value in (10.0, 5.0)), row.interest
    database.dispose()
