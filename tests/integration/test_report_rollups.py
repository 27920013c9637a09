"""The agents and remarketing reports read by pages from what the worker's pass keeps (the
agents' days, each contact's last event and purchase flag) give what the command line counts
live from the facts, events and owners — over whole and partial days, and after touches, a
sale, a reassignment and new events."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from leadsift.access.models import ContactOwner, User
from leadsift.agents.models import Touch
from leadsift.analytics import agent_days, breakdowns, rollups
from leadsift.analytics.rollup_repository import CONVERSION_TYPES
from leadsift.contacts.models import Contact, ContactScore
from leadsift.engagement.models import Event
from leadsift.engagement.service import record_for_contacts
from leadsift.qualification.models import StageChange

NOW = datetime(2026, 6, 15, 10, 30, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)  # past the settling minute of PostgreSQL's cursors
PERIODS = [
    (datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 16, tzinfo=UTC)),  # whole days
    (NOW - timedelta(days=33, hours=7, minutes=13), NOW - timedelta(days=2, hours=5)),
    (NOW - timedelta(hours=30), NOW - timedelta(hours=2)),  # within two days
    (NOW - timedelta(hours=9), NOW - timedelta(hours=3)),  # within one day
]


def _users(session: Session) -> list[int]:
    users = [User(name=f"agent{n}", role="agent", created_at=NOW) for n in range(4)]
    session.add_all(users)
    session.flush()
    return [user.id for user in users]


def _workspace(session: Session, rng: random.Random, count: int) -> list[int]:
    """COUNT contacts over 60 days: leads, qualified prospects owned (most by agents, some by
    nobody), touched and called, some won with purchases, some lost; interest scores; events."""
    users = _users(session)
    ids, events = [], []
    for number in range(count):
        entered = NOW - timedelta(seconds=rng.uniform(0, 60 * 86_400))
        path = rng.choice([["lead"], ["lead", "qualified"], ["lead", "qualified", "customer"],
                           ["lead", "qualified", "lost"], []])  # fmt: skip
        contact = Contact(email=f"r{number}@exemple.fr", source=rng.choice(["web", "salon"]),
                          stage=path[-1] if path else "contact", attrs={}, created_at=entered,
                          updated_at=entered)  # fmt: skip
        session.add(contact)
        session.flush()
        ids.append(contact.id)
        at, previous = entered, "contact"
        for stage in path:
            at = min(at + timedelta(hours=rng.uniform(1, 96)), NOW - timedelta(minutes=1))
            session.add(StageChange(contact_id=contact.id, from_stage=previous, to_stage=stage,
                                    reason="test", actor="test", changed_at=at))  # fmt: skip
            previous = stage
        if "qualified" in path and rng.random() < 0.85:
            owner = rng.choice(users)
            session.add(ContactOwner(contact_id=contact.id, user_id=owner, rule="test",
                                     assigned_by="test", assigned_at=at))  # fmt: skip
            for _ in range(rng.choice([0, 0, 1, 2, 3])):
                touched = min(at + timedelta(hours=2), NOW)
                channel = rng.choice(["phone", "phone", "email"])
                session.add(Touch(contact_id=contact.id, user_id=owner, channel=channel,
                                  outcome="no_answer", at=touched))  # fmt: skip
        if previous == "customer":
            events.append((contact.id, {"type": "purchase", "occurred_at": at,
                                        "properties": {"amount": rng.choice([90, 120.5])},
                                        "idempotency_key": f"buy{number}"}))  # fmt: skip
        for _ in range(rng.choice([0, 1, 2])):
            seen = NOW - timedelta(days=rng.uniform(0, 200))
            events.append((contact.id, {"type": "page_view", "occurred_at": seen}))
        session.add(ContactScore(contact_id=contact.id, interest=rng.uniform(0, 60),
                                 scored_at=NOW))  # fmt: skip
    record_for_contacts(session, events, now=NOW)
    session.flush()
    return ids


@pytest.fixture
def workspace(session: Session) -> list[int]:
    ids = _workspace(session, random.Random(11), 240)
    _pass(session, NOW)
    return ids


def _pass(session: Session, now: datetime) -> None:
    """The worker's pass over the rollups the two reports read."""
    rollups.refresh(session, now)
    agent_days.refresh(session, now)


def _as_a_page_reads(session: Session, work: Any) -> Any:
    """WORK with the rollups taken as they are (as pages read them), then as before."""
    rollups.read_as_they_are(session)
    try:
        return work()
    finally:
        session.info.pop("leadsift.analytics.rollups_as_they_are")


def _agents_both_ways(session: Session, since: datetime, until: datetime) -> tuple[Any, Any]:
    def report() -> Any:
        return breakdowns.agents(session, since=since, until=until, now=LATER).rows

    return _as_a_page_reads(session, report), report()


@pytest.mark.usefixtures("workspace")
@pytest.mark.parametrize(("since", "until"), PERIODS)
def test_the_agents_report_from_the_days_is_the_live_one(
    session: Session, since: datetime, until: datetime
) -> None:
    from_days, live = _agents_both_ways(session, since, until)
    assert from_days == live
    if since == PERIODS[0][0]:
        assert sum(row["prospects"] for row in live) > 50
        assert sum(row["won"] for row in live) > 3 and sum(row["calls"] for row in live) > 10
        assert sum(row["revenue"] for row in live) > 0


def test_after_a_touch_a_sale_and_a_reassignment_the_next_pass_counts_them(
    session: Session, workspace: list[int]
) -> None:
    owned = session.scalars(select(ContactOwner).order_by(ContactOwner.contact_id)).all()
    first, second = owned[0], owned[1]
    before, _ = _agents_both_ways(session, *PERIODS[0])
    session.add(Touch(contact_id=first.contact_id, user_id=first.user_id, channel="phone",
                      outcome="sale", at=NOW))  # fmt: skip
    session.add(StageChange(contact_id=first.contact_id, from_stage="qualified",
                            to_stage="customer", reason="won", actor="test",
                            changed_at=NOW))  # fmt: skip
    session.execute(update(Contact).where(Contact.id == first.contact_id).values(stage="customer"))
    record_for_contacts(session, [(first.contact_id, {"type": "purchase", "occurred_at": NOW,
                                   "properties": {"amount": 1000}})], now=NOW)  # fmt: skip
    others = [u for u in session.scalars(select(User.id)) if u != second.user_id]
    session.execute(update(ContactOwner).where(ContactOwner.contact_id == second.contact_id)
                    .values(user_id=others[0], assigned_at=NOW))  # fmt: skip
    session.flush()
    rollups.refresh(session, LATER)  # the facts take the sale (pages take stage changes at once)
    stale, live = _agents_both_ways(session, *PERIODS[0])
    assert stale == before != live  # the days: as the last pass counted them
    agent_days.refresh(session, LATER)
    after, live = _agents_both_ways(session, *PERIODS[0])
    assert after == live and after != before
    # Nothing changed since: the next pass keeps the days as they are.
    _pass(session, LATER + timedelta(minutes=1))
    assert _agents_both_ways(session, *PERIODS[0]) == (after, live)


def _reference(
    session: Session, threshold: float, now: datetime
) -> tuple[dict[str, int], list[Any]]:
    """The remarketing report's counts and top contacts from the raw events and scores."""
    latest = select(Event.contact_id, func.max(Event.occurred_at)).where(
        Event.contact_id.is_not(None)
    )
    last = {c: at for c, at in session.execute(latest.group_by(Event.contact_id))}
    bought = set(session.scalars(select(Event.contact_id).where(Event.type.in_(CONVERSION_TYPES))))
    counts = {"last 7 days": 0, "8–30 days": 0, "31–90 days": 0, "older": 0, "no activity": 0}
    people = []
    for contact_id, interest in session.execute(select(ContactScore.contact_id,
                                                       ContactScore.interest)):  # fmt: skip
        if interest < threshold or contact_id in bought:
            continue
        seen = last.get(contact_id)
        age = now - seen if seen is not None else None
        within = [n for days, n in breakdowns.BUCKETS if age is not None and age <= timedelta(days)]
        label = "no activity" if age is None else (within[0] if within else "older")
        counts[label] += 1
        people.append((-interest, contact_id, label))
    return counts, [(c, label) for _, c, label in sorted(people)[:10]]


def _remarketing(
    session: Session, threshold: float, now: datetime
) -> tuple[dict[str, int], list[Any]]:
    report = breakdowns.interest_no_purchase(session, threshold=threshold, now=now, limit=10)
    counts = {"last 7 days": 0, "8–30 days": 0, "31–90 days": 0, "older": 0, "no activity": 0}
    if report.meta["contacts"]:
        for part in report.notes[0].split(": ", 1)[1].split(", "):
            number, label = part.split(" ", 1)
            counts[label] = int(number.replace(",", ""))
    return counts, [(row["contact_id"], row["last_active"]) for row in report.rows]


@pytest.mark.parametrize("threshold", [0.0, 25.0, 59.0])
def test_the_remarketing_report_is_what_the_events_and_scores_say(
    session: Session, workspace: list[int], threshold: float
) -> None:
    assert _remarketing(session, threshold, LATER) == _reference(session, threshold, LATER)
    counts, top = _remarketing(session, 0.0, LATER)
    assert sum(counts.values()) > 100 and counts["no activity"] and counts["older"]
    # The most interested buys, another comes back today: the next pass takes both in.
    buyer, returning = top[0][0], top[1][0]
    record_for_contacts(session, [
        (buyer, {"type": "promo_redeemed", "occurred_at": NOW, "idempotency_key": "late-buy"}),
        (returning, {"type": "page_view", "occurred_at": NOW}),
    ], now=NOW)  # fmt: skip
    _pass(session, LATER)
    found = _remarketing(session, 0.0, LATER)
    assert found == _reference(session, 0.0, LATER)
    assert buyer not in [c for c, _ in found[1]]
    assert (returning, "last 7 days") in found[1]
