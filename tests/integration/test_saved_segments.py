"""Saved segments: names as handles, expressions checked when saved (refused with the
checker's line and column), saving again updates, deletion, audit entries, and the count a
caller may see."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsift.access import service as access
from leadsift.access.models import AuditEntry
from leadsift.access.schemas import Role
from leadsift.agents import service as agents
from leadsift.contacts import service as contacts
from leadsift.contacts.schemas import ImportOptions
from leadsift.criteria import CriteriaError
from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.segments import saved
from leadsift.segments.models import SavedSegment
from tests.files import write_csv

CITIES = ["Lyon", "Lyon", "Lyon", "Paris", "Paris", "Nantes"]


def _contacts(session: Session, tmp_path: Path) -> None:
    rows = [[f"p{i}@example.org", f"First{i}", city] for i, city in enumerate(CITIES)]
    file = write_csv(tmp_path / "c.csv", ["email", "first_name", "city"], rows)
    contacts.import_contacts(session, file, ImportOptions())


def _audit(session: Session, after: int) -> list[tuple[str, str, int | None, dict[str, object]]]:
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.id > after, AuditEntry.target_type == "segment")
        .order_by(AuditEntry.id)
    )
    return [(e.actor, e.action, e.target_id, e.details) for e in entries]


def _last_audit_id(session: Session) -> int:
    found = session.scalars(select(AuditEntry.id).order_by(AuditEntry.id.desc())).first()
    return found or 0


def test_names_are_case_insensitive_handles() -> None:
    assert saved.segment_name("  Hot-Leads.Lyon_2 ") == "hot-leads.lyon_2"
    assert saved.segment_name("a" * 100) == "a" * 100
    for bad in ("", "hot leads", "-hot", "é", "a" * 101, "hot/leads"):
        with pytest.raises(InvalidInputError, match="segment name"):
            saved.segment_name(bad)


def test_expressions_and_descriptions_are_trimmed_and_bounded() -> None:
    assert saved.clean_expression('  city = "Lyon"\n') == 'city = "Lyon"'
    assert saved.clean_description("  ") is None
    assert saved.clean_description(" for the Lyon team ") == "for the Lyon team"
    with pytest.raises(InvalidInputError, match="needs a criteria expression"):
        saved.clean_expression("   ")
    with pytest.raises(InvalidInputError, match="at most 2000"):
        saved.clean_expression("x" * 2001)
    with pytest.raises(InvalidInputError, match="NUL"):
        saved.clean_description("a\x00b")


def test_save_list_update_and_delete_are_audited(session: Session, tmp_path: Path) -> None:
    _contacts(session, tmp_path)
    before = _last_audit_id(session)
    first = saved.save_segment(session, "Lyon", 'city = "Lyon"', "the Lyon team's")
    assert (first.name, first.expression, first.description) == (
        "lyon", 'city = "Lyon"', "the Lyon team's"
    )  # fmt: skip
    assert (first.created, first.changed, first.created_by) == (True, True, "cli")
    assert saved.visible_count(session, "LYON") == 3

    # Saving the same name again (any case) updates it; the creator and creation time stay.
    later = utcnow() + timedelta(minutes=5)
    manager = access.add_user(session, "maud", Role.MANAGER)
    caller = access.as_user(session, manager.name)
    second = saved.save_segment(
        session, "lyon", 'city in ("Lyon", "Paris")', None, caller=caller, now=later
    )
    assert (second.id, second.created, second.changed) == (first.id, False, True)
    assert second.description is None  # replaced, like the expression
    assert second.created_by == "cli" and second.created_at == first.created_at
    assert second.updated_at == later
    assert saved.visible_count(session, "lyon") == 5

    # The same again: nothing written, nothing audited.
    third = saved.save_segment(session, "lyon", ' city in ("Lyon", "Paris") ', caller=caller)
    assert (third.created, third.changed, third.updated_at) == (False, False, later)

    saved.save_segment(session, "nantes", 'city = "Nantes"')
    assert [s.name for s in saved.list_segments(session)] == ["lyon", "nantes"]
    assert saved.get_segment(session, "Nantes").expression == 'city = "Nantes"'

    gone = saved.delete_segment(session, "NANTES")
    assert gone.name == "nantes"
    assert [s.name for s in saved.list_segments(session)] == ["lyon"]
    with pytest.raises(NotFoundError, match="no saved segment 'nantes'"):
        saved.delete_segment(session, "nantes")
    with pytest.raises(NotFoundError):
        saved.visible_count(session, "nantes")

    entries = _audit(session, before)
    nantes = gone.id
    assert entries == [
        ("cli", "segment_saved", first.id, {"name": "lyon", "created": True}),
        (caller.actor, "segment_saved", first.id, {"name": "lyon", "created": False}),
        ("cli", "segment_saved", nantes, {"name": "nantes", "created": True}),
        ("cli", "segment_deleted", nantes, {"name": "nantes"}),
    ]


@pytest.mark.parametrize(
    ("expression", "line", "column", "words"),
    [
        ("age >= ", 1, 7, "ends too early"),
        ('city = "Lyon" and agee >= 30', 1, 19, "did you mean 'age'"),
        ('age >= "old"', 1, 8, "integer field"),
        # Positions are in the text as written, not in the trimmed text stored.
        ("  agee > 3", 1, 3, "did you mean"),
        ("\n\nage >=", 3, 7, "ends too early"),
    ],
)
def test_an_invalid_expression_is_refused_with_where_it_breaks(
    session: Session, expression: str, line: int, column: int, words: str
) -> None:
    with pytest.raises(CriteriaError) as refused:
        saved.save_segment(session, "broken", expression)
    assert (refused.value.line, refused.value.column) == (line, column)
    assert refused.value.message.startswith(f"line {line}, column {column}: ")
    assert words in refused.value.message
    assert session.scalars(select(SavedSegment)).all() == []


def test_an_invalid_expression_never_replaces_a_saved_one(session: Session) -> None:
    saved.save_segment(session, "leads", 'stage = "lead"')
    with pytest.raises(CriteriaError):
        saved.save_segment(session, "leads", 'stage = "leed"')
    assert saved.get_segment(session, "leads").expression == 'stage = "lead"'


def test_the_count_is_what_the_caller_may_see(session: Session, tmp_path: Path) -> None:
    _contacts(session, tmp_path)
    for name in ("alice", "bob"):
        access.add_user(session, name, Role.AGENT)
    agents.assign_contact(session, "p0@example.org", to_user="alice", to_team=None, caller=None)
    agents.assign_contact(session, "p3@example.org", to_user="alice", to_team=None, caller=None)
    agents.assign_contact(session, "p1@example.org", to_user="bob", to_team=None, caller=None)
    saved.save_segment(session, "lyon", 'city = "Lyon"')
    alice = access.as_user(session, "alice")
    assert saved.visible_count(session, "lyon", alice) == 1  # p0 (p3 is in Paris)
    assert saved.visible_count(session, "lyon", access.as_user(session, "bob")) == 1
    assert saved.visible_count(session, "lyon") == 3
    admin = access.add_user(session, "root", Role.ADMIN)
    assert saved.visible_count(session, "lyon", access.as_user(session, admin.name)) == 3


def test_where_or_segment_but_not_both(session: Session) -> None:
    saved.save_segment(session, "leads", 'stage = "lead"')
    assert saved.chosen_expression(session, None, "Leads") == 'stage = "lead"'
    assert saved.chosen_expression(session, "age > 3", None) == "age > 3"
    assert saved.chosen_expression(session, None, None) is None
    with pytest.raises(InvalidInputError, match="not both"):
        saved.chosen_expression(session, "age > 3", "leads")
    with pytest.raises(NotFoundError, match="segment list"):
        saved.chosen_expression(session, None, "nobody")
