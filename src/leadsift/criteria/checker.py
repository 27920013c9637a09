"""Resolving field names and checking types before anything runs; pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any

from leadsift.criteria.ast import (
    Aggregate,
    Between,
    Compare,
    Expr,
    InList,
    IsNull,
    Literal_,
    Predicate,
    Subject,
    TextMatch,
    Within,
    predicates,
    subject_text,
    to_text,
)
from leadsift.criteria.errors import CriteriaError
from leadsift.criteria.fields import AGGREGATE_TYPES, FieldRegistry, FieldSpec, ValueType
from leadsift.criteria.grammar import parse
from leadsift.kit.durations import format_duration

_INT64_MAX = 2**63 - 1
_ORDERED = frozenset({"text", "integer", "number", "date", "datetime"})
_KIND_OF_VALUE = {
    "text": "text",
    "integer": "a number",
    "number": "a number",
    "boolean": "true or false",
    "date": "a date (YYYY-MM-DD)",
    "datetime": "a date (YYYY-MM-DD)",
    "any": "a value",
}


@dataclass(frozen=True)
class CheckedAggregate:
    """An aggregate over a contact's events, its `where` checked against the event fields."""

    function: str
    event: str
    where: Criteria | None
    within: timedelta | None
    spec: FieldSpec


@dataclass(frozen=True)
class Criteria:
    """A checked expression: every field resolved, every literal of the right type."""

    expr: Expr
    fields: Mapping[str, FieldSpec]
    aggregates: Mapping[str, CheckedAggregate] = field(default_factory=dict)

    @cached_property
    def text(self) -> str:
        """The canonical text form."""
        return to_text(self.expr)

    def spec(self, name: str) -> FieldSpec:
        """The field a name in this expression resolved to."""
        return self.fields[name]

    def subject_spec(self, subject: Subject) -> FieldSpec:
        """The field, or the aggregate's value, a predicate reads."""
        if isinstance(subject, Aggregate):
            return self.aggregates[subject_text(subject)].spec
        return self.fields[subject.name]

    def aggregate(self, subject: Aggregate) -> CheckedAggregate:
        """The checked form of an aggregate of this expression."""
        return self.aggregates[subject_text(subject)]

    def field_names(self) -> list[str]:
        """The distinct fields used, by their registry name, in order of first use."""
        seen: dict[str, None] = {}
        for spec in self.fields.values():
            seen.setdefault(spec.name, None)
        return list(seen)


def compile_criteria(text: str, registry: FieldRegistry) -> Criteria:
    """Parse and check the text form of an expression against the known fields."""
    return check(parse(text), registry)


def check(expr: Expr, registry: FieldRegistry) -> Criteria:
    """Resolve every field and check every comparison; errors point at the token."""
    fields: dict[str, FieldSpec] = {}
    aggregates: dict[str, CheckedAggregate] = {}
    for predicate in predicates(expr):
        subject = predicate.subject
        if isinstance(subject, Aggregate):
            checked = _check_aggregate(subject, registry)
            aggregates[checked.spec.key] = checked
            _check_predicate(predicate, checked.spec)
            continue
        spec = registry.resolve(subject)
        if spec.value_type == "any":
            spec = _typed_by_literal(predicate, spec, fields.get(subject.name))
        fields[subject.name] = spec
        _check_predicate(predicate, spec)
    return Criteria(expr, fields, aggregates)


def _check_aggregate(subject: Aggregate, registry: FieldRegistry) -> CheckedAggregate:
    if registry.events is None:
        raise CriteriaError(
            f"event aggregates such as {subject.function}(…) are not available here",
            subject.at,
            subject.function,
        )
    value_type = AGGREGATE_TYPES.get(subject.function)
    if value_type is None:
        known = " or ".join(f"{name}(…)" for name in AGGREGATE_TYPES)
        raise CriteriaError(
            f"unknown aggregate {subject.function}(…); use {known}", subject.at, subject.function
        )
    where = check(subject.where, registry.events) if subject.where is not None else None
    key = subject_text(subject)
    spec = FieldSpec(key, value_type, "aggregate", key)
    return CheckedAggregate(subject.function, subject.event, where, subject.within, spec)


_LITERAL_TYPES: tuple[tuple[type, ValueType], ...] = (
    (bool, "boolean"),
    (int, "number"),
    (float, "number"),
    (str, "text"),
)


def _typed_by_literal(predicate: Predicate, spec: FieldSpec, seen: FieldSpec | None) -> FieldSpec:
    """A free-form property takes the type of the literal it is compared with."""
    literals = _literals(predicate)
    value_type: ValueType = "any"
    for literal in literals[:1]:
        found = next((t for kind, t in _LITERAL_TYPES if isinstance(literal.value, kind)), None)
        if found is None:
            raise _type_error(
                spec,
                literal,
                f"'{spec.name}' is an event property: compare it with text, a number or "
                f"true/false, not {_shown(literal.value)}",
            )
        value_type = found
    typed = FieldSpec(spec.name, value_type, spec.kind, spec.key)
    if seen is not None and value_type != "any" and seen.value_type not in ("any", value_type):
        raise _type_error(
            spec,
            literals[0],
            f"'{spec.name}' is compared with {_KIND_OF_VALUE[seen.value_type]} elsewhere in "
            f"this expression: use one type",
        )
    return seen if value_type == "any" and seen is not None else typed


def _literals(predicate: Predicate) -> list[Literal_]:
    if isinstance(predicate, Compare | TextMatch):
        return [predicate.value]
    if isinstance(predicate, Between):
        return [predicate.low, predicate.high]
    if isinstance(predicate, InList):
        return list(predicate.values)
    return []


def _type_error(spec: FieldSpec, literal: Literal_, why: str = "") -> CriteriaError:
    shown = _shown(literal.value)
    reason = why or (
        f"'{spec.name}' is {_a(spec.value_type)} field: compare it with "
        f"{_KIND_OF_VALUE[spec.value_type]}, not {shown}"
    )
    return CriteriaError(reason, literal.at, shown)


def _shown(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


def _matches(value_type: ValueType, value: object) -> bool:
    if isinstance(value, bool):
        return value_type == "boolean"
    if isinstance(value, int | float):
        return value_type in ("integer", "number")
    if isinstance(value, str):
        return value_type == "text"
    if isinstance(value, timedelta):
        return False
    return isinstance(value, date) and value_type in ("date", "datetime")


def _check_literal(spec: FieldSpec, literal: Literal_) -> None:
    if spec.value_type == "any":
        return  # `properties.x is null`: no literal to type
    if isinstance(literal.value, timedelta):
        raise _type_error(spec, literal, "a duration only goes with 'within' (e.g. within 30d)")
    if not _matches(spec.value_type, literal.value):
        raise _type_error(spec, literal)
    value = literal.value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _INT64_MAX:
        raise _type_error(spec, literal, f"{value} is too large a number (at most {_INT64_MAX})")
    if spec.choices and literal.value not in spec.choices:
        allowed = ", ".join(spec.choices)
        raise _type_error(
            spec, literal, f"'{spec.name}' is one of {allowed}; not {literal.value!r}"
        )


def _check_compare(predicate: Compare, spec: FieldSpec) -> None:
    _check_literal(spec, predicate.value)
    if predicate.op not in ("=", "!=") and not _ordered(spec):
        raise _type_error(spec, predicate.value, _no_order(spec, predicate.op))


def _check_between(predicate: Between, spec: FieldSpec) -> None:
    for bound in (predicate.low, predicate.high):
        _check_literal(spec, bound)
    if not _ordered(spec):
        raise _type_error(spec, predicate.low, _no_order(spec, "between"))


def _check_in(predicate: InList, spec: FieldSpec) -> None:
    for value in predicate.values:
        _check_literal(spec, value)


def _check_text_match(predicate: TextMatch, spec: FieldSpec) -> None:
    if spec.value_type != "text" or spec.choices:
        raise _type_error(spec, predicate.value, f"'{predicate.op}' needs a text field")
    _check_literal(spec, predicate.value)


def _check_within(predicate: Within, spec: FieldSpec) -> None:
    if spec.value_type not in ("date", "datetime"):
        raise _type_error(spec, predicate.duration, "'within' needs a date or time field")


def _check_is_null(predicate: IsNull, spec: FieldSpec) -> None:
    """Any field may be unknown."""


_CHECKS: dict[type, Callable[[Any, FieldSpec], None]] = {
    Compare: _check_compare,
    Between: _check_between,
    InList: _check_in,
    TextMatch: _check_text_match,
    Within: _check_within,
    IsNull: _check_is_null,
}


def _check_predicate(predicate: Predicate, spec: FieldSpec) -> None:
    _CHECKS[type(predicate)](predicate, spec)


def _ordered(spec: FieldSpec) -> bool:
    return spec.value_type in _ORDERED and not spec.choices


def _no_order(spec: FieldSpec, op: str) -> str:
    return f"'{spec.name}' is {_a(spec.value_type)} field: '{op}' does not apply, use = or !="


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"
