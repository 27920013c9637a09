"""The typed syntax tree of a criteria expression, its JSON form and its canonical text; pure."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal, TypeAlias

from leadsift.errors import InvalidInputError
from leadsift.kit.durations import format_duration, parse_duration

CompareOp = Literal["=", "!=", "<", "<=", ">", ">="]
TextOp = Literal["contains", "startswith"]
COMPARE_OPS: tuple[CompareOp, ...] = ("=", "!=", "<", "<=", ">", ">=")
Value: TypeAlias = str | int | float | bool | date | timedelta


@dataclass(frozen=True)
class Position:
    """Where a token starts in the expression text (1-based)."""

    line: int
    column: int


@dataclass(frozen=True)
class Field:
    """A field name as written: `region`, `attrs.job`, `consent.email`, `age`."""

    name: str
    at: Position | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Aggregate:
    """An event aggregate such as `count(page_view where … within 30d)`."""

    function: str
    event: str
    where: Expr | None = None
    within: timedelta | None = None
    at: Position | None = field(default=None, compare=False)


Subject: TypeAlias = Field | Aggregate


@dataclass(frozen=True)
class Literal_:
    """A literal value with where it was written, for type errors."""

    value: Value
    at: Position | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Compare:
    """`subject op value`."""

    subject: Subject
    op: CompareOp
    value: Literal_


@dataclass(frozen=True)
class Between:
    """`subject between low and high`, bounds included."""

    subject: Subject
    low: Literal_
    high: Literal_


@dataclass(frozen=True)
class InList:
    """`subject in (…)`, or `not in` when negated."""

    subject: Subject
    values: tuple[Literal_, ...]
    negated: bool = False


@dataclass(frozen=True)
class TextMatch:
    """`subject contains "x"` or `subject startswith "x"` (case-sensitive)."""

    subject: Subject
    op: TextOp
    value: Literal_


@dataclass(frozen=True)
class IsNull:
    """`subject is null`, or `is not null` when negated."""

    subject: Subject
    negated: bool = False


@dataclass(frozen=True)
class Within:
    """`subject within 30d`: a date or time no older than the duration."""

    subject: Subject
    duration: Literal_


@dataclass(frozen=True)
class And:
    """All of the items."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    """Any of the items."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    """The negation of the item (unknown stays unknown)."""

    item: Expr


Predicate: TypeAlias = Compare | Between | InList | TextMatch | IsNull | Within
Expr: TypeAlias = Predicate | And | Or | Not
PREDICATE_TYPES = (Compare, Between, InList, TextMatch, IsNull, Within)


def predicates(expr: Expr) -> Iterator[Predicate]:
    """The leaf predicates of an expression, left to right."""
    if isinstance(expr, And | Or):
        for item in expr.items:
            yield from predicates(item)
    elif isinstance(expr, Not):
        yield from predicates(expr.item)
    else:
        yield expr


# ---- canonical text -------------------------------------------------------------------------

_PRECEDENCE = {Or: 1, And: 2, Not: 3}


def _value_text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


def subject_text(subject: Subject) -> str:
    """The canonical text of a field name or an aggregate (`count(page_view within 30d)`)."""
    if isinstance(subject, Field):
        return subject.name
    inner = subject.event
    if subject.where is not None:
        inner += f" where {to_text(subject.where)}"
    if subject.within is not None:
        inner += f" within {format_duration(subject.within)}"
    return f"{subject.function}({inner})"


def _predicate_text(expr: Predicate) -> str:
    subject = subject_text(expr.subject)
    if isinstance(expr, Compare):
        return f"{subject} {expr.op} {_value_text(expr.value.value)}"
    if isinstance(expr, Between):
        low, high = _value_text(expr.low.value), _value_text(expr.high.value)
        return f"{subject} between {low} and {high}"
    if isinstance(expr, InList):
        values = ", ".join(_value_text(v.value) for v in expr.values)
        return f"{subject} {'not in' if expr.negated else 'in'} ({values})"
    if isinstance(expr, TextMatch):
        return f"{subject} {expr.op} {_value_text(expr.value.value)}"
    if isinstance(expr, IsNull):
        return f"{subject} is {'not null' if expr.negated else 'null'}"
    return f"{subject} within {_value_text(expr.duration.value)}"


def to_text(expr: Expr, parent: int = 0) -> str:
    """The canonical text of an expression; parsing it gives the same tree back."""
    if isinstance(expr, Not):
        text = f"not {to_text(expr.item, _PRECEDENCE[Not])}"
        return f"({text})" if parent > _PRECEDENCE[Not] else text
    if isinstance(expr, And | Or):
        level = _PRECEDENCE[type(expr)]
        word = " and " if isinstance(expr, And) else " or "
        text = word.join(to_text(item, level) for item in expr.items)
        # A nested item of the same kind keeps its parentheses so the tree shape survives.
        return f"({text})" if parent >= level else text
    return _predicate_text(expr)


# ---- JSON form ------------------------------------------------------------------------------


def _value_json(value: Value) -> Any:
    if isinstance(value, timedelta):
        return {"duration": format_duration(value)}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    return value


def _subject_json(subject: Subject) -> dict[str, Any]:
    if isinstance(subject, Field):
        return {"field": subject.name}
    aggregate: dict[str, Any] = {"function": subject.function, "event": subject.event}
    if subject.where is not None:
        aggregate["where"] = to_json(subject.where)
    if subject.within is not None:
        aggregate["within"] = format_duration(subject.within)
    return {"aggregate": aggregate}


def _predicate_json(expr: Predicate) -> dict[str, Any]:
    out = _subject_json(expr.subject)
    if isinstance(expr, Compare | TextMatch):
        out.update(op=expr.op, value=_value_json(expr.value.value))
    elif isinstance(expr, Between):
        out.update(op="between", value=[_value_json(expr.low.value), _value_json(expr.high.value)])
    elif isinstance(expr, InList):
        values = [_value_json(v.value) for v in expr.values]
        out.update(op="not in" if expr.negated else "in", value=values)
    elif isinstance(expr, IsNull):
        out.update(op="is not null" if expr.negated else "is null")
    else:
        out.update(op="within", value=_value_json(expr.duration.value))
    return out


def to_json(expr: Expr) -> dict[str, Any]:
    """The JSON form used by the API and the segment builder."""
    if isinstance(expr, And):
        return {"and": [to_json(item) for item in expr.items]}
    if isinstance(expr, Or):
        return {"or": [to_json(item) for item in expr.items]}
    if isinstance(expr, Not):
        return {"not": to_json(expr.item)}
    return _predicate_json(expr)


class CriteriaJsonError(InvalidInputError):
    """A JSON criteria document does not have the expected shape."""

    code = "invalid_criteria"


_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


def _value_from_json(raw: Any, where: str) -> Literal_:
    if isinstance(raw, dict) and set(raw) == {"date"} and isinstance(raw["date"], str):
        if _DATE_TEXT.fullmatch(raw["date"]):
            try:
                return Literal_(date.fromisoformat(raw["date"]))
            except ValueError:
                pass
        raise CriteriaJsonError(f"{where}: {raw['date']!r} is not a date (YYYY-MM-DD)")
    if isinstance(raw, dict) and set(raw) == {"duration"} and isinstance(raw["duration"], str):
        duration = parse_duration(raw["duration"])
        if duration is None:
            raise CriteriaJsonError(f"{where}: {raw['duration']!r} is not a duration (e.g. 30d)")
        return Literal_(duration)
    if isinstance(raw, float) and not math.isfinite(raw):
        raise CriteriaJsonError(f"{where}: {raw!r} is not a usable number")
    if isinstance(raw, str | int | float | bool):
        return Literal_(raw)
    raise CriteriaJsonError(f"{where}: unsupported value {raw!r}")


def _subject_from_json(raw: dict[str, Any], where: str) -> Subject:
    if isinstance(raw.get("field"), str):
        return Field(raw["field"])
    aggregate = raw.get("aggregate")
    if isinstance(aggregate, dict) and isinstance(aggregate.get("event"), str):
        within = aggregate.get("within")
        duration = parse_duration(within) if isinstance(within, str) else None
        if within is not None and duration is None:
            raise CriteriaJsonError(f"{where}.aggregate.within: {within!r} is not a duration")
        sub = aggregate.get("where")
        return Aggregate(
            function=str(aggregate.get("function", "count")),
            event=aggregate["event"],
            where=from_json(sub, f"{where}.aggregate.where") if sub is not None else None,
            within=duration,
        )
    raise CriteriaJsonError(f"{where}: expected 'field' or 'aggregate'")


def _values(raw: Any, where: str, count: int | None = None) -> tuple[Literal_, ...]:
    if not isinstance(raw, list) or not raw or (count is not None and len(raw) != count):
        size = f"{count} values" if count else "a non-empty list"
        raise CriteriaJsonError(f"{where}.value: expected {size}")
    return tuple(_value_from_json(item, f"{where}.value[{i}]") for i, item in enumerate(raw))


def _predicate_from_json(raw: dict[str, Any], where: str) -> Expr:
    subject = _subject_from_json(raw, where)
    op = raw.get("op")
    if op in COMPARE_OPS:
        return Compare(subject, op, _value_from_json(raw.get("value"), f"{where}.value"))
    if op in ("contains", "startswith"):
        return TextMatch(subject, op, _value_from_json(raw.get("value"), f"{where}.value"))
    if op == "between":
        low, high = _values(raw.get("value"), where, 2)
        return Between(subject, low, high)
    if op in ("in", "not in"):
        return InList(subject, _values(raw.get("value"), where), negated=op == "not in")
    if op in ("is null", "is not null"):
        return IsNull(subject, negated=op == "is not null")
    if op == "within":
        return Within(subject, _value_from_json(raw.get("value"), f"{where}.value"))
    raise CriteriaJsonError(f"{where}.op: unknown operator {op!r}")


def from_json(raw: Any, where: str = "$") -> Expr:
    """Read the JSON form back into a tree; shape errors name the JSON path."""
    if not isinstance(raw, dict):
        raise CriteriaJsonError(f"{where}: expected an object")
    for word, kind in (("and", And), ("or", Or)):
        if word in raw:
            items = raw[word]
            if not isinstance(items, list) or not items:
                raise CriteriaJsonError(f"{where}.{word}: expected a non-empty list")
            return kind(
                tuple(from_json(item, f"{where}.{word}[{i}]") for i, item in enumerate(items))
            )
    if "not" in raw:
        return Not(from_json(raw["not"], f"{where}.not"))
    return _predicate_from_json(raw, where)
