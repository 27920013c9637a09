"""Incremental interest on a real database (SQLite, PostgreSQL): a `leadsift score` after another
decays the stored sums and computes from their events only the contacts whose events changed —
and every stored interest equals the from-scratch formula, whatever happened in between: events
recorded with or without their rescoring, events stitched from a visitor, events dated after the
previous run, a new interest model, deleted contacts, events passing the cut-off."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact, ContactScore
from leadsift.engagement import service as events
from leadsift.interest import incremental, repository, service
from leadsift.interest.models import InterestState
from leadsift.qualification import promotion
from leadsift.qualification import service as qualification

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PLAYBOOK = """
name: Incremental
eligibility: age >= 18
fit:
  - {when: 'city = "Lyon"', points: 10}
interest:
  half_life: HALF_LIFE
  rules:
    - {event: page_view, where: 'properties.path startswith "/pricing"', points: 10, cap: 30}
    - {event: page_view, points: 1, cap: 5}
    - {event: email_clicked, points: 10}
    - {event: form_submitted, points: 40}
    - {event: email_unsubscribed, points: -50, cap: 60}
qualify: fit >= 10 and interest >= 40 or count(callback_requested) >= 1
recycle_after: 30d
"""
TYPES = ("page_view", "page_view", "email_clicked", "form_submitted", "email_unsubscribed")


class Clock:
    """The moment every service reads as now."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    moment = Clock()
    for module in (
        "leadsift.qualification.promotion",
        "leadsift.qualification.service",
        "leadsift.qualification.playbooks",
    ):
        monkeypatch.setattr(f"{module}.utcnow", moment)
    yield moment


def setup(session: Session, count: int, half_life: str = "14d") -> list[int]:
    ids = []
    for n in range(count):
        contact = Contact(
            email=f"i{n}@example.com",
            age=30,
            city="Lyon",
            created_at=NOW - timedelta(days=90),
            updated_at=NOW - timedelta(days=90),
            attrs={},
        )
        session.add(contact)
        session.flush()
        ids.append(contact.id)
    qualification.qualify(session, PLAYBOOK.replace("HALF_LIFE", half_life), "playbook.yaml")
    return ids


def random_events(
    contact_ids: list[int], count: int, seed: int, at: datetime
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "type": rng.choice(TYPES),
            "contact_id": rng.choice(contact_ids),
            "occurred_at": (at - timedelta(minutes=rng.randint(0, 60 * 24 * 60))).isoformat(),
            "properties": {"path": rng.choice(("/pricing", "/menu", "/pricing/pro", "/"))},
            "idempotency_key": f"{seed}-{n}",
        }
        for n in range(count)
    ]


def stored(session: Session) -> dict[int, float]:
    session.expire_all()
    return dict(session.execute(select(ContactScore.contact_id, ContactScore.interest)).all())  # type: ignore[arg-type]


def from_scratch(session: Session, now: datetime) -> dict[int, float]:
    """Everyone's interest at NOW computed from every event (the formula, in SQL)."""
    policy = promotion.active_policy(session)
    assert policy is not None and policy.interest is not None
    query = repository.interest_query(policy.interest, now, None)
    return {row.contact_id: row.interest for row in session.execute(query)}


def assert_equal_to_scratch(session: Session, now: datetime) -> None:
    found, expected = stored(session), from_scratch(session, now)
    assert set(found) == set(expected)
    for contact_id, interest in expected.items():
        assert found[contact_id] == pytest.approx(interest, rel=1e-9, abs=1e-12), contact_id


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """How each run computed everyone: "full" or "incremental (N contacts)"."""
    seen: list[str] = []
    full, decay = repository.write_interest, incremental.decay_stored

    def write(session: Session, model: Any, now: datetime, ids: Any) -> None:
        if ids is None:
            seen.append("full")
        full(session, model, now, ids)

    def decayed(session: Session, model: Any, key: int, now: datetime) -> None:
        seen.append("incremental")
        decay(session, model, key, now)

    monkeypatch.setattr(repository, "write_interest", write)
    monkeypatch.setattr(incremental, "decay_stored", decayed)
    return seen


def test_a_second_run_decays_the_stored_sums(
    session: Session, clock: Clock, passes: list[str]
) -> None:
    ids = setup(session, 40)
    events.ingest(session, random_events(ids, 600, seed=1, at=NOW), now=NOW)
    promotion.score(session)
    assert_equal_to_scratch(session, NOW)
    for days in (0.5, 3, 40):
        clock.now = NOW + timedelta(days=days)
        promotion.score(session)
        assert_equal_to_scratch(session, clock.now)
    assert passes == ["full", "incremental", "incremental", "incremental"]
    state = session.execute(select(InterestState)).scalar_one()
    assert state.scored_at == clock.now


def test_events_recorded_between_runs_with_or_without_their_rescoring(
    session: Session, clock: Clock, passes: list[str]
) -> None:
    ids = setup(session, 40)
    events.ingest(session, random_events(ids, 400, seed=2, at=NOW), now=NOW)
    promotion.score(session)
    later = NOW + timedelta(days=2)
    # Rescored on arrival (the API), and stored without it (a crash before the rescoring).
    recorded = events.ingest(session, random_events(ids[:10], 50, seed=3, at=later), now=later)
    promotion.after_events(session, recorded.contact_ids, later)
    events.ingest(session, random_events(ids[10:20], 50, seed=4, at=later), now=later)
    clock.now = later + timedelta(hours=5)
    promotion.score(session)
    assert_equal_to_scratch(session, clock.now)
    assert passes == ["full", "incremental"]


def test_stitched_events_are_computed_again(
    session: Session, clock: Clock, passes: list[str]
) -> None:
    quiet, busy, *others = setup(session, 6)
    visitor = [
        {
            "type": "page_view",
            "anonymous_id": "visitor-1",
            "occurred_at": (NOW - timedelta(hours=h)).isoformat(),
            "properties": {"path": "/pricing"},
        }
        for h in (1, 2, 30)
    ]
    visitor.append(
        {"type": "email_clicked", "anonymous_id": "visitor-2", "occurred_at": NOW.isoformat()}
    )
    scored = [busy, *others]
    events.ingest(session, visitor + random_events(scored, 60, seed=5, at=NOW), now=NOW)
    promotion.score(session)
    assert quiet not in stored(session)  # no event yet: no row
    # Stitched without a rescoring: the row says so (a new one for a contact never scored).
    events.identify_visitor(session, "visitor-1", quiet, via="web_form", now=NOW)
    assert session.get(ContactScore, quiet).sums_epoch is None  # type: ignore[union-attr]
    clock.now = NOW + timedelta(days=1)
    promotion.score(session)
    assert_equal_to_scratch(session, clock.now)
    assert stored(session)[quiet] > 10  # three pricing views, a day old and more
    # The same for a contact scored already.
    before = stored(session)[busy]
    events.identify_visitor(session, "visitor-2", busy, via="web_form", now=clock.now)
    clock.now = NOW + timedelta(days=2)
    promotion.score(session)
    assert_equal_to_scratch(session, clock.now)
    assert stored(session)[busy] > before / 2
    assert passes == ["full", "incremental", "incremental"]


def test_events_dated_after_the_previous_run_count_in_full_then_decay(
    session: Session, clock: Clock, passes: list[str]
) -> None:
    ids = setup(session, 5)
    upcoming = [
        {"type": "email_clicked", "contact_id": ids[0], "occurred_at": NOW.isoformat()},
        {
            "type": "page_view",
            "contact_id": ids[1],
            "occurred_at": (NOW - timedelta(minutes=10)).isoformat(),
            "properties": {"path": "/pricing"},
        },
    ]
    events.ingest(session, upcoming + random_events(ids, 30, seed=6, at=NOW), now=NOW)
    clock.now = NOW - timedelta(hours=1)  # the events are in this run's future
    promotion.score(session)
    assert_equal_to_scratch(session, clock.now)
    clock.now = NOW - timedelta(minutes=5)  # one of them is past now
    promotion.score(session)
    assert_equal_to_scratch(session, clock.now)
    clock.now = NOW + timedelta(days=3)
    promotion.score(session)
    assert_equal_to_scratch(session, clock.now)
    assert passes == ["full", "incremental", "incremental"]


def test_a_new_interest_model_computes_everyone_again(
    session: Session, clock: Clock, passes: list[str]
) -> None:
    ids = setup(session, 20)
    events.ingest(session, random_events(ids, 200, seed=7, at=NOW), now=NOW)
    promotion.score(session)
    clock.now = NOW + timedelta(days=1)
    changed = PLAYBOOK.replace("HALF_LIFE", "7d").replace("points: 40", "points: 25")
    promotion.score(session, playbook=(changed, "changed.yaml"))
    assert_equal_to_scratch(session, clock.now)
    clock.now = NOW + timedelta(days=2)
    promotion.score(session)
    assert_equal_to_scratch(session, clock.now)
    assert passes == ["full", "full", "incremental"]


def test_rows_of_another_model_are_computed_again(
    session: Session, clock: Clock, passes: list[str]
) -> None:
    """A contact rescored in real time under another playbook in between (applied, then the
    first applied again): its row is of that model, so it is computed from its events."""
    ids = setup(session, 10)
    events.ingest(session, random_events(ids, 100, seed=8, at=NOW), now=NOW)
    promotion.score(session)
    other = PLAYBOOK.replace("HALF_LIFE", "3d")
    clock.now = NOW + timedelta(hours=1)
    qualification.qualify(session, other, "other.yaml")
    promotion.after_events(session, {ids[0], ids[1]}, clock.now)
    qualification.qualify(session, PLAYBOOK.replace("HALF_LIFE", "14d"), "playbook.yaml")
    clock.now = NOW + timedelta(days=1)
    promotion.score(session)
    assert_equal_to_scratch(session, clock.now)
    assert passes == ["full", "incremental"]


def test_deleted_contacts_lose_their_row(session: Session, clock: Clock, passes: list[str]) -> None:
    ids = setup(session, 10)
    events.ingest(session, random_events(ids, 100, seed=9, at=NOW), now=NOW)
    promotion.score(session)
    gone = next(iter(stored(session)))
    session.execute(delete(Contact).where(Contact.id == gone))
    clock.now = NOW + timedelta(days=1)
    promotion.score(session)
    assert gone not in stored(session)
    assert_equal_to_scratch(session, clock.now)
    assert passes == ["full", "incremental"]


def test_events_passing_the_cut_off_count_for_nothing(
    session: Session, clock: Clock, passes: list[str]
) -> None:
    """With a one-hour half-life the cut-off (1,000 half-lives) is 41.7 days: an event counted
    (barely) at one run counts for nothing at the next, and no arithmetic underflows."""
    ids = setup(session, 3, half_life="1h")
    old = NOW - timedelta(hours=999)
    events.ingest(
        session,
        [
            {"type": "email_clicked", "contact_id": ids[0], "occurred_at": old.isoformat()},
            {"type": "email_clicked", "contact_id": ids[1], "occurred_at": old.isoformat()},
            {"type": "email_clicked", "contact_id": ids[1], "occurred_at": NOW.isoformat()},
        ],
        now=NOW,
    )
    promotion.score(session)
    assert 0 < stored(session)[ids[0]] < 1e-290
    clock.now = NOW + timedelta(hours=2)
    promotion.score(session)
    assert stored(session)[ids[0]] == 0.0
    assert_equal_to_scratch(session, clock.now)
    assert passes == ["full", "incremental"]


def test_many_changed_contacts_make_a_full_pass(
    session: Session, clock: Clock, passes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = setup(session, 20)
    events.ingest(session, random_events(ids, 100, seed=10, at=NOW), now=NOW)
    promotion.score(session)
    events.ingest(session, random_events(ids, 100, seed=11, at=NOW), now=NOW)
    monkeypatch.setattr(service, "FULL_PASS_ABOVE", 5)
    clock.now = NOW + timedelta(days=1)
    promotion.score(session)
    assert_equal_to_scratch(session, clock.now)
    assert passes == ["full", "full"]


def test_real_time_then_incremental_bulk_agree_on_random_events(
    session: Session, clock: Clock, passes: list[str]
) -> None:
    """Runs interleaved with events arriving (most rescored, some not), over thousands."""
    ids = setup(session, 80)
    rng = random.Random(12)
    moment = NOW - timedelta(days=20)
    for step in range(6):
        batch = random_events(ids, 400, seed=100 + step, at=moment)
        recorded = events.ingest(session, batch, now=moment)
        if rng.random() < 0.7:
            promotion.after_events(session, recorded.contact_ids, moment)
        clock.now = moment + timedelta(hours=rng.randint(1, 72))
        promotion.score(session)
        assert_equal_to_scratch(session, clock.now)
        moment = clock.now + timedelta(hours=1)
    assert passes == ["full"] + ["incremental"] * 5
