"""Where webhook events come from, on both engines (each test rolled back): the stage history,
promo redemptions and scores crossing an endpoint's threshold; deriving twice adds nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact, ContactPrediction, ContactScore
from leadsift.outreach import promo
from leadsift.outreach.models import PromoCode
from leadsift.qualification.models import StageChange
from leadsift.webhooks import service
from leadsift.webhooks.models import WebhookDelivery

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def contacts(session: Session, count: int, stage: str = "lead") -> list[int]:
    rows = [
        {"email": f"w{i}@example.com", "stage": stage, "attrs": {}, "created_at": T0,
         "updated_at": T0}
        for i in range(count)
    ]  # fmt: skip
    return sorted(session.scalars(insert(Contact).returning(Contact.id), rows))


def moved(  # noqa: PLR0917 — one move, as the history row reads
    session: Session, contact: int, source: str, target: str, reason: str, at: datetime
) -> int:
    change = StageChange(
        contact_id=contact, from_stage=source, to_stage=target, reason=reason,
        actor="system", changed_at=at,
    )  # fmt: skip
    session.add(change)
    session.flush()
    return change.id


def endpoint(session: Session, events: str, at: datetime = T0, **options: Any) -> int:
    return service.add_endpoint(session, "https://crm.example.com/h", events, now=at, **options).id


def derived(session: Session, endpoint_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    query = (
        select(WebhookDelivery.event_type, WebhookDelivery.event_key, WebhookDelivery.data)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id)
    )
    return [(t, k, d) for t, k, d in session.execute(query)]


def test_each_move_gives_its_events_once(session: Session) -> None:
    first, second = contacts(session, 2)
    everything = endpoint(session, "stage_changed,qualified,customer")
    only_customers = endpoint(session, "customer")
    later = T0 + timedelta(minutes=5)
    q = moved(session, first, "lead", "qualified", "hand_raiser", later)
    c = moved(session, first, "qualified", "customer", "won", later)
    u = moved(session, second, "lead", "unqualified", "no_interest", later)
    counts = service.derive(session, later + timedelta(minutes=5))
    assert counts == {"contact.stage_changed": 3, "contact.qualified": 1, "contact.customer": 2}
    assert [key for _, key, _ in derived(session, everything)] == [
        f"stage_changed-{q}", f"stage_changed-{c}", f"stage_changed-{u}",
        f"qualified-{q}", f"customer-{c}",
    ]  # fmt: skip
    assert derived(session, only_customers) == [
        (
            "contact.customer",
            f"customer-{c}",
            {"contact_id": first, "from_stage": "qualified", "to_stage": "customer",
             "reason": "won"},
        )
    ]  # fmt: skip
    assert service.derive(session, later + timedelta(minutes=6)) == {}


def test_moves_before_an_endpoint_existed_are_not_its_events(session: Session) -> None:
    (contact,) = contacts(session, 1)
    moved(session, contact, "lead", "qualified", "hand_raiser", T0)
    late = endpoint(session, "qualified", at=T0 + timedelta(minutes=1))
    assert service.derive(session, T0 + timedelta(minutes=2)) == {}
    assert derived(session, late) == []


def test_a_redeemed_code_is_announced_with_its_codes(session: Session) -> None:
    (contact,) = contacts(session, 1, stage="qualified")
    hook = endpoint(session, "code_redeemed", at=datetime.now(UTC) - timedelta(minutes=1))
    program = promo.create_program(session, "summer", discount="20%", now=T0)
    session.execute(
        insert(PromoCode).values(
            code="ETE25ABCDE", program_id=program.id, contact_id=contact, issued_at=T0
        )
    )
    promo.redeem(session, "ete25abcde", now=datetime.now(UTC), amount=49.5)
    assert service.derive(session, datetime.now(UTC)) == {"promo_code.redeemed": 1}
    ((event_type, key, data),) = derived(session, hook)
    assert event_type == "promo_code.redeemed"
    assert key.startswith("code_redeemed-")
    assert data == {"contact_id": contact, "code": "ETE25ABCDE", "program": "summer",
                    "amount": 49.5, "campaign": None}  # fmt: skip


def _score(session: Session, contact: int, interest: float, at: datetime) -> None:
    found = session.get(ContactScore, contact)
    if found is None:
        session.add(ContactScore(contact_id=contact, interest=interest, scored_at=at))
    else:
        found.interest, found.scored_at = interest, at
    session.flush()


def test_a_score_crossing_the_threshold_is_announced_once_per_crossing(session: Session) -> None:
    already, rising = contacts(session, 2)
    _score(session, already, 70.0, T0)
    _score(session, rising, 50.0, T0)
    hook = endpoint(session, "score_crossed", threshold="interest>=60")
    # Above the threshold before the endpoint existed: not a crossing, even when rescored.
    _score(session, already, 75.0, T0 + timedelta(minutes=1))
    assert service.derive(session, T0 + timedelta(minutes=1)) == {}
    _score(session, rising, 65.0, T0 + timedelta(minutes=2))
    assert service.derive(session, T0 + timedelta(minutes=2)) == {"contact.score_crossed": 1}
    _score(session, rising, 90.0, T0 + timedelta(minutes=3))  # still above: nothing new
    assert service.derive(session, T0 + timedelta(minutes=3)) == {}
    _score(session, rising, 40.0, T0 + timedelta(minutes=4))  # falls below…
    assert service.derive(session, T0 + timedelta(minutes=4)) == {}
    _score(session, rising, 61.0, T0 + timedelta(minutes=5))  # …and crosses again
    assert service.derive(session, T0 + timedelta(minutes=5)) == {"contact.score_crossed": 1}
    found = derived(session, hook)
    assert [data for _, _, data in found] == [
        {"contact_id": rising, "score": "interest", "threshold": 60.0, "value": 65.0},
        {"contact_id": rising, "score": "interest", "threshold": 60.0, "value": 61.0},
    ]
    assert len({key for _, key, _ in found}) == 2


def test_a_probability_threshold_reads_the_predictions(session: Session) -> None:
    (contact,) = contacts(session, 1)
    session.add(ContactPrediction(contact_id=contact, model_id=1, probability=0.1, priority=1.0,
                                  predicted_at=T0))  # fmt: skip
    session.flush()
    hook = endpoint(session, "score_crossed", threshold="probability>=0.3")
    interest = endpoint(session, "score_crossed", threshold="interest>=0.3")
    session.execute(
        update(ContactPrediction)
        .where(ContactPrediction.contact_id == contact)
        .values(probability=0.35, predicted_at=T0 + timedelta(minutes=1))
    )
    assert service.derive(session, T0 + timedelta(minutes=1)) == {"contact.score_crossed": 1}
    assert [d["score"] for _, _, d in derived(session, hook)] == ["probability"]
    assert derived(session, interest) == []


def test_a_disabled_endpoint_derives_nothing(session: Session) -> None:
    (contact,) = contacts(session, 1)
    hook = endpoint(session, "qualified")
    service.disable_endpoint(session, hook, now=T0)
    moved(session, contact, "lead", "qualified", "hand_raiser", T0 + timedelta(minutes=1))
    assert service.derive(session, T0 + timedelta(minutes=2)) == {}
