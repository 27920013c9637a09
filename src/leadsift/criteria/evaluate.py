"""The Python back end: evaluate a checked expression on one contact, with SQL's three-valued
logic (a comparison on an unknown value is unknown, not false); pure."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from leadsift.criteria.ast import (
    Aggregate,
    And,
    Between,
    Compare,
    Expr,
    Field,
    InList,
    IsNull,
    Not,
    Or,
    Predicate,
    TextMatch,
    Within,
)
from leadsift.criteria.checker import CheckedAggregate, Criteria
from leadsift.criteria.fields import FieldSpec

Truth = bool | None
# A contact as plain values: its columns by name, `attrs` (dict), `consent` (channel -> bool),
# scores by name, and `events` (a list of event facts: `type`, `occurred_at`, `properties`, …)
# when an expression aggregates events. An event's facts are read the same way.
Facts = Mapping[str, Any]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Moment:
    """The instant an evaluation runs at: `age` and `within` depend on it."""

    now: datetime

    @property
    def today(self) -> date:
        """The UTC date of the moment."""
        return self.now.astimezone(UTC).date()


def age_on(birth_date: date, today: date) -> int:
    """Age in whole years on a given day."""
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - int(before_birthday)


def field_value(spec: FieldSpec, facts: Facts, moment: Moment) -> Any:
    """The value of a field for one contact, as the SQL back end sees it; None when unknown."""
    if spec.kind == "column":
        return facts.get(spec.key)
    if spec.kind == "age":
        return _age(facts, moment)
    return _READERS[spec.kind](spec, facts)


def _age(facts: Facts, moment: Moment) -> int | None:
    birth_date = facts.get("birth_date")
    if birth_date is not None:
        return age_on(birth_date, moment.today)
    age = facts.get("age")
    return int(age) if age is not None else None


def _score(spec: FieldSpec, facts: Facts) -> float:
    value = facts.get(spec.key)
    return 0.0 if value is None else float(value)  # never scored reads as zero, as in SQL


_READERS: dict[str, Callable[[FieldSpec, Facts], Any]] = {
    "attribute": lambda spec, facts: _attribute_value(
        spec, (facts.get("attrs") or {}).get(spec.key)
    ),
    "consent": lambda spec, facts: (facts.get("consent") or {}).get(spec.key),
    "score": _score,
    "prediction": lambda spec, facts: facts.get(spec.key),
    "property": lambda spec, facts: property_value(
        spec, (facts.get("properties") or {}).get(spec.key)
    ),
}


def _attribute_value(spec: FieldSpec, value: Any) -> Any:
    if spec.value_type == "date" and isinstance(value, str):
        return _iso_date(value)
    if spec.value_type == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # `number` attributes are doubles, in SQL too
    return value


def property_value(spec: FieldSpec, value: Any) -> Any:
    """An event property as the type it is compared with; a value of another type is unknown."""
    if spec.value_type == "text":
        return value if isinstance(value, str) else None
    if spec.value_type == "boolean":
        return value if isinstance(value, bool) else None
    if spec.value_type == "number":
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if is_number else None
    return value


def aggregate_value(aggregate: CheckedAggregate, facts: Facts, moment: Moment) -> Any:
    """`count(…)` or `last(…)` over the contact's events (`facts["events"]`)."""
    events = facts.get("events")
    if events is None:
        raise ValueError("evaluating an event aggregate needs the contact's events")
    cutoff = moment.now - aggregate.within if aggregate.within is not None else None
    matching = [
        event
        for event in events
        if event["type"] == aggregate.event
        and (cutoff is None or event["occurred_at"] >= cutoff)
        and (aggregate.where is None or evaluate(aggregate.where, event, moment) is True)
    ]
    if aggregate.function == "count":
        return len(matching)
    return max((event["occurred_at"] for event in matching), default=None)


def _iso_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _literal(spec: FieldSpec, value: Any) -> Any:
    """Date literals compared with a timestamp mean midnight UTC of that day."""
    if spec.value_type == "datetime" and isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def within_cutoff(spec: FieldSpec, duration: timedelta, moment: Moment) -> date | datetime:
    """The oldest date or time `within DURATION` accepts (the SQL back end binds the same)."""
    cutoff = moment.now - duration
    return cutoff.date() if spec.value_type == "date" else cutoff


def evaluate_predicate(predicate: Predicate, spec: FieldSpec, value: Any, moment: Moment) -> Truth:
    """The truth of one leaf predicate given the field's value."""
    if isinstance(predicate, IsNull):
        return (value is not None) if predicate.negated else (value is None)
    if value is None:
        return None
    if isinstance(predicate, Compare):
        return _COMPARE[predicate.op](value, _literal(spec, predicate.value.value))
    if isinstance(predicate, Between):
        low, high = _literal(spec, predicate.low.value), _literal(spec, predicate.high.value)
        return bool(low <= value <= high)
    return _known_value_truth(predicate, spec, value, moment)


def _known_value_truth(predicate: Predicate, spec: FieldSpec, value: Any, moment: Moment) -> bool:
    if isinstance(predicate, InList):
        found = any(value == _literal(spec, v.value) for v in predicate.values)
        return not found if predicate.negated else found
    if isinstance(predicate, TextMatch):
        needle = predicate.value.value
        assert isinstance(needle, str)  # noqa: S101 — guaranteed by the checker
        return value.startswith(needle) if predicate.op == "startswith" else needle in value
    if isinstance(predicate, Within):
        duration = predicate.duration.value
        assert isinstance(duration, timedelta)  # noqa: S101 — guaranteed by the checker
        return bool(value >= within_cutoff(spec, duration, moment))
    raise TypeError(predicate)  # pragma: no cover


def _and(values: list[Truth]) -> Truth:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _or(values: list[Truth]) -> Truth:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def evaluate_expr(expr: Expr, criteria: Criteria, facts: Facts, moment: Moment) -> Truth:
    """The truth of an expression for one contact: True, False or None (unknown)."""
    if isinstance(expr, And):
        return _and([evaluate_expr(item, criteria, facts, moment) for item in expr.items])
    if isinstance(expr, Or):
        return _or([evaluate_expr(item, criteria, facts, moment) for item in expr.items])
    if isinstance(expr, Not):
        inner = evaluate_expr(expr.item, criteria, facts, moment)
        return None if inner is None else not inner
    if isinstance(expr.subject, Aggregate):
        aggregate = criteria.aggregate(expr.subject)
        value = aggregate_value(aggregate, facts, moment)
        return evaluate_predicate(expr, aggregate.spec, value, moment)
    assert isinstance(expr.subject, Field)  # noqa: S101
    spec = criteria.spec(expr.subject.name)
    return evaluate_predicate(expr, spec, field_value(spec, facts, moment), moment)


def evaluate(criteria: Criteria, facts: Facts, moment: Moment) -> Truth:
    """Whether one contact meets the criteria: True, False, or None when a value is unknown."""
    return evaluate_expr(criteria.expr, criteria, facts, moment)
