"""Writing the policy's moves (SQLite, PostgreSQL): PostgreSQL's COPY of many stage changes
writes the same rows, in the same order, as the executemany of a few; recycling explanations
keep their shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact
from leadsift.qualification import promotion_repository
from leadsift.qualification.models import StageChange
from leadsift.qualification.policy import CompiledPolicy, Move, recycles
from leadsift.qualification.stages import Stage

NOW = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
POLICY = CompiledPolicy(
    version_id=7,
    actor="playbook:Test — offre@2",
    interest=None,
    qualify=None,
    recycle_after=timedelta(days=30),
)
SYSTEM = CompiledPolicy(
    version_id=None, actor="system", interest=None, qualify=None, recycle_after=None
)


def add_contacts(session: Session, count: int) -> list[int]:
    contacts = [
        Contact(
            email=f"w{n}@example.com",
            stage=Stage.LEAD.value,
            created_at=NOW - timedelta(days=90),
            updated_at=NOW - timedelta(days=90),
            attrs={},
        )
        for n in range(count)
    ]
    session.add_all(contacts)
    session.flush()
    return [c.id for c in contacts]


def moves_of(ids: list[int]) -> list[Move]:
    awkward = 'tab\there, new\nline, back\\slash, "quotes", é ✓, \\N'
    explanation: dict[str, Any] = {
        "policy": "fit >= 10 and interest >= 40",
        "fit": 12.5,
        "interest": {"interest": 41.123456, "rules": [{"rule": awkward, "capped": False}]},
        "hand_raisers": [],
        "none": None,
    }
    first, second, third = ids
    return [
        Move(first, Stage.LEAD, Stage.QUALIFIED, "interest_threshold", explanation),
        Move(second, Stage.LEAD, Stage.QUALIFIED, "hand_raiser", {"event": {"event_id": 3}}),
        Move(second, Stage.QUALIFIED, Stage.CUSTOMER, "purchase", {"amount": None}),
        Move(third, Stage.LEAD, Stage.UNQUALIFIED, "no_interest", {"recycle_after": "30d"}),
    ]


def written(session: Session, policy: CompiledPolicy, ids: list[int]) -> list[tuple[Any, ...]]:
    """The rows the moves write, after applying them in a savepoint rolled back afterwards."""
    nested = session.begin_nested()
    promotion_repository.apply_moves(session, moves_of(ids), policy, NOW)
    table = StageChange.__table__
    history = session.execute(
        select(*(c for c in table.c if c.name != "id"), table.c.id)
        .where(table.c.contact_id.in_(ids))
        .order_by(table.c.id)
    ).all()
    contacts = Contact.__table__
    columns = ("id", "stage", "stage_reason", "stage_changed_at")
    stages = session.execute(
        select(*(contacts.c[name] for name in columns))
        .where(contacts.c.id.in_(ids))
        .order_by(contacts.c.id)
    ).all()
    nested.rollback()
    # The ids themselves differ between the two writes (the sequence moves on); their order not.
    return [tuple(row[:-1]) for row in history] + [tuple(row) for row in stages]


@pytest.mark.parametrize("policy", [POLICY, SYSTEM], ids=["playbook", "system"])
def test_copied_stage_changes_equal_the_inserted_ones(
    session: Session, monkeypatch: pytest.MonkeyPatch, policy: CompiledPolicy
) -> None:
    ids = add_contacts(session, 3)
    monkeypatch.setattr(promotion_repository, "COPY_HISTORY_FROM", 10**9)
    inserted = written(session, policy, ids)
    monkeypatch.setattr(promotion_repository, "COPY_HISTORY_FROM", 1)
    copied = written(session, policy, ids)
    assert copied == inserted
    assert len(inserted) == 7
    assert inserted[0][-2] is not None  # the explanation, read back as JSON
    assert inserted[0][-2]["interest"]["rules"][0]["rule"].startswith("tab\t")


def test_recycling_explanations_share_the_formatted_delay() -> None:
    changed = NOW - timedelta(days=45)
    moves = recycles(
        POLICY, [{"id": 1, "stage_changed_at": changed}, {"id": 2, "stage_changed_at": None}], NOW
    )
    assert [(m.contact_id, m.source, m.target, m.reason) for m in moves] == [
        (1, Stage.LEAD, Stage.UNQUALIFIED, "no_interest"),
        (2, Stage.LEAD, Stage.UNQUALIFIED, "no_interest"),
    ]
    assert moves[0].explanation == {
        "recycle_after": "30d",
        "lead_since": changed.isoformat(),
        "no_interest_since": (NOW - timedelta(days=30)).isoformat(),
    }
    assert moves[1].explanation["lead_since"] is None
    assert recycles(SYSTEM, [], NOW) == []
