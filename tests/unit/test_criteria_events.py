"""Criteria over events: free-form properties typed by their literal, aggregates of a contact's
events, and the errors when they are used where they do not belong."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadsift.contacts.criteria_fields import SCORE_SPECS, contact_registry
from leadsift.criteria import CriteriaError, Moment, compile_criteria, evaluate
from leadsift.engagement.criteria_fields import event_registry, event_type_problem

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MOMENT = Moment(NOW)
WORKSPACE = contact_registry({}).extended(SCORE_SPECS, events=event_registry())


def page(path: Any, age: timedelta = timedelta(days=1), type_: str = "page_view") -> dict[str, Any]:
    return {"id": 1, "type": type_, "occurred_at": NOW - age, "properties": {"path": path}}


@pytest.mark.parametrize(
    ("text", "properties", "truth"),
    [
        ('properties.path startswith "/pricing"', {"path": "/pricing/pro"}, True),
        ('properties.path = "/pricing"', {"path": 3}, None),  # a number is no text: unknown
        ("properties.amount > 100", {"amount": 150}, True),
        ("properties.amount > 100", {"amount": "150"}, None),
        ("properties.amount > 100", {"amount": True}, None),  # true is no number
        ("properties.vip = true", {"vip": True}, True),
        ("properties.vip = true", {"vip": "yes"}, None),
        ("properties.missing is null", {}, True),
        ("properties.missing is null", {"missing": None}, True),
        ("properties.path is not null", {"path": 0}, True),
        ('properties.plan in ("pro", "team")', {"plan": "team"}, True),
    ],
)
def test_event_properties_take_the_type_of_their_literal(
    text: str, properties: dict[str, Any], truth: bool | None
) -> None:
    criteria = compile_criteria(text, event_registry())
    assert evaluate(criteria, {"type": "page_view", "properties": properties}, MOMENT) is truth


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("properties.a.b = 1", "only top-level properties"),
        ("properties.day = 2026-01-01", "is an event property: compare it with text"),
        ('properties.v = 1 or properties.v = "a"', "use one type"),
        ("amount = 3", "unknown field 'amount'"),
    ],
)
def test_bad_property_expressions(text: str, message: str) -> None:
    with pytest.raises(CriteriaError) as error:
        compile_criteria(text, event_registry())
    assert message in error.value.reason


def test_aggregates_count_and_last_over_the_contacts_events() -> None:
    facts = {
        "fit": 10,
        "interest": 12.5,
        "events": [
            page("/pricing", timedelta(days=2)),
            page("/pricing", timedelta(days=40)),
            page("/about", timedelta(hours=1)),
            page("/x", timedelta(days=3), type_="callback_requested"),
        ],
    }
    cases = {
        'count(page_view where properties.path = "/pricing") >= 2': True,
        'count(page_view where properties.path = "/pricing" within 30d) >= 2': False,
        "count(callback_requested) >= 1": True,
        "count(purchase) = 0": True,
        "last(callback_requested) within 7d": True,
        "last(page_view) within 30m": False,
        "last(purchase) is null": True,
        "interest >= 12 and fit >= 10": True,
        "fit >= 10 and interest >= 40 or count(callback_requested) >= 1": True,
    }
    for text, truth in cases.items():
        criteria = compile_criteria(text, WORKSPACE)
        assert evaluate(criteria, facts, MOMENT) is truth, text


def test_interest_of_a_contact_never_scored_reads_as_zero() -> None:
    criteria = compile_criteria("interest = 0", WORKSPACE)
    assert evaluate(criteria, {}, MOMENT) is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sum(page_view) > 1", "unknown aggregate sum(…); use count(…) or last(…)"),
        ("count(page_view) within 7d", "'within' needs a date or time field"),
        ('last(page_view) = "x"', "compare it with a date"),
        ("count(page_view where nope = 1) > 0", "unknown field 'nope'"),
        ("count(page_view where count(x) > 1) > 0", "not available here"),
    ],
)
def test_bad_aggregates(text: str, message: str) -> None:
    with pytest.raises(CriteriaError) as error:
        compile_criteria(text, WORKSPACE)
    assert message in error.value.reason


def test_aggregates_are_refused_where_no_events_are_known() -> None:
    with pytest.raises(CriteriaError) as error:
        compile_criteria("count(page_view) > 1", contact_registry({}))
    assert "not available here" in error.value.reason


def test_misspelt_standard_event_types_get_a_suggestion() -> None:
    problem = event_type_problem("email_click")
    assert problem is not None
    assert "did you mean 'email_clicked'" in problem
    assert event_type_problem("email_clicked") is None
    assert event_type_problem("webinar_attended") is None  # a custom type
