"""The owner rows assignment writes (one bulk insert with each one's call order; PostgreSQL's
through arrays) and the call order's refresh, on real databases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from leadsift.access import service as access
from leadsift.access.models import ContactOwner, User
from leadsift.agents import repository, service
from leadsift.agents.repository import PREDICTED
from leadsift.contacts.models import Contact, ContactScore
from tests.agents_helpers import activate, people, predictions, prospects

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
RULES = """assignment:
  rules:
    - when: 'source = "salon"'
      team: lyon
  default:
    round_robin: {users: [alice, bob]}
"""


def _rows(session: Session) -> dict[int, tuple[object, ...]]:
    query = select(
        ContactOwner.contact_id, ContactOwner.user_id, ContactOwner.team_id, ContactOwner.rule,
        ContactOwner.assigned_by, ContactOwner.assigned_at, ContactOwner.queue_rank,
    )  # fmt: skip
    return {int(row[0]): tuple(row[1:]) for row in session.execute(query)}


def _setup(session: Session) -> list[int]:
    people(session, "alice", "bob")
    access.add_team(session, "lyon", ["bob"])
    activate(session, RULES)
    web = prospects(session, 6, source="web", fit=7)
    salon = prospects(session, 2, start=10, source="salon", fit=3)
    predictions(session, {web[0]: 12.5, salon[0]: -4.0})
    session.add_all(
        ContactScore(contact_id=c, interest=i, scored_at=NOW)
        for c, i in [(web[1], 30.25), (web[2], 0.5), (salon[1], 8.0)]
    )
    session.flush()
    return web + salon


def test_assigned_rows_carry_their_owner_and_call_order(session: Session) -> None:
    web0, web1, web2, web3, web4, web5, salon0, salon1 = _setup(session)
    summary = service.assign(session, now=NOW)
    assert summary.assigned == 8
    rows = _rows(session)
    users = {u.name: u.id for u in session.scalars(select(User))}
    assert {c: row[0] for c, row in rows.items()} == {
        web0: users["alice"], web1: users["bob"], web2: users["alice"], web3: users["bob"],
        web4: users["alice"], web5: users["bob"], salon0: None, salon1: None,
    }  # fmt: skip
    assert {row[2] for row in rows.values()} == {"default", "rule 1"}
    assert all(row[3] == "playbook:Agents test@1" and row[4] == NOW for row in rows.values())
    # The model's priority first, else fit + interest (zero without a score).
    assert {c: row[5] for c, row in rows.items()} == {
        web0: PREDICTED + 12.5, web1: 37.25, web2: 7.5, web3: 7.0, web4: 7.0, web5: 7.0,
        salon0: PREDICTED - 4.0, salon1: 11.0,
    }  # fmt: skip
    # As the refresh computes it: a refresh of everyone changes nothing.
    repository.refresh_ranks(session, None)
    session.expire_all()
    assert _rows(session) == rows


def test_a_contact_given_an_owner_meanwhile_keeps_it_and_gets_its_call_order(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _setup(session)
    bob = session.scalars(select(User.id).where(User.name == "bob")).one()
    # Someone else's transaction gave the first one to bob after our read of who waits.
    waiting = repository.waiting_prospects
    read = waiting(session, [], None)
    session.add(
        ContactOwner(
            contact_id=ids[0], user_id=bob, rule="manual", assigned_by="cli", assigned_at=NOW
        )
    )
    session.flush()
    monkeypatch.setattr(repository, "waiting_prospects", lambda *_: read)
    summary = service.assign(session, now=NOW)
    assert summary.assigned == 8  # decided; one of them was not written
    rows = _rows(session)
    assert len(rows) == 8
    assert rows[ids[0]][:3] == (bob, None, "manual")
    assert rows[ids[0]][5] == PREDICTED + 12.5


def test_add_owners_counts_the_contacts_it_gave_an_owner(session: Session) -> None:
    ids = _setup(session)
    alice = session.scalars(select(User.id).where(User.name == "alice")).one()
    row = {"user_id": alice, "team_id": None, "rule": "manual", "assigned_by": "cli"}
    first = [{**row, "contact_id": ids[0], "assigned_at": NOW, "queue_rank": 1.5}]
    assert repository.add_owners(session, first) == 1
    more = [{**row, "contact_id": c, "assigned_at": NOW, "queue_rank": None} for c in reversed(ids)]
    assert repository.add_owners(session, more) == len(ids) - 1
    assert repository.add_owners(session, []) == 0
    rows = _rows(session)
    assert rows[ids[0]][5] == 1.5  # kept, not overwritten
    assert all(rows[c][5] is None for c in ids[1:])


def test_the_refresh_follows_scores_and_stages(session: Session) -> None:
    web0, web1, *_ = _setup(session)
    service.assign(session, now=NOW)
    session.execute(update(ContactScore).where(ContactScore.contact_id == web1).values(interest=1))
    session.execute(update(Contact).where(Contact.id == web0).values(stage="lost"))
    repository.refresh_ranks(session, [web0, web1])
    session.expire_all()
    rows = _rows(session)
    assert rows[web0][5] is None  # out of the queue
    assert rows[web1][5] == 8.0
