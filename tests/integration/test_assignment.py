"""Assignment of qualified prospects by the playbook's rules, on real databases."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadsift.access import service as access
from leadsift.access.models import ContactOwner
from leadsift.agents import service
from leadsift.errors import InvalidInputError, PermissionDeniedError
from tests.agents_helpers import activate, owners_of, people, prospects

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)

WEIGHTED = """assignment:
  rules:
    - when: 'source = "salon"'
      user: dave
    - when: 'postal_code startswith "69"'
      team: lyon
    - when: 'source = "web"'
      round_robin: {users: [alice, bob, carol], weights: {alice: 2}}
  default: {user: boss}
"""


def _setup(session: Session) -> None:
    people(session, "alice", "bob", "carol", "dave")
    people(session, "boss", role=access.Role.MANAGER)
    access.add_team(session, "lyon", ["bob"])
    activate(session, WEIGHTED)


def test_round_robin_of_1000_prospects_weighted_2_1_1_gives_500_250_250(session: Session) -> None:
    _setup(session)
    ids = prospects(session, 1000, source="web")
    summary = service.assign(session, now=NOW)
    assert summary.assigned == 1000 and summary.unassigned == 0
    assert summary.by_owner == {"alice": 500, "bob": 250, "carol": 250}
    assert summary.by_rule == {"rule 3": 1000}
    assert Counter(owners_of(session, ids).values()) == {"alice": 500, "bob": 250, "carol": 250}


def test_first_matching_rule_wins_then_the_default(session: Session) -> None:
    _setup(session)
    salon = prospects(session, 2, source="salon", postal_code="69001")
    lyon = prospects(session, 2, start=10, source="other", postal_code="69002")
    other = prospects(session, 2, start=20, source="other", postal_code="75001")
    summary = service.assign(session, now=NOW)
    owners = owners_of(session, salon + lyon + other)
    assert [owners[i] for i in salon] == ["dave", "dave"]  # rule 1 before rule 2
    assert [owners[i] for i in lyon] == ["team:lyon", "team:lyon"]
    assert [owners[i] for i in other] == ["boss", "boss"]
    assert summary.by_rule == {"default": 2, "rule 1": 2, "rule 2": 2}


def test_round_robin_continues_where_it_stopped(session: Session) -> None:
    _setup(session)
    first = prospects(session, 2, source="web")
    service.assign(session, now=NOW)
    second = prospects(session, 2, start=100, source="web")
    service.assign(session, now=NOW)
    owners = owners_of(session, first + second)
    # Smooth weighted round robin 2:1:1 deals alice, bob, carol, alice; starting afresh the
    # second run would deal alice, bob again.
    assert [owners[i] for i in first + second] == ["alice", "bob", "carol", "alice"]


def test_disabled_and_absent_agents_are_skipped(session: Session) -> None:
    _setup(session)
    access.disable_user(session, "alice")
    access.update_user(session, "carol", away_until=NOW + timedelta(days=1))
    ids = prospects(session, 6, source="web")
    service.assign(session, now=NOW)
    assert set(owners_of(session, ids).values()) == {"bob"}


def test_capacity_limits_a_round_robin_and_the_rest_falls_to_the_default(
    session: Session,
) -> None:
    people(session, "alice", "bob", capacity=2)
    people(session, "boss", role=access.Role.MANAGER)
    activate(
        session,
        """assignment:
  rules:
    - when: 'source = "web"'
      round_robin: {users: [alice, bob]}
  default: {user: boss}
""",
    )
    ids = prospects(session, 7, source="web")
    summary = service.assign(session, now=NOW)
    assert summary.by_owner == {"boss": 3, "alice": 2, "bob": 2}
    assert Counter(owners_of(session, ids).values()) == {"boss": 3, "alice": 2, "bob": 2}


def test_nobody_available_leaves_prospects_waiting_with_a_note(session: Session) -> None:
    people(session, "alice")
    access.disable_user(session, "alice")
    activate(session, "assignment:\n  rules:\n    - {when: 'age >= 0', user: alice}\n")
    prospects(session, 3)
    summary = service.assign(session, now=NOW)
    assert summary.assigned == 0 and summary.unassigned == 3
    assert "add a `default`" in summary.notes[0]


def test_dry_run_shows_who_would_get_what_and_changes_nothing(session: Session) -> None:
    _setup(session)
    prospects(session, 4, source="web")
    summary = service.assign(session, now=NOW, dry_run=True)
    assert summary.by_owner == {"alice": 2, "bob": 1, "carol": 1}
    assert len(summary.examples["alice"]) == 2
    assert session.scalar(select(func.count()).select_from(ContactOwner)) == 0
    again = service.assign(session, now=NOW, dry_run=True)
    assert again.by_owner == summary.by_owner  # the round robin did not move either


def test_a_rule_naming_a_missing_user_is_refused_and_nothing_changes(session: Session) -> None:
    people(session, "alice")
    activate(session, "assignment:\n  rules:\n    - {when: 'age >= 0', user: bobby}\n")
    prospects(session, 2)
    with pytest.raises(InvalidInputError, match=r"rule 1 .* names user 'bobby', who does not"):
        service.assign(session, now=NOW)
    assert session.scalar(select(func.count()).select_from(ContactOwner)) == 0
    # In real time the prospects wait (events are never refused for it); the problem is told.
    problem = service.assign_new(session, None, NOW)
    assert problem is not None and "bobby" in problem


def test_without_assignment_rules_nobody_is_assigned(session: Session) -> None:
    activate(session)
    prospects(session, 2)
    summary = service.assign(session, now=NOW)
    assert summary.assigned == 0 and "no `assignment` section" in summary.notes[0]


def test_only_qualified_prospects_without_an_owner_are_assigned(session: Session) -> None:
    _setup(session)
    leads = prospects(session, 2, stage="lead", source="web")
    mine = prospects(session, 1, start=50, source="web")
    service.assign_contact(session, str(mine[0]), to_user="dave", to_team=None, caller=None)
    fresh = prospects(session, 1, start=60, source="web")
    summary = service.assign(session, now=NOW)
    assert summary.assigned == 1
    owners = owners_of(session, leads + mine + fresh)
    assert owners[leads[0]] is None and owners[mine[0]] == "dave" and owners[fresh[0]] == "alice"


def test_manual_assignment_is_audited_without_personal_data(session: Session) -> None:
    _setup(session)
    [contact] = prospects(session, 1)
    before = max((e.id for e in access.audit_log(session, limit=10_000)), default=0)
    service.assign_contact(session, str(contact), to_user=None, to_team="lyon", caller=None)
    [entry] = access.audit_log(session, after_id=before)
    assert (entry.action, entry.target_type, entry.target_id) == ("assigned", "contact", contact)
    assert entry.actor == "cli" and "p0@example.com" not in str(entry.details)
    with pytest.raises(InvalidInputError, match="exactly one of"):
        service.assign_contact(session, str(contact), to_user="bob", to_team="lyon", caller=None)


def test_a_team_round_robin_deals_to_its_agents_only(session: Session) -> None:
    people(session, "ann", "ben")
    people(session, "meg", role=access.Role.MANAGER)
    people(session, "ada", role=access.Role.ADMIN)
    access.add_team(session, "lyon", ["ann", "ben", "meg", "ada"])
    activate(session, "assignment:\n  default: {round_robin: {team: lyon}}\n")
    ids = prospects(session, 4)
    service.assign(session, now=NOW)
    assert Counter(owners_of(session, ids).values()) == {"ann": 2, "ben": 2}


def test_disabling_an_agent_deals_their_open_prospects_again(session: Session) -> None:
    _setup(session)
    ids = prospects(session, 4, source="web")
    service.assign(session, now=NOW)
    alices = [i for i, owner in owners_of(session, ids).items() if owner == "alice"]
    assert len(alices) == 2
    user, dealt = service.disable_user(session, "alice", now=NOW)
    assert user.disabled_at is not None and dealt.assigned == 2
    assert set(owners_of(session, ids).values()) == {"bob", "carol"}
    released = [
        e for e in access.audit_log(session, limit=10_000) if e.action == "prospects_released"
    ]
    assert released[-1].details == {"prospects": 2}


def test_a_manager_gives_prospects_only_within_their_teams(session: Session) -> None:
    _setup(session)
    [contact] = prospects(session, 1)
    access.add_team(session, "lyon", ["boss"])
    boss = access.caller_of_user(session, access.find_user(session, "boss"))
    service.assign_contact(session, str(contact), to_user="bob", to_team=None, caller=boss)
    with pytest.raises(PermissionDeniedError, match="their own teams"):
        service.assign_contact(session, str(contact), to_user="dave", to_team=None, caller=boss)
