"""The day rollups of the funnel: the reports read from them give the figures the funnel facts
give (counts, times to convert and per step, reasons), for whole and partial days; a refresh
twice changes nothing; new events, stage changes, a new source and a deleted contact are taken
in; and what a refresh keeps up to date equals a rebuild from the facts."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from leadsift.analytics import day_repository, funnel, funnel_days, roi, rollups
from leadsift.analytics import rollup_repository as rollup_sql
from leadsift.analytics.models import FunnelDay, FunnelFact, FunnelSpan, PurchaseDay
from leadsift.analytics.rollup_repository import CONVERSION_TYPES, event_amount
from leadsift.contacts.models import Contact
from leadsift.engagement.models import Event
from leadsift.engagement.service import record_for_contacts
from leadsift.qualification.models import StageChange

NOW = datetime(2026, 6, 15, 10, 30, tzinfo=UTC)
SOURCES = ["web", "salon", None, "Partenaire", "éditeur"]
PATHS = [
    [("lead", "criteria_met")],
    [("lead", "criteria_met"), ("qualified", "hand_raiser")],
    [("lead", "criteria_met"), ("qualified", "interest_threshold"), ("customer", "won")],
    [("lead", "criteria_met"), ("qualified", "hand_raiser"), ("lost", "no_budget")],
    [("unqualified", "criteria_not_met")],
    [("lead", "criteria_met"), ("unqualified", "no_interest"), ("lead", "criteria_met"),
     ("qualified", "hand_raiser"), ("customer", "purchase")],
    [],
]  # fmt: skip
PERIODS = [
    (datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 16, tzinfo=UTC)),  # whole days
    (NOW - timedelta(days=33, hours=7, minutes=13), NOW - timedelta(days=2, hours=5)),
    (NOW - timedelta(hours=30), NOW - timedelta(hours=2)),  # within two days
    (datetime(2000, 1, 1, tzinfo=UTC), NOW + timedelta(days=1)),  # ROI's all time
]


def _history(session: Session, rng: random.Random, count: int, start: int = 0) -> list[int]:
    """COUNT contacts entered over 60 days before NOW with random paths, campaigns, purchases."""
    ids, events = [], []
    for number in range(start, start + count):
        entered = NOW - timedelta(seconds=rng.uniform(0, 60 * 86_400))
        path = rng.choice(PATHS)
        contact = Contact(
            email=f"c{number}@exemple.fr", source=rng.choice(SOURCES),
            region=rng.choice(["Bretagne", "Occitanie", None]), stage=path[-1][0] if path else
            "contact", attrs={}, created_at=entered, updated_at=entered,
        )  # fmt: skip
        session.add(contact)
        session.flush()
        ids.append(contact.id)
        at, previous = entered, "contact"
        for stage, reason in path:
            at = min(at + timedelta(seconds=rng.expovariate(1 / (3 * 86_400))), NOW)
            session.add(
                StageChange(contact_id=contact.id, from_stage=previous, to_stage=stage,
                            reason=reason, actor="test", changed_at=at)
            )  # fmt: skip
            previous = stage
        if rng.random() < 0.6:
            touch = min(entered + timedelta(hours=rng.uniform(-48, 48)), NOW)
            kind = rng.choice([("campaign", "autumn"), ("campaign", "spring"),
                               ("utm_campaign", "ads")])  # fmt: skip
            events.append((contact.id, {"type": "email_sent", kind[0]: kind[1],
                                        "occurred_at": touch}))  # fmt: skip
        if previous == "customer" and rng.random() < 0.5:
            events.append((contact.id, {"type": "purchase", "occurred_at": at,
                                        "properties": {"amount": 100.0},
                                        "idempotency_key": f"p{number}"}))  # fmt: skip
    record_for_contacts(session, events, now=NOW)
    return ids


def _rollups(session: Session) -> tuple[list[Any], list[Any], list[Any]]:
    """Every row of the day rollups that counts something, in key order."""
    days = session.scalars(select(FunnelDay).order_by(FunnelDay.dimension, FunnelDay.value,
                                                      FunnelDay.day))  # fmt: skip
    spans = session.scalars(select(FunnelSpan).order_by(FunnelSpan.measure, FunnelSpan.dimension,
                                                        FunnelSpan.value, FunnelSpan.day,
                                                        FunnelSpan.days))  # fmt: skip
    return (
        [(r.dimension, r.value, r.day, *(getattr(r, k) for k in funnel_days.COUNTS))
         for r in days if r.contacts],
        [(r.measure, r.dimension, r.value, r.day, r.days, r.contacts) for r in spans if r.contacts],
        [(r.dimension, r.day, r.value, r.purchases, round(r.revenue, 6))
         for r in session.scalars(select(PurchaseDay).order_by(
             PurchaseDay.dimension, PurchaseDay.day, PurchaseDay.value)) if r.purchases],
    )  # fmt: skip


def _from_facts(
    session: Session, monkeypatch: pytest.MonkeyPatch, work: Any
) -> Any:  # the reference: the reports' queries over the facts
    with monkeypatch.context() as patched:
        patched.setattr(funnel_days, "ROLLED", ())
        patched.setattr(funnel_days, "step_times", lambda *_: None)
        return work()


@pytest.fixture
def history(session: Session) -> list[int]:
    ids = _history(session, random.Random(7), 160)
    # Settled: on PostgreSQL a refresh takes in the events received a while before it.
    rollups.refresh(session, NOW + 2 * rollups.SETTLE)
    return ids


def _reasons_from_facts(session: Session, since: datetime, until: datetime) -> Counter[Any]:
    found: Counter[Any] = Counter()
    for stage in ("unqualified", "lost"):
        column = getattr(FunnelFact, f"{stage}_reason")
        query = select(column, func.count()).where(
            FunnelFact.entered_at >= since, FunnelFact.entered_at < until, column.is_not(None)
        )
        found.update({(stage, r): n for r, n in session.execute(query.group_by(column))})
    return found


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize(("since", "until"), PERIODS)
def test_the_reports_from_the_rollups_are_those_from_the_facts(
    session: Session, monkeypatch: pytest.MonkeyPatch, since: datetime, until: datetime
) -> None:
    assert funnel_days.step_times(session, since, until) is not None  # the rollup answers
    for by in funnel_days.ROLLED:
        funnel_days.funnel(session, by, since, until)  # the rollup answers (no BehindError)
        report = funnel.funnel(session, by=by, since=since, until=until, now=NOW)
        reference = _from_facts(
            session, monkeypatch,
            lambda by=by: funnel.funnel(session, by=by, since=since, until=until, now=NOW),
        )  # fmt: skip
        assert (report.rows, report.notes) == (reference.rows, reference.notes), by
    stages = funnel.time_in_stage(session, since=since, until=until, now=NOW)
    reference = _from_facts(
        session, monkeypatch,
        lambda: funnel.time_in_stage(session, since=since, until=until, now=NOW),
    )  # fmt: skip
    assert stages.rows == reference.rows
    reasons = funnel.reasons(session, since=since, until=until, now=NOW).rows
    assert Counter({(r["stage"], r["reason"]): r["contacts"] for r in reasons}) == (
        _reasons_from_facts(session, since, until)
    )
    for stage in ("unqualified", "lost"):  # most first within each stage
        counts = [r["contacts"] for r in reasons if r["stage"] == stage]
        assert counts == sorted(counts, reverse=True)


@pytest.mark.usefixtures("history")
def test_roi_counts_the_contacts_of_each_first_touch_and_source(session: Session) -> None:
    since, until = PERIODS[1]
    campaigns = {r["campaign"]: r for r in roi.roi(session, now=NOW, since=since, until=until).rows}
    first_touch = func.coalesce(FunnelFact.campaign, FunnelFact.utm_campaign)
    query = select(first_touch, func.count(), func.count(FunnelFact.customer_at)).where(
        FunnelFact.entered_at >= since, FunnelFact.entered_at < until
    )
    for name, _contacts, customers in session.execute(query.group_by(first_touch)):
        if name is not None:
            assert campaigns[name]["customers"] == customers, name
    by_source = roi.roi(session, now=NOW, by="source", since=since, until=until).rows
    customers = (
        select(Contact.source, func.count(FunnelFact.customer_at))
        .join(FunnelFact, FunnelFact.contact_id == Contact.id)
        .where(FunnelFact.entered_at >= since, FunnelFact.entered_at < until)
        .group_by(Contact.source)
    )
    assert {r["source"]: r["customers"] for r in by_source} == {
        source or "(none)": n for source, n in session.execute(customers)
    }
    bought = (
        select(Contact.source, func.count(), func.sum(event_amount()))
        .join(Event, Event.contact_id == Contact.id)
        .where(Event.type.in_(CONVERSION_TYPES), Event.occurred_at >= since,
               Event.occurred_at < until)
        .group_by(Contact.source)
    )  # fmt: skip
    expected = {s or "(none)": (n, pytest.approx(a)) for s, n, a in session.execute(bought)}
    assert (
        expected
        and {r["source"]: (r["conversions"], r["revenue"]) for r in by_source if r["conversions"]}
        == expected
    )


def _rebuilt(session: Session) -> tuple[list[Any], list[Any], list[Any]]:
    """The rollups as a rebuild from the facts makes them."""
    kept = _rollups(session)
    session.execute(update(FunnelFact).values(source=None, region=None, days_to_convert=None))
    rollups.rebuild_days(session, NOW)
    rollups.refresh(session, NOW + timedelta(minutes=10))  # the purchases, from the start
    found = _rollups(session)
    assert found[0] or not kept[0]
    return found


def test_a_refresh_twice_changes_nothing_and_takes_in_what_is_new(
    session: Session, history: list[int]
) -> None:
    first = _rollups(session)
    assert first[0] and first[1] and first[2]
    rollups.refresh(session, NOW)
    assert _rollups(session) == first
    assert _rollups(session) == _rebuilt(session)
    # New contacts with their histories and events, an earlier event for an old contact (its
    # entry moves to another day), a stage change, a new source, a deleted contact.
    _history(session, random.Random(8), 40, start=1000)
    old = history[0]
    record_for_contacts(
        session,
        [(old, {"type": "page_view", "utm_campaign": "late", "occurred_at": NOW - timedelta(
            days=59, hours=23)})],
        now=NOW,
    )  # fmt: skip
    session.add(
        StageChange(contact_id=history[1], from_stage="contact", to_stage="lost",
                    reason="bad_fit", actor="test", changed_at=NOW - timedelta(hours=1))
    )  # fmt: skip
    session.execute(update(Contact).where(Contact.id == history[1]).values(stage="lost"))
    session.execute(update(Contact).where(Contact.id == history[2]).values(source="moved"))
    session.execute(delete(Contact).where(Contact.id == history[3]))
    later = NOW + timedelta(minutes=5)
    rollups.refresh(session, later)
    after = _rollups(session)
    assert after != first
    assert _rollups(session) == _rebuilt(session)
    counts = funnel_days.group_counts(session, "source", NOW - timedelta(days=400), later)
    assert counts["moved"]["contacts"] == 1
    assert sum(c["contacts"] for c in counts.values()) == day_repository.facts_count(session)
    whole = funnel_days.group_counts(session, "all", NOW - timedelta(days=400), later)
    assert whole[None]["contacts"] == 160 + 40 - 1
    rollups.refresh(session, later)
    assert _rollups(session) == after


def test_a_small_workspace_with_sparse_ids_has_every_source_checked_each_pass(
    session: Session,
) -> None:
    # Ids far apart (a raised id floor, deleted contacts): the rolling check counts facts, so a
    # workspace smaller than a window is checked whole by every pass, whatever its ids.
    far = [Contact(id=300_000 + 90_000 * n, email=f"far{n}@exemple.fr", source="web",
                   stage="contact", attrs={}, created_at=NOW - timedelta(days=n + 1),
                   updated_at=NOW - timedelta(days=n + 1)) for n in range(3)]  # fmt: skip
    session.add_all(far)
    session.flush()
    rollups.refresh(session, NOW)
    session.execute(update(Contact).where(Contact.id == far[2].id).values(source="salon"))
    rollups.refresh(session, NOW + timedelta(minutes=1))
    counts = funnel_days.group_counts(session, "source", NOW - timedelta(days=30), NOW)
    assert (counts["web"]["contacts"], counts["salon"]["contacts"]) == (2, 1)


def test_taking_the_moves_alone_leaves_the_events_for_the_pass(
    session: Session, history: list[int]
) -> None:
    events_before = rollup_sql.cursor(session, "touches")
    record_for_contacts(
        session, [(history[5], {"type": "page_view", "utm_campaign": "late", "occurred_at": NOW})],
        now=NOW,
    )  # fmt: skip
    session.add(StageChange(contact_id=history[6], from_stage="contact", to_stage="lost",
                            reason="bad_fit", actor="test", changed_at=NOW))  # fmt: skip
    # A contact imported since the pass, qualified and sold at once (the agent's working day).
    newcomer = Contact(email="new@exemple.fr", stage="customer", attrs={}, created_at=NOW,
                       updated_at=NOW)  # fmt: skip
    session.add(newcomer)
    session.flush()
    for previous, stage in (("contact", "qualified"), ("qualified", "customer")):
        session.add(StageChange(contact_id=newcomer.id, from_stage=previous, to_stage=stage,
                                reason="test", actor="test", changed_at=NOW))  # fmt: skip
    session.flush()
    assert rollups.moves_waiting(session)
    rollups.take_moves(session, NOW + timedelta(minutes=5))
    assert not rollups.moves_waiting(session)
    fact = session.get(FunnelFact, history[6])
    assert fact is not None and fact.lost_reason == "bad_fit"
    new_fact = session.get(FunnelFact, newcomer.id)
    assert new_fact is not None and new_fact.customer_at is not None
    assert rollup_sql.cursor(session, "touches") == events_before  # the events wait
    rollups.refresh(session, NOW + timedelta(minutes=5))
    assert rollup_sql.cursor(session, "touches") > events_before
    assert _rollups(session) == _rebuilt(session)
