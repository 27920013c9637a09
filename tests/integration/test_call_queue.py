"""The telesales call queue and call outcomes with a frozen clock, on real databases."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsift.access import service as access
from leadsift.agents import call_log, calls, service
from leadsift.contacts.models import Contact
from leadsift.engagement.models import Event
from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.outreach import consent
from tests.agents_helpers import activate, people, predictions, prospects

PARIS = ZoneInfo("Europe/Paris")
WEDNESDAY_10_05 = datetime(2026, 12, 2, 10, 5, tzinfo=PARIS)
QUEUE = """assignment:
  rules:
    - {when: 'source = "b"', user: bob}
  default: {user: alice}
calling:
  audience: b2b
  script:
    fr: "Bonjour {{ first_name }}, ici {{ agent }} de Test."
    en: "Hello {{ first_name }}, {{ agent }} from Test here."
"""


def _queue(session: Session, count: int = 3, calling: str = QUEUE) -> list[int]:
    people(session, "alice", "bob")
    activate(session, calling)
    ids = prospects(session, count, first_name="Zoé")
    service.assign(session, now=WEDNESDAY_10_05)
    return ids


@pytest.mark.parametrize(
    ("moment", "code", "words"),
    [
        (datetime(2026, 12, 5, 11, 0, tzinfo=PARIS), "closed_day", "Saturday"),
        (datetime(2026, 12, 25, 11, 0, tzinfo=PARIS), "public_holiday", "Christmas"),
        (datetime(2026, 7, 14, 11, 0, tzinfo=PARIS), "public_holiday", "14 July"),
        (datetime(2026, 12, 2, 13, 30, tzinfo=PARIS), "outside_hours", "13:30"),
        (datetime(2026, 12, 2, 20, 0, tzinfo=PARIS), "outside_hours", "20:00"),
    ],
)
def test_outside_the_calling_window_nobody_is_returned_and_the_reason_is_told(
    session: Session, moment: datetime, code: str, words: str
) -> None:
    _queue(session)
    found = calls.next_call(session, "alice", moment)
    assert found.contact is None and found.nobody is not None
    assert found.nobody.code == code and words in found.nobody.message
    assert found.nobody.until is not None and found.nobody.until > moment
    assert found.waiting == 3


def test_at_10_05_on_a_weekday_the_highest_priority_eligible_prospect_comes(
    session: Session,
) -> None:
    ids = _queue(session, 4)
    predictions(session, {ids[0]: 5.0, ids[1]: 80.0, ids[2]: 40.0, ids[3]: 90.0})
    # The best one refused a call a week ago: not before 60 days.
    call_log.log_call(
        session, "alice", str(ids[3]), "not_interested", now=WEDNESDAY_10_05 - timedelta(days=7)
    )
    found = calls.next_call(session, "alice", WEDNESDAY_10_05)
    assert found.contact is not None and found.contact["id"] == ids[1]
    assert found.reason == "highest_priority" and found.priority == 80.0
    assert found.script == "Bonjour Zoé, ici alice de Test."
    assert found.history == []  # made qualified directly by the test, with no history row


def test_a_due_callback_comes_before_any_priority(session: Session) -> None:
    ids = _queue(session, 3)
    predictions(session, {ids[0]: 90.0, ids[1]: 10.0, ids[2]: 50.0})
    monday = datetime(2026, 11, 30, 15, 0, tzinfo=PARIS)
    call_log.log_call(
        session, "alice", str(ids[1]), "callback", now=monday, callback_at=WEDNESDAY_10_05
    )
    found = calls.next_call(session, "alice", WEDNESDAY_10_05)
    assert found.contact is not None and found.contact["id"] == ids[1]
    assert found.reason == "callback_due" and found.calls[0]["outcome"] == "callback"
    # Before the call-back time, the person is not called at all.
    earlier = calls.next_call(session, "alice", monday + timedelta(hours=1))
    assert earlier.contact is not None and earlier.contact["id"] == ids[0]


def test_four_attempts_in_30_days_exclude_a_prospect_and_say_until_when(session: Session) -> None:
    [contact] = _queue(session, 1)
    for days in (27, 20, 13, 6):  # four Thursdays (11 November, a Wednesday, is a holiday)
        call_log.log_call(
            session, "alice", str(contact), "no_answer", now=WEDNESDAY_10_05 - timedelta(days=days)
        )
    found = calls.next_call(session, "alice", WEDNESDAY_10_05)
    assert found.contact is None and found.excluded == {"too_many_attempts": 1}
    assert found.nobody is not None and found.nobody.code == "all_excluded"
    assert found.nobody.message.endswith("1 too_many_attempts")
    # The oldest attempt leaves the 30-day window on Saturday; the following Monday it is open.
    later = calls.next_call(session, "alice", WEDNESDAY_10_05 + timedelta(days=5))
    assert later.contact is not None


def test_consumers_need_phone_consent_and_the_opposition_list_is_checked(
    session: Session,
) -> None:
    ids = _queue(session, 2, QUEUE.replace("audience: b2b", "audience: b2c"))
    found = calls.next_call(session, "alice", WEDNESDAY_10_05)
    assert found.contact is None and found.excluded == {"phone_consent_required": 2}
    consent.grant(session, ids[1], "phone", source="call", now=WEDNESDAY_10_05)
    found = calls.next_call(session, "alice", WEDNESDAY_10_05)
    assert found.contact is not None and found.contact["id"] == ids[1]


def test_an_agent_never_gets_someone_elses_prospect(session: Session) -> None:
    _queue(session, 2)
    found = calls.next_call(session, "bob", WEDNESDAY_10_05)
    assert found.contact is None and found.nobody is not None
    assert found.nobody.code == "queue_empty"


def test_a_team_queue_prospect_is_claimed_by_the_agent_who_takes_it(session: Session) -> None:
    people(session, "alice", "bob")
    access.add_team(session, "lyon", ["alice", "bob"])
    activate(session, "assignment:\n  default: {team: lyon}\ncalling: {audience: b2b}\n")
    [contact] = prospects(session, 1)
    service.assign(session, now=WEDNESDAY_10_05)
    taken = calls.next_call(session, "bob", WEDNESDAY_10_05)
    assert taken.contact is not None and taken.contact["id"] == contact
    assert calls.next_call(session, "alice", WEDNESDAY_10_05).contact is None


def _events(session: Session, contact_id: int) -> list[str]:
    query = select(Event.type).where(Event.contact_id == contact_id).order_by(Event.id)
    return list(session.scalars(query))


def _stage(session: Session, contact_id: int) -> str:
    contact = session.get(Contact, contact_id)
    assert contact is not None
    session.refresh(contact)
    return contact.stage


def test_each_outcome_writes_its_events_and_the_right_stage(session: Session) -> None:
    ids = _queue(session, 4)
    now = WEDNESDAY_10_05
    interested = call_log.log_call(session, "alice", str(ids[0]), "interested", now=now)
    assert interested.events == ["call_attempted", "call_connected", "call_interested"]
    assert _stage(session, ids[0]) == "qualified" and interested.stage_change is None
    refused = call_log.log_call(
        session, "alice", str(ids[1]), "not_interested", now=now, reason="no_budget"
    )
    assert _stage(session, ids[1]) == "lost" and refused.stage_change is not None
    assert refused.stage_change["reason"] == "no_budget"
    sale = call_log.log_call(session, "alice", str(ids[2]), "sale", now=now, amount=120.0)
    assert _stage(session, ids[2]) == "customer" and _events(session, ids[2])[-1] == "purchase"
    assert sale.stage_change is not None and sale.stage_change["reason"] == "won"
    wrong = call_log.log_call(session, "alice", str(ids[3]), "wrong_number", now=now)
    assert wrong.stage == "qualified"
    found = calls.next_call(session, "alice", now)
    assert found.contact is not None and found.contact["id"] == ids[0]
    audit = access.audit_log(session, target_type="contact", limit=10_000)
    changes = [e for e in audit if e.action == "stage_changed" and e.target_id in ids]
    assert {(e.target_id, e.details["to"]) for e in changes} == {
        (ids[1], "lost"),
        (ids[2], "customer"),
    }
    assert all(e.actor.startswith("user:") for e in changes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"outcome": "maybe"}, "unknown outcome 'maybe'"),
        ({"outcome": "callback"}, "needs --at"),
        ({"outcome": "sale"}, "needs --amount"),
        ({"outcome": "not_interested", "reason": "rude"}, "one of bad_fit, competitor"),
        ({"outcome": "no_answer", "amount": 3.0}, "--amount is a sale's amount"),
    ],
)
def test_bad_outcomes_are_refused_and_nothing_changes(
    session: Session, kwargs: dict[str, object], message: str
) -> None:
    [contact] = _queue(session, 1)
    kwargs = dict(kwargs)  # the parameter is shared by both backends' runs
    outcome = str(kwargs.pop("outcome"))
    with pytest.raises(InvalidInputError, match=message):
        call_log.log_call(
            session,
            "alice",
            str(contact),
            outcome,
            now=WEDNESDAY_10_05,
            **kwargs,  # type: ignore[arg-type]
        )
    assert _events(session, contact) == [] and _stage(session, contact) == "qualified"


def test_a_call_outside_the_window_or_on_someone_elses_contact_is_refused(
    session: Session,
) -> None:
    [contact] = _queue(session, 1)
    saturday = datetime(2026, 12, 5, 11, 0, tzinfo=PARIS)
    with pytest.raises(InvalidInputError, match=r"Saturday.*nothing was recorded"):
        call_log.log_call(session, "alice", str(contact), "no_answer", now=saturday)
    with pytest.raises(NotFoundError, match="among the prospects of user:"):
        call_log.log_call(session, "bob", str(contact), "no_answer", now=WEDNESDAY_10_05)
    with pytest.raises(InvalidInputError, match="outside the calling hours"):
        call_log.log_call(
            session, "alice", str(contact), "callback", now=WEDNESDAY_10_05,
            callback_at=datetime(2026, 12, 6, 11, 0, tzinfo=PARIS),
        )  # fmt: skip
    assert _events(session, contact) == []


def test_a_call_the_rules_forbid_cannot_be_logged(session: Session) -> None:
    [contact] = _queue(session, 1)
    for days in (27, 20, 13, 6):
        call_log.log_call(
            session, "alice", str(contact), "no_answer", now=WEDNESDAY_10_05 - timedelta(days=days)
        )
    with pytest.raises(
        InvalidInputError,
        match=r"may not be called now: 4 call attempts in the last 30 days \(at most 4\)",
    ):
        call_log.log_call(session, "alice", str(contact), "no_answer", now=WEDNESDAY_10_05)
    assert _events(session, contact).count("call_attempted") == 4


def test_an_amount_that_is_not_a_number_is_refused(session: Session) -> None:
    [contact] = _queue(session, 1)
    for amount in (float("nan"), float("inf"), -1.0):
        with pytest.raises(InvalidInputError, match="amount"):
            call_log.log_call(
                session, "alice", str(contact), "sale", now=WEDNESDAY_10_05, amount=amount
            )
    assert _stage(session, contact) == "qualified"
