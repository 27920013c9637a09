"""The speed-to-lead report counted in SQL per owner or source is the pure definition's
(speed.by_group and speed_of over every qualification), on real databases."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access import service as access
from leadsift.access.models import ContactOwner
from leadsift.access.schemas import Role
from leadsift.agents import speed_service
from leadsift.agents.models import Touch
from leadsift.agents.speed import Qualified, Speed, by_group, speed_of
from leadsift.qualification.models import StageChange
from tests.agents_helpers import prospects

NOW = datetime(2026, 11, 30, 12, 0, 0, 250_000, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)
HOUR = timedelta(hours=1)
# Owners: a user, a team's shared queue, or nobody. "carol" is in two teams (her first one
# by name, "lyon", is her team); the "lyon" queue and lyon's agents share the team's row.
OWNERS = ("alice", "bob", "carol", "dave", "team:lyon", "team:nice", None)
TEAM_OF = {"alice": "lyon", "bob": "nice", "carol": "lyon", "dave": "(no team)"}
SOURCES = ("web", "fair", None, "")  # no source and an empty one are both "(no source)"


@dataclass
class Prospect:
    """What the test gave one contact, to work out its expected qualification."""

    owner: str | None
    source: str | None
    qualified: list[datetime] = field(default_factory=list)  # moves to qualified
    touches: list[datetime] = field(default_factory=list)


def _groups(prospect: Prospect) -> dict[str, str]:
    owner = prospect.owner
    team = "(unassigned)" if owner is None else TEAM_OF.get(owner, owner.removeprefix("team:"))
    return {
        "agent": owner or "(unassigned)",
        "team": team,
        "source": prospect.source or "(no source)",
    }


def _expected(prospects_: list[Prospect], by: str, sla: timedelta) -> tuple[list[Speed], Speed]:
    """The old definition: one Qualified per contact qualified in the period, grouped in Python."""
    items = []
    for prospect in prospects_:
        moves = [at for at in prospect.qualified if SINCE <= at < NOW]
        if not moves:
            continue
        qualified_at = max(moves)
        after = [at for at in prospect.touches if at >= qualified_at]
        items.append(Qualified(_groups(prospect)[by], qualified_at, min(after, default=None)))
    return by_group(items, sla, NOW), speed_of("total", items, sla, NOW)


def _edge_cases(sla: timedelta) -> list[Prospect]:
    cutoff = NOW - sla
    at = NOW - timedelta(days=2)
    return [
        Prospect("alice", "web", [cutoff]),  # waiting exactly the SLA: not beyond it
        Prospect("alice", "web", [cutoff - timedelta(microseconds=1)]),  # just beyond it
        Prospect("bob", "fair", [at], [at + sla]),  # touched exactly at the SLA: within it
        Prospect("bob", "fair", [at], [at]),  # touched the moment it qualified
        Prospect("bob", None, [at], [at - timedelta(minutes=5)]),  # a touch before only
        Prospect("carol", "", [at - HOUR, at], [at - timedelta(minutes=30), at + HOUR]),
        Prospect("dave", "web", [SINCE - HOUR], [SINCE]),  # qualified before the period
        Prospect("dave", "web", [SINCE], [SINCE + timedelta(days=3)]),  # at its very start
        Prospect("dave", "web", [NOW], []),  # at its end: outside
        Prospect("team:lyon", "fair", [at], [at + timedelta(minutes=7)]),
        Prospect(None, None, [at], [at + timedelta(minutes=1), at + timedelta(minutes=2)]),
    ]


def _random(count: int, seed: int) -> list[Prospect]:
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        prospect = Prospect(rng.choice(OWNERS), rng.choice(SOURCES))
        for _ in range(rng.choice((1, 1, 1, 2))):
            prospect.qualified.append(NOW - timedelta(seconds=rng.randrange(35 * 86_400)))
        start = min(prospect.qualified)
        for _ in range(rng.choice((0, 0, 1, 2))):
            prospect.touches.append(start + timedelta(seconds=rng.randrange(-3_600, 5 * 86_400)))
        found.append(prospect)
    return found


def _store(session: Session, prospects_: list[Prospect]) -> None:
    access.add_team(session, "lyon")
    access.add_team(session, "nice")
    for name, its in (("alice", ["lyon"]), ("bob", ["nice"]), ("carol", ["nice", "lyon"])):
        access.add_user(session, name, Role.AGENT, teams=its)
    access.add_user(session, "dave", Role.AGENT)
    users = {u.name: u.id for u in access_repository.users(session)}
    teams = {f"team:{t.name}": t.id for t in access_repository.teams(session)}
    owners: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    touches: list[dict[str, Any]] = []
    for number, prospect in enumerate(prospects_):
        (contact_id,) = prospects(session, 1, start=number, source=prospect.source)
        if prospect.owner is not None:
            owners.append({"contact_id": contact_id, "user_id": users.get(prospect.owner),
                           "team_id": teams.get(prospect.owner), "rule": "default",
                           "assigned_by": "test", "assigned_at": SINCE})  # fmt: skip
        changes += [{"contact_id": contact_id, "from_stage": "lead", "to_stage": "qualified",
                     "reason": "test", "actor": "system", "changed_at": at}
                    for at in prospect.qualified]  # fmt: skip
        # A later move elsewhere does not undo the qualification the report counts.
        changes.append({"contact_id": contact_id, "from_stage": "qualified", "to_stage": "lost",
                        "reason": "test", "actor": "system", "changed_at": NOW - HOUR})  # fmt: skip
        touches += [{"contact_id": contact_id, "user_id": users["dave"], "channel": "phone",
                     "outcome": "no_answer", "at": at} for at in prospect.touches]  # fmt: skip
    if owners:
        session.execute(insert(ContactOwner), owners)
    session.execute(insert(StageChange), changes)
    if touches:
        session.execute(insert(Touch), touches)
    session.flush()


@pytest.mark.parametrize("sla", [HOUR, timedelta(minutes=30), timedelta(days=2)])
def test_the_report_counted_in_sql_is_the_pure_definition(session: Session, sla: timedelta) -> None:
    given = _edge_cases(sla) + _random(400, seed=int(sla.total_seconds()))
    _store(session, given)
    groups = {}
    for by in speed_service.GROUPS:
        found = speed_service.report(session, by=by, since=SINCE, until=NOW, now=NOW, sla=sla)
        rows, total = _expected(given, by, sla)
        assert found.rows == rows, by
        assert found.total == total, by
        groups[by] = {row.group for row in found.rows}
    assert groups["team"] == {"(unassigned)", "lyon", "nice", "(no team)"}
    assert groups["source"] == {"web", "fair", "(no source)"}
    assert len(groups["agent"]) == len(OWNERS)
    assert total.touched > 50 and total.qualified - total.touched > 50


def test_edge_cases_counted_as_the_definition_says(session: Session) -> None:
    _store(session, _edge_cases(HOUR))
    found = speed_service.report(session, by="agent", since=SINCE, until=NOW, now=NOW, sla=HOUR)
    rows = {row.group: row for row in found.rows}
    assert (rows["alice"].qualified, rows["alice"].touched) == (2, 0)
    assert rows["alice"].waiting_beyond_sla == 1
    assert (rows["bob"].qualified, rows["bob"].touched, rows["bob"].within_sla) == (3, 2, 2)
    assert rows["bob"].median_minutes == 30.0 and rows["bob"].p90_minutes == 60.0
    assert rows["carol"].median_minutes == 60.0  # from its latest qualification
    assert rows["dave"].qualified == 1  # only the one qualified at the period's start
    assert rows["(unassigned)"].median_minutes == 1.0
    assert found.total.qualified == 9
    speeds = speed_service.report(session, by="source", since=SINCE, until=NOW, now=NOW)
    assert {row.group: row.qualified for row in speeds.rows} == {
        "web": 3, "fair": 3, "(no source)": 3,
    }  # fmt: skip
