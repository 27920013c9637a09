"""Lifecycle and qualification against real databases: examples end to end, history, explain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadsift.contacts import repository as contacts_repository
from leadsift.contacts import service as contacts
from leadsift.contacts.models import Contact
from leadsift.contacts.schemas import ImportOptions
from leadsift.criteria import Moment
from leadsift.kit.clock import utcnow
from leadsift.qualification import playbooks, service
from leadsift.qualification.evaluation import compile_playbook, evaluate_contact
from leadsift.qualification.models import ContactEvaluation, PlaybookVersion, StageChange
from leadsift.qualification.playbook import PlaybookError
from leadsift.qualification.stages import Stage, TransitionError
from leadsift.segments.fields import profile_registry as field_registry
from leadsift.segments.service import facts_of

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCENARIOS = sorted(p.name for p in EXAMPLES.iterdir() if (p / "playbook.yaml").is_file())


def _load_example(session: Session, name: str) -> tuple[str, dict[str, object]]:
    folder = EXAMPLES / name
    contacts.import_contacts(session, folder / "contacts.csv", ImportOptions())
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    return (folder / "playbook.yaml").read_text(encoding="utf-8"), expected


def _count(session: Session, model: type) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_four_scenarios_are_examples_in_the_repository() -> None:
    assert len(SCENARIOS) == 4


@pytest.mark.parametrize("name", SCENARIOS)
def test_example_qualifies_as_computed_by_hand(session: Session, name: str) -> None:
    text, expected = _load_example(session, name)
    summary = service.qualify(session, text, "playbook.yaml")
    unqualified = expected["unqualified"]
    assert isinstance(unqualified, dict)
    assert summary.evaluated == expected["contacts"]
    assert summary.stages["lead"] == expected["lead"]
    assert summary.stages["unqualified"] == sum(unqualified.values())
    assert {k: v for k, v in summary.reasons.items() if k != "criteria_met"} == unqualified
    # One history row per contact moved, in the same transaction, with its explanation.
    assert _count(session, StageChange) == summary.changed == expected["contacts"]
    assert _count(session, ContactEvaluation) == expected["contacts"]


@pytest.mark.parametrize("name", SCENARIOS)
def test_python_evaluation_agrees_with_the_set_based_run(session: Session, name: str) -> None:
    text, _ = _load_example(session, name)
    playbook = playbooks.load(session, text, "playbook.yaml")
    compiled = compile_playbook(playbook.canonical(), field_registry(session))
    moment = Moment(utcnow())
    predicted = {}
    for contact in session.scalars(select(Contact)):
        facts = facts_of(contact, contacts_repository.consent_of(session, contact.id))
        outcome = evaluate_contact(compiled, facts, moment)
        predicted[contact.id] = (outcome.stage.value, outcome.reason, outcome.fit)
    service.qualify(session, text, "playbook.yaml")
    session.expire_all()
    stored = {c.id: (c.stage, c.stage_reason, c.fit) for c in session.scalars(select(Contact))}
    assert stored == predicted


def test_requalify_is_safe_and_versions_are_reused(session: Session) -> None:
    text, _ = _load_example(session, "consumer-25-35")
    first = service.qualify(session, text, "playbook.yaml")
    changes = _count(session, StageChange)
    again = service.qualify(session, text, "playbook.yaml")
    assert again.changed == 0 and again.stages == first.stages
    assert _count(session, StageChange) == changes
    assert again.playbook_version == first.playbook_version
    edited = text.replace("between 25 and 35", "between 20 and 40")
    assert edited != text
    third = service.qualify(session, edited, "playbook.yaml")
    assert third.playbook_version != first.playbook_version
    assert _count(session, PlaybookVersion) == 2


def test_dry_run_changes_nothing(session: Session) -> None:
    text, expected = _load_example(session, "meal-delivery-lyon")
    summary = service.qualify(session, text, "playbook.yaml", dry_run=True)
    assert summary.stages["lead"] == expected["lead"] and summary.playbook_version is None
    assert _count(session, StageChange) == 0 and _count(session, PlaybookVersion) == 0
    stages = set(session.scalars(select(Contact.stage)))
    assert stages == {"contact"}


def test_explain_gives_each_criterion_with_value_and_result(session: Session) -> None:
    text, _ = _load_example(session, "meal-delivery-lyon")
    service.qualify(session, text, "playbook.yaml")
    contact_id = session.scalars(
        select(Contact.id).where(Contact.stage_reason == "missing_information").limit(1)
    ).one()
    result = service.explain(session, str(contact_id))
    assert result.stage == "unqualified" and result.stage_reason == "missing_information"
    evaluation = result.evaluation
    assert evaluation is not None and evaluation["reason"] == "missing_information"
    assert evaluation["missing"], "a missing_information outcome names what to ask for"
    for item in evaluation["criteria"]:
        assert set(item) == {"criterion", "field", "value", "result"}
        if item["field"] in evaluation["missing"]:
            assert item["value"] is None and item["result"] is None
    fit = evaluation["fit"]
    assert fit["total"] == sum(rule["earned"] for rule in fit["rules"]) == result.fit
    (change,) = result.history
    assert change.to_stage == "unqualified" and change.explanation is not None
    assert change.explanation["criteria"] == evaluation["criteria"]


def test_set_stage_follows_the_lifecycle_table(session: Session) -> None:
    _load_example(session, "consumer-25-35")
    contact_id = session.scalars(select(Contact.id).limit(1)).one()
    with pytest.raises(TransitionError, match="cannot go from contact to customer"):
        service.set_stage(session, str(contact_id), Stage.CUSTOMER, "purchase", actor="user:t")
    with pytest.raises(TransitionError, match="use one of criteria_met"):
        service.set_stage(session, str(contact_id), Stage.LEAD, "purchase", actor="user:t")
    assert _count(session, StageChange) == 0
    service.set_stage(session, str(contact_id), Stage.LEAD, "criteria_met", actor="user:t")
    change = service.set_stage(
        session, str(contact_id), Stage.QUALIFIED, "hand_raiser", actor="user:t", note="called"
    )
    assert (change.from_stage, change.to_stage, change.actor) == ("lead", "qualified", "user:t")
    assert change.explanation == {"note": "called"}
    history = service.explain(session, str(contact_id)).history
    assert [(h.from_stage, h.to_stage) for h in history] == [
        ("contact", "lead"),
        ("lead", "qualified"),
    ]


def test_playbook_problems_are_reported_together(session: Session) -> None:
    _load_example(session, "consumer-25-35")
    text = 'name: X\neligibility: regoin = "IDF"\nfit:\n  - {when: \'age > "a"\', points: ten}\n'
    with pytest.raises(PlaybookError) as caught:
        service.qualify(session, text, "bad.yaml")
    message = caught.value.message
    assert "3 problems" in message
    assert "did you mean 'region'" in message and "fit[0].points" in message
    assert "fit[0].when" in message
    assert _count(session, PlaybookVersion) == 0 and _count(session, StageChange) == 0
