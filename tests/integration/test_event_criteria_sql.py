"""Event properties and aggregates: SQL selects exactly what the Python evaluator accepts, and
the SQL interest equals the Python breakdown (SQLite, PostgreSQL).

Each example inserts a few contacts and generated events inside a savepoint that is rolled back.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from leadsift.contacts.criteria_fields import SCORE_SPECS, contact_registry
from leadsift.contacts.models import Contact
from leadsift.criteria import Moment, compile_criteria, evaluate
from leadsift.criteria.sql import to_sql
from leadsift.engagement.criteria_fields import event_registry
from leadsift.engagement.models import Event
from leadsift.interest import repository as scoring_repository
from leadsift.interest.decay import breakdown, compile_interest
from leadsift.segments.repository import WorkspaceSqlFields

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WORKSPACE = contact_registry({}).extended(SCORE_SPECS, events=event_registry())
TYPES = ("page_view", "email_clicked", "callback_requested", "purchase")
PATHS = ("/pricing", "/pricing/pro", "/menu", "/Menu", "", "é/x", 3, 2.5, True, None)
AMOUNTS = (0, 99, 100, 100.5, -3, "100", False, None)
SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

event_strategy = st.fixed_dictionaries(
    {
        "type": st.sampled_from(TYPES),
        "minutes_ago": st.integers(min_value=-4, max_value=60 * 24 * 60),
        "path": st.sampled_from(PATHS),
        "amount": st.sampled_from(AMOUNTS),
        "campaign": st.sampled_from((None, "spring", "autumn")),
    }
)
property_predicate = st.sampled_from(
    (
        'properties.path = "/pricing"',
        'properties.path startswith "/pricing"',
        'properties.path contains "enu"',
        "properties.path is null",
        "properties.path is not null",
        "properties.path > 2",
        "properties.path = true",
        "properties.amount >= 100",
        "properties.amount between 0 and 99.5",
        "properties.amount in (0, 100)",
        'campaign = "spring"',
        "campaign is null",
        'not properties.path = "/menu"',
        'properties.path = "/menu" or properties.amount < 0',
    )
)


@st.composite
def aggregate_expression(draw: st.DrawFn) -> str:
    function = draw(st.sampled_from(("count", "last")))
    inner = draw(st.sampled_from(TYPES))
    if draw(st.booleans()):
        inner += f" where {draw(property_predicate)}"
    if draw(st.booleans()):
        inner += f" within {draw(st.sampled_from(('1h', '2d', '30d')))}"
    if function == "count":
        op = draw(st.sampled_from(("=", ">=", "<", "!=")))
        return f"count({inner}) {op} {draw(st.integers(0, 3))}"
    tail = draw(st.sampled_from(("within 7d", "is null", "is not null", ">= 2026-11-01")))
    return f"last({inner}) {tail}"


@st.composite
def expression(draw: st.DrawFn) -> str:
    parts = draw(st.lists(aggregate_expression(), min_size=1, max_size=3))
    joiner = draw(st.sampled_from((" and ", " or ")))
    text = joiner.join(f"({part})" for part in parts)
    return f"not ({text})" if draw(st.booleans()) else text


def _insert(session: Session, generated: list[list[dict[str, Any]]]) -> dict[int, list[dict]]:
    ids = []
    for _ in generated:
        contact = Contact(
            email=f"{secrets.token_hex(6)}@example.com", created_at=NOW, updated_at=NOW, attrs={}
        )
        session.add(contact)
        session.flush()
        ids.append(contact.id)
    facts: dict[int, list[dict[str, Any]]] = {}
    for contact_id, events in zip(ids, generated, strict=True):
        rows = []
        for spec in events:
            properties = {key: spec[key] for key in ("path", "amount") if spec[key] is not None}
            if spec["path"] is None and spec["amount"] is None and spec["minutes_ago"] % 2:
                properties["path"] = None  # an explicit JSON null, not a missing key
            rows.append(
                {
                    "type": spec["type"],
                    "contact_id": contact_id,
                    "occurred_at": NOW - timedelta(minutes=spec["minutes_ago"]),
                    "received_at": NOW,
                    "properties": properties,
                    "campaign": spec["campaign"],
                    "dedup_key": secrets.token_bytes(16),
                    "payload_hash": secrets.token_bytes(16),
                }
            )
        if rows:
            session.execute(insert(Event), rows)
        stored = session.execute(select(Event.__table__).where(Event.contact_id == contact_id))
        facts[contact_id] = [dict(row) for row in stored.mappings()]
    return facts


contacts_events = st.lists(st.lists(event_strategy, max_size=8), min_size=1, max_size=4)


@SETTINGS
@given(generated=contacts_events, text=expression())
def test_aggregates_agree(session: Session, generated: list[list[dict]], text: str) -> None:
    savepoint = session.begin_nested()
    try:
        facts = _insert(session, generated)
        criteria = compile_criteria(text, WORKSPACE)
        moment = Moment(NOW)
        expected = {
            cid for cid, events in facts.items() if evaluate(criteria, {"events": events}, moment)
        }
        condition = to_sql(criteria, WorkspaceSqlFields(), moment)
        query = select(Contact.id).where(Contact.id.in_(list(facts)), condition)
        assert set(session.scalars(query)) == expected, text
    finally:
        savepoint.rollback()


rule_strategy = st.fixed_dictionaries(
    {
        "event": st.sampled_from(TYPES),
        "points": st.sampled_from((-50, -5, 1, 3, 10, 40)),
    },
    optional={
        "where": property_predicate,
        "cap": st.sampled_from((1, 7, 25)),
    },
)


@SETTINGS
@given(
    generated=contacts_events,
    rules=st.lists(rule_strategy, min_size=1, max_size=5),
    half_life=st.sampled_from(("1h", "3d", "14d")),
    everyone=st.booleans(),
)
def test_sql_interest_equals_the_python_breakdown(
    session: Session,
    generated: list[list[dict]],
    rules: list[dict],
    half_life: str,
    everyone: bool,
) -> None:
    """Both SQL paths (some contacts, as events arrive; everyone, as `score` runs: rules read
    from the index, by a scan of properties, or both) equal the Python breakdown."""
    savepoint = session.begin_nested()
    try:
        facts = _insert(session, generated)
        model = compile_interest({"half_life": half_life, "rules": rules}, event_registry())
        assert model is not None
        scoring_repository.write_interest(session, model, NOW, None if everyone else sorted(facts))
        stored = scoring_repository.stored_interest(session, sorted(facts))
        for contact_id, events in facts.items():
            expected = breakdown(model, events, NOW).total
            # SQLite's julianday() resolves times to ~50 µs: 1e-8 relative at a 1-hour half-life.
            assert stored.get(contact_id, 0.0) == pytest.approx(expected, rel=1e-7, abs=1e-7)
    finally:
        savepoint.rollback()
