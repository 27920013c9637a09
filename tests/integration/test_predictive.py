"""Predictive scoring on a real migrated database: features and labels read from the workspace,
the default label from the stage history, scoring everyone and a few, priority, explanations."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadsift.contacts import service as contacts
from leadsift.contacts.models import ContactPrediction
from leadsift.contacts.schemas import ImportOptions
from leadsift.engagement import service as engagement
from leadsift.engagement.service import IngestOptions
from leadsift.errors import InvalidInputError
from leadsift.kit.clock import utcnow
from leadsift.qualification import service as qualification
from leadsift.scoring import repository, service
from leadsift.scoring.schemas import TrainRequest
from leadsift.scoring.training import train_model
from leadsift.segments import service as segments
from tests.files import write_csv

PLAYBOOK = """\
name: Predictive test
eligibility: age >= 18
interest:
  half_life: 14d
  rules:
    - {event: page_view, points: 5, cap: 20}
qualify: interest >= 10
value: {deal: 200, call_cost: 8, message_cost: 0.1}
"""


def _people(count: int, seed: int = 7) -> tuple[list[str], list[list[str]], list[bool]]:
    """Contacts whose buying depends on plan and visits (with noise), and a leaking column."""
    rng = random.Random(seed)
    header = ["email", "age", "plan", "visits", "ref", "call_minutes", "bought"]
    rows: list[list[str]] = []
    bought: list[bool] = []
    for i in range(count):
        plan = rng.choice(["free", "basic", "pro"])
        visits = rng.randint(0, 12)
        odds = {"free": -2.5, "basic": -1.0, "pro": 0.5}[plan] + 0.25 * visits
        buys = rng.random() < 1 / (1 + 2.718281828 ** (-odds))
        minutes = f"{(30 if buys else 0) + rng.random():.2f}"  # known only after the sale
        rows.append(
            [
                f"p{i}@example.org",
                str(rng.randint(20, 70)),
                plan,
                str(visits),
                f"R{i:06d}",
                minutes,
                "yes" if buys else "no",
            ]
        )
        bought.append(buys)
    return header, rows, bought


@pytest.fixture
def people(session: Session, tmp_path: Path) -> list[bool]:
    header, rows, bought = _people(800)
    path = write_csv(tmp_path / "people.csv", header, rows)
    contacts.import_contacts(session, path, ImportOptions())
    return bought


def test_a_field_label_learns_the_signal_and_the_guard_drops_the_leak(
    session: Session, people: list[bool]
) -> None:
    request = TrainRequest(label="bought", positive="yes")
    summary = train_model(session, request, utcnow())
    assert summary.rows == 800
    assert summary.positives == sum(people)
    reasons = {item.field: item.reason for item in summary.excluded}
    assert "call_minutes" in reasons  # alone separates the classes
    assert reasons["bought"] == "the label itself"
    assert "email" in reasons
    assert reasons["ref"]  # an identifier-like text column
    assert {"plan", "visits"} <= set(summary.features)
    assert 0.7 < summary.metrics["roc_auc"] < 0.99
    assert summary.activated
    assert any("call_minutes" in warning for warning in summary.warnings)
    kept = train_model(
        session, TrainRequest(label="bought", positive="yes", include=["call_minutes"]), utcnow()
    )
    assert "call_minutes" in kept.features


def test_scoring_everyone_writes_probability_and_priority(
    session: Session, people: list[bool]
) -> None:
    qualification.qualify(session, PLAYBOOK, "p.yaml")
    train_model(session, TrainRequest(label="bought", positive="yes"), utcnow())
    run = service.score_everyone(session, utcnow())
    assert run.contacts == 800
    stored = session.scalars(select(ContactPrediction)).all()
    assert len(stored) == 800
    lead = stored[0]
    assert lead.priority == pytest.approx(lead.probability * 200 - 0.1)  # a lead: a message
    top = segments.rows(
        session, "probability >= 0.3", ["id", "probability", "priority"], 5, "priority"
    )
    listed = list(top[1])
    assert listed, "some contacts are likely buyers"
    priorities = [row[2] for row in listed]
    assert priorities == sorted(priorities, reverse=True)
    assert all(row[1] >= 0.3 for row in listed)
    assert segments.count(session, "probability >= 0.3") == run.above["0.3"]


def test_explanations_add_up_and_name_the_features(session: Session, people: list[bool]) -> None:
    train_model(session, TrainRequest(label="bought", positive="yes"), utcnow())
    service.score_everyone(session, utcnow())
    contact_id = session.scalars(select(ContactPrediction.contact_id).limit(1)).one()
    explained = service.explain(session, contact_id, utcnow(), top=50)
    assert explained is not None
    total = explained["base"] + sum(c["contribution"] for c in explained["contributions"])
    assert total + explained["others"] == pytest.approx(explained["raw_output"], abs=1e-6)
    stored = session.get(ContactPrediction, contact_id)
    assert stored is not None
    assert explained["probability"] == pytest.approx(stored.probability, abs=1e-9)
    assert {c["feature"] for c in explained["contributions"]} >= {"plan", "visits"}


def test_the_default_label_is_becoming_a_customer(session: Session, people: list[bool]) -> None:
    qualification.qualify(session, PLAYBOOK, "p.yaml")
    now = utcnow()
    ids = session.scalars(select(ContactPrediction.contact_id)).all()  # none yet
    assert ids == []
    rng = random.Random(3)
    events = []
    for index, buys in enumerate(people):
        email = f"p{index}@example.org"
        for visit in range(rng.randint(0, 3) + (rng.randint(0, 2) if buys else 0)):
            events.append(
                {
                    "type": "page_view",
                    "email": email,
                    "occurred_at": (now - timedelta(days=visit + 1)).isoformat(),
                    "properties": {"path": "/pricing"},
                }
            )
        if buys:
            events.append(
                {
                    "type": "purchase",
                    "email": email,
                    "occurred_at": (now - timedelta(hours=1)).isoformat(),
                }
            )
    recorded = engagement.ingest(session, events, now=now, options=IngestOptions())
    service.after_events(session, recorded.contact_ids, now)
    summary = train_model(session, TrainRequest(), now)
    assert summary.positives == sum(people)  # every buyer became a customer
    reasons = {item.field: item.reason for item in summary.excluded}
    assert reasons["count(purchase)"] == "a conversion event: it is the outcome itself"
    assert reasons["stage"].startswith("the lifecycle")
    assert "count(page_view)" in summary.features


def test_new_events_are_scored_as_they_arrive(session: Session, people: list[bool]) -> None:
    train_model(session, TrainRequest(label="bought", positive="yes"), utcnow())
    assert session.scalar(select(func.count()).select_from(ContactPrediction)) == 0
    now = utcnow()
    recorded = engagement.ingest(
        session,
        [{"type": "page_view", "email": "p1@example.org"}],
        now=now,
        options=IngestOptions(),
    )
    service.after_events(session, recorded.contact_ids, now)
    stored = session.scalars(select(ContactPrediction)).all()
    assert [p.contact_id for p in stored] == sorted(recorded.contact_ids)


def test_no_history_no_model(session: Session, tmp_path: Path) -> None:
    header, rows, _ = _people(60)
    contacts.import_contacts(
        session, write_csv(tmp_path / "few.csv", header, rows), ImportOptions()
    )
    with pytest.raises(InvalidInputError, match="50"):
        train_model(session, TrainRequest(label="bought", positive="yes"), utcnow())
    assert repository.active_model(session) is None
