"""Interest decay, caps and breakdowns, checked against the half-life formula by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadsift.engagement.criteria_fields import event_registry
from leadsift.interest.decay import (
    InterestModel,
    breakdown,
    clamp,
    compile_interest,
    decay,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def model(rules: list[dict[str, Any]], half_life: str = "14d") -> InterestModel:
    compiled = compile_interest({"half_life": half_life, "rules": rules}, event_registry())
    assert compiled is not None
    return compiled


def event(event_id: int, type_: str, age: timedelta, **properties: Any) -> dict[str, Any]:
    return {"id": event_id, "type": type_, "occurred_at": NOW - age, "properties": properties}


def test_decay_halves_every_half_life() -> None:
    half_life = timedelta(days=14)
    assert decay(timedelta(0), half_life) == 1.0
    assert decay(half_life, half_life) == pytest.approx(0.5, rel=1e-12)
    assert decay(3 * half_life, half_life) == pytest.approx(0.125, rel=1e-12)
    assert decay(7 * DAY, half_life) == pytest.approx(2**-0.5, rel=1e-12)


def test_an_event_after_the_scoring_moment_counts_in_full_never_more() -> None:
    assert decay(-timedelta(minutes=3), timedelta(days=14)) == 1.0


def test_clamp_limits_a_rule_both_ways() -> None:
    assert clamp(31.5, 25) == 25.0
    assert clamp(12.0, 25) == 12.0
    assert clamp(-80.0, 50) == -50.0
    assert clamp(-80.0, None) == -80.0


def test_a_known_sequence_equals_the_formula_by_hand() -> None:
    rules = [
        {
            "event": "page_view",
            "where": 'properties.path startswith "/menu"',
            "points": 5,
            "cap": 25,
        },
        {"event": "email_clicked", "points": 10},
        {"event": "form_submitted", "points": 40},
        {"event": "email_unsubscribed", "points": -50},
    ]
    events = [
        event(1, "page_view", 0 * DAY, path="/menu/pizza"),
        event(2, "page_view", 14 * DAY, path="/menu"),
        event(3, "page_view", 1 * DAY, path="/about"),  # no rule matches
        event(4, "email_clicked", 28 * DAY),
        event(5, "form_submitted", 7 * DAY),
    ]
    result = breakdown(model(rules), events, NOW)
    # 5·1 + 5·½  +  10·¼  +  40·2^(−½)
    expected = 5 + 2.5 + 2.5 + 40 * 2**-0.5
    assert result.total == pytest.approx(expected, rel=1e-12)
    by_rule = {rule.rule: rule for rule in result.rules}
    assert by_rule['page_view where properties.path startswith "/menu"'].matched == 2
    assert by_rule["email_unsubscribed"].matched == 0


def test_a_cap_limits_the_decayed_total_of_its_rule() -> None:
    rules = [{"event": "page_view", "points": 10, "cap": 25}]
    events = [event(i, "page_view", timedelta(hours=i)) for i in range(1, 6)]
    result = breakdown(model(rules), events, NOW)
    assert result.total == 25.0
    assert result.rules[0].capped
    assert result.rules[0].total > 25


def test_negative_points_take_interest_away() -> None:
    rules = [
        {"event": "form_submitted", "points": 40},
        {"event": "email_unsubscribed", "points": -50, "cap": 30},
    ]
    events = [event(1, "form_submitted", 0 * DAY), event(2, "email_unsubscribed", 0 * DAY)]
    assert breakdown(model(rules), events, NOW).total == pytest.approx(10.0)


def test_every_matching_rule_counts_an_event() -> None:
    rules = [
        {"event": "page_view", "points": 1},
        {"event": "page_view", "where": 'properties.path = "/pricing"', "points": 10},
    ]
    events = [event(1, "page_view", 0 * DAY, path="/pricing")]
    assert breakdown(model(rules), events, NOW).total == pytest.approx(11.0)


def test_property_types_decide_matches() -> None:
    rules = [{"event": "purchase", "where": "properties.amount >= 100", "points": 50}]
    events = [
        event(1, "purchase", 0 * DAY, amount=150),
        event(2, "purchase", 0 * DAY, amount="150"),  # text, not a number: unknown, no match
        event(3, "purchase", 0 * DAY),
    ]
    assert breakdown(model(rules), events, NOW).total == pytest.approx(50.0)


def test_breakdown_lists_the_largest_contributions_first() -> None:
    rules = [{"event": "page_view", "points": 4}]
    events = [event(1, "page_view", 20 * DAY), event(2, "page_view", 1 * DAY)]
    document = breakdown(model(rules), events, NOW).as_json()
    contributions = document["rules"][0]["contributions"]
    assert [c["event_id"] for c in contributions] == [2, 1]
    assert contributions[0]["decayed"] > contributions[1]["decayed"]
    assert document["half_life"] == "2w"


def test_no_interest_section_means_no_model() -> None:
    assert compile_interest(None, event_registry()) is None
