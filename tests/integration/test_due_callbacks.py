"""The due call-backs of an agent's queue (PostgreSQL: in one statement), on real databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsift.access import service as access
from leadsift.access.models import Team, User
from leadsift.agents import call_repository, service
from tests.agents_helpers import activate, people, prospects

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
RULES = """assignment:
  rules:
    - {when: 'source = "b"', user: bob}
    - {when: 'source = "q"', team: ouest}
  default: {user: alice}
calling:
  audience: b2b
"""


def test_an_agents_due_callbacks_are_theirs_and_their_teams_oldest_first(
    session: Session,
) -> None:
    people(session, "alice", "bob")
    access.add_team(session, "ouest", ["alice"])
    activate(session, RULES)
    mine = prospects(session, 5, source="a")
    bobs = prospects(session, 2, start=10, source="b")
    queue = prospects(session, 2, start=20, source="q")
    service.assign(session, now=NOW)
    hours = {  # call-back due this many hours ago (negative: later)
        mine[0]: 3, mine[1]: 1, mine[2]: -2, mine[3]: 5, mine[4]: 2,
        bobs[0]: 4, bobs[1]: 6, queue[0]: 0, queue[1]: 7,
    }  # fmt: skip
    for contact_id, ago in hours.items():
        values = {"callback_at": NOW - timedelta(hours=ago)}
        if contact_id == mine[4]:  # refused since: not before 60 days
            values["last_refusal_at"] = NOW - timedelta(days=1)
        call_repository.save_call_state(session, contact_id, values)
    session.flush()
    alice = session.scalars(select(User.id).where(User.name == "alice")).one()
    ouest = session.scalars(select(Team.id).where(Team.name == "ouest")).one()
    rules = call_repository.QueueFilter(
        now=NOW, refused_before=NOW - timedelta(days=60), consent_required=False
    )
    due = call_repository.due_callbacks(session, alice, {ouest}, rules, 10)
    assert [row["id"] for row in due] == [queue[1], mine[3], mine[0], mine[1], queue[0]]
    assert [row["team_id"] for row in due] == [ouest, None, None, None, ouest]
    first = call_repository.due_callbacks(session, alice, {ouest}, rules, 2)
    assert [row["id"] for row in first] == [queue[1], mine[3]]
    assert call_repository.due_callbacks(session, alice, set(), rules, 10)[0]["id"] == mine[3]
