"""The funnel's note on time to convert: a same-day conversion is 0 days, not "n/a" (which
says there is nothing to measure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from leadsift.analytics import funnel
from leadsift.contacts.models import Contact
from leadsift.qualification.models import StageChange

NOW = datetime(2026, 6, 15, 10, 30, tzinfo=UTC)


def _contact(session: Session, email: str, path: list[str], hours: float) -> None:
    entered = NOW - timedelta(days=3)
    contact = Contact(email=email, stage=path[-1] if path else "contact", attrs={},
                      created_at=entered, updated_at=entered)  # fmt: skip
    session.add(contact)
    session.flush()
    previous = "contact"
    for step, stage in enumerate(path, start=1):
        at = entered + timedelta(hours=hours * step / len(path))
        session.add(StageChange(contact_id=contact.id, from_stage=previous, to_stage=stage,
                                reason="test", actor="test", changed_at=at))  # fmt: skip
        previous = stage
    session.flush()


def _note(session: Session) -> str:
    report = funnel.funnel(session, by="all", since=NOW - timedelta(days=30), until=NOW, now=NOW)
    return next(note for note in report.notes if note.startswith("time to convert"))


def test_a_same_day_conversion_is_zero_days_and_none_is_not_applicable(session: Session) -> None:
    _contact(session, "lead@exemple.fr", ["lead"], 1)
    assert _note(session) == "time to convert: median n/a days, p90 n/a days"
    _contact(session, "quick@exemple.fr", ["lead", "qualified", "customer"], 0.5)
    assert _note(session) == "time to convert: median 0.0 days, p90 0.0 days"
