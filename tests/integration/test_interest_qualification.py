"""Interest and automatic qualification on a real database (SQLite, PostgreSQL): the stored
interest equals the half-life formula, events arriving one batch at a time give the same
scores and stages as one bulk `score`, and every move says why."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact, ContactScore
from leadsift.engagement import service as events
from leadsift.engagement.models import Event
from leadsift.qualification import promotion, service
from leadsift.qualification.models import StageChange

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PLAYBOOK = """
name: Test offer
eligibility: age >= 18
fit:
  - {when: 'city = "Lyon"', points: 10}
interest:
  half_life: 14d
  rules:
    - {event: page_view, where: 'properties.path startswith "/pricing"', points: 10, cap: 30}
    - {event: page_view, points: 1, cap: 5}
    - {event: email_clicked, points: 10}
    - {event: form_submitted, points: 40}
    - {event: email_unsubscribed, points: -50}
qualify: fit >= 10 and interest >= 40 or count(callback_requested) >= 1
recycle_after: 30d
"""


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for module in ("leadsift.qualification.promotion", "leadsift.qualification.service"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: NOW)
    monkeypatch.setattr("leadsift.qualification.playbooks.utcnow", lambda: NOW)
    yield


def add_contacts(session: Session, count: int, city: str = "Lyon") -> list[int]:
    ids = []
    for n in range(count):
        contact = Contact(
            email=f"p{n}@example.com",
            age=30,
            city=city if n % 3 else "Paris",
            created_at=NOW - timedelta(days=90),
            updated_at=NOW - timedelta(days=90),
            attrs={},
        )
        session.add(contact)
        session.flush()
        ids.append(contact.id)
    service.qualify(session, PLAYBOOK, "playbook.yaml")
    return ids


def record(session: Session, batch: list[dict[str, Any]], now: datetime = NOW) -> Any:
    recorded = events.ingest(session, batch, now=now)
    promotion.after_events(session, recorded.contact_ids, now)
    return recorded.result


def view(contact_id: int, path: str, hours_ago: float, **extra: Any) -> dict[str, Any]:
    return {
        "type": "page_view",
        "contact_id": contact_id,
        "occurred_at": (NOW - timedelta(hours=hours_ago)).isoformat(),
        "properties": {"path": path},
        **extra,
    }


def interest_of(session: Session, contact_id: int) -> float:
    stored = session.get(ContactScore, contact_id)
    return stored.interest if stored is not None else 0.0


def test_interest_equals_the_half_life_formula_by_hand(session: Session) -> None:
    (lead,) = (i for i in add_contacts(session, 2) if session.get(Contact, i).city == "Lyon")
    record(
        session,
        [
            view(lead, "/pricing", 0),
            view(lead, "/pricing", 14 * 24),  # one half-life ago
            view(lead, "/about", 7 * 24),  # half a half-life ago
            {"type": "email_clicked", "contact_id": lead, "occurred_at": "2026-11-02T12:00:00Z"},
        ],
    )
    # pricing: 10 + 10·½ ; any page view: 1 + 1·½ + 1·2^(−½) ; click 28 days ago: 10·¼
    expected = 10 + 5 + 1 + 0.5 + 2**-0.5 + 2.5
    assert interest_of(session, lead) == pytest.approx(expected, rel=1e-9)


def test_a_hand_raiser_is_qualified_at_once_with_the_events_that_did_it(session: Session) -> None:
    contact_id = add_contacts(session, 2)[1]
    result = record(
        session,
        [
            view(contact_id, "/pricing", 2),
            {
                "type": "form_submitted",
                "contact_id": contact_id,
                "occurred_at": "2026-11-30T11:00Z",
            },
        ],
    )
    assert result.inserted == 2
    contact = session.get(Contact, contact_id)
    assert (contact.stage, contact.stage_reason) == ("qualified", "hand_raiser")
    change = session.scalars(
        select(StageChange).where(StageChange.contact_id == contact_id).order_by(StageChange.id)
    ).all()[-1]
    assert (change.from_stage, change.to_stage, change.reason) == (
        "lead",
        "qualified",
        "hand_raiser",
    )
    explanation = change.explanation
    assert explanation["policy"].startswith("fit >= 10 and interest >= 40")
    named = {
        item["type"] for rule in explanation["interest"]["rules"] for item in rule["contributions"]
    }
    assert named == {"page_view", "form_submitted"}
    assert explanation["interest"]["interest"] == pytest.approx(interest_of(session, contact_id))
    assert [e["type"] for e in explanation["hand_raisers"]] == ["form_submitted"]


def test_interest_alone_qualifies_with_reason_interest_threshold(session: Session) -> None:
    contact_id = add_contacts(session, 2)[1]
    record(session, [view(contact_id, "/pricing", h) for h in (1, 2, 3)])  # 30 capped + 3
    assert session.get(Contact, contact_id).stage == "lead"  # 33 < 40
    record(session, [{"type": "email_clicked", "contact_id": contact_id}])  # + 10
    contact = session.get(Contact, contact_id)
    assert (contact.stage, contact.stage_reason) == ("qualified", "interest_threshold")


def test_a_call_back_request_qualifies_whatever_the_interest(session: Session) -> None:
    contact_id = add_contacts(session, 1)[0]  # Paris: fit 0
    record(session, [{"type": "callback_requested", "contact_id": contact_id}])
    assert session.get(Contact, contact_id).stage == "qualified"


def test_a_purchase_makes_a_customer_through_qualified(session: Session) -> None:
    contact_id = add_contacts(session, 2)[1]
    record(
        session,
        [{"type": "purchase", "contact_id": contact_id, "properties": {"amount": 49.9}}],
    )
    changes = session.scalars(
        select(StageChange).where(StageChange.contact_id == contact_id).order_by(StageChange.id)
    ).all()
    assert [(c.from_stage, c.to_stage, c.reason) for c in changes[-2:]] == [
        ("lead", "qualified", "hand_raiser"),
        ("qualified", "customer", "purchase"),
    ]
    assert changes[-1].explanation["amount"] == 49.9
    assert session.get(Contact, contact_id).stage == "customer"


def test_silent_leads_are_recycled_and_requalified_when_interest_returns(
    session: Session,
) -> None:
    quiet, busy = add_contacts(session, 3)[1:]
    session.execute(Contact.__table__.update().values(stage_changed_at=NOW - timedelta(days=45)))
    record(session, [view(busy, "/pricing", 24)])
    summary = promotion.score(session)
    assert summary.moves == {"lead->unqualified:no_interest": 2}  # quiet, and the Paris lead
    assert session.get(Contact, quiet).stage_reason == "no_interest"
    assert session.get(Contact, busy).stage == "lead"
    record(session, [{"type": "form_submitted", "contact_id": quiet}])
    contact = session.get(Contact, quiet)
    assert (contact.stage, contact.stage_reason) == ("qualified", "hand_raiser")


def test_the_same_batch_five_times_changes_nothing(session: Session) -> None:
    contact_id = add_contacts(session, 2)[1]
    batch = [view(contact_id, "/pricing", h, idempotency_key=f"k{h}") for h in (1, 2)]
    batch.append(
        {"type": "email_clicked", "contact_id": contact_id, "occurred_at": "2026-11-29T10:00Z"}
    )
    first = record(session, batch)
    assert (first.inserted, first.duplicates) == (3, 0)
    state = _state(session)
    for _ in range(4):
        again = record(session, batch)
        assert (again.inserted, again.duplicates, again.errors) == (0, 3, [])
        assert _state(session) == state


def _state(session: Session) -> tuple[Any, ...]:
    return (
        session.execute(select(func.count()).select_from(Event)).scalar_one(),
        sorted(session.execute(select(ContactScore.contact_id, ContactScore.interest)).all()),
        sorted(session.execute(select(Contact.id, Contact.stage, Contact.stage_reason)).all()),
        session.execute(select(func.count()).select_from(StageChange)).scalar_one(),
    )


EVENT_TYPES = (
    "page_view",
    "page_view",
    "email_clicked",
    "form_submitted",
    "email_unsubscribed",
    "callback_requested",
    "purchase",
)


def _random_events(
    contact_ids: list[int], count: int, seed: int, *, negative: bool
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    generated = []
    for n in range(count):
        event_type = rng.choice(EVENT_TYPES)
        # Rare hand raisers and purchases, so some contacts stay leads.
        if (
            event_type in ("form_submitted", "callback_requested", "purchase")
            and rng.random() < 0.9
        ):
            event_type = "page_view"
        if event_type == "email_unsubscribed" and not negative:
            event_type = "email_clicked"
        generated.append(
            {
                "type": event_type,
                "contact_id": rng.choice(contact_ids),
                "occurred_at": (NOW - timedelta(minutes=rng.randint(0, 60 * 24 * 60))).isoformat(),
                "properties": {"path": rng.choice(("/pricing", "/menu", "/pricing/pro", "/"))},
                "idempotency_key": f"e{n}",
            }
        )
    return generated


def _real_time_then_bulk(
    session: Session, generated: list[dict[str, Any]]
) -> tuple[dict[int, Any], dict[int, Any]]:
    outer = session.begin_nested()
    for start in range(0, len(generated), 97):  # events arriving in many small batches
        record(session, generated[start : start + 97])
    real_time = _scores_and_stages(session)
    outer.rollback()

    outer = session.begin_nested()
    recorded = events.ingest(session, generated, now=NOW)  # stored without scoring
    assert recorded.result.inserted == len(generated)
    promotion.score(session)
    bulk = _scores_and_stages(session)
    outer.rollback()
    assert set(real_time) == set(bulk)
    return real_time, bulk


def test_real_time_and_bulk_give_the_same_scores_and_stages(session: Session) -> None:
    contact_ids = add_contacts(session, 120)
    generated = _random_events(contact_ids, 3_000, seed=7, negative=False)
    real_time, bulk = _real_time_then_bulk(session, generated)
    for contact_id, (interest, stage, reason) in real_time.items():
        assert bulk[contact_id][0] == pytest.approx(interest, rel=1e-12, abs=1e-12)
        assert bulk[contact_id][1] == stage, contact_id
        # The reason is what showed first: a contact that crossed the threshold before its form
        # arrived is `interest_threshold` on arrival, `hand_raiser` in bulk; never the reverse.
        if reason == "hand_raiser":
            assert bulk[contact_id][2] == "hand_raiser", contact_id
    stages = {stage for _, stage, _ in real_time.values()}
    assert {"lead", "qualified", "customer"} <= stages  # the comparison covers every move


def test_with_negative_points_scores_agree_and_qualification_is_sticky(session: Session) -> None:
    """An unsubscribe after qualification lowers the interest but never demotes (only an agent
    recycles a qualified prospect), so with negative points stages depend on arrival order;
    the scores never do."""
    contact_ids = add_contacts(session, 120)
    generated = _random_events(contact_ids, 3_000, seed=11, negative=True)
    real_time, bulk = _real_time_then_bulk(session, generated)
    for contact_id, (interest, stage, _) in real_time.items():
        assert bulk[contact_id][0] == pytest.approx(interest, rel=1e-12, abs=1e-12)
        if bulk[contact_id][1] == "qualified":
            assert stage in ("qualified", "customer")  # promoted in bulk => promoted on arrival


def _scores_and_stages(session: Session) -> dict[int, tuple[float, str, str | None]]:
    scores = dict(session.execute(select(ContactScore.contact_id, ContactScore.interest)).all())
    return {
        contact_id: (scores.get(contact_id, 0.0), stage, reason)
        for contact_id, stage, reason in session.execute(
            select(Contact.id, Contact.stage, Contact.stage_reason)
        )
    }
