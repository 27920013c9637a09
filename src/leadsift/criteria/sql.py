"""The SQL back end: a checked expression as one SQLAlchemy Core condition, the same on SQLite
and PostgreSQL; every value is a bound parameter."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    and_,
    case,
    false,
    func,
    literal,
    not_,
    or_,
    true,
    type_coerce,
)
from sqlalchemy.sql.elements import ColumnElement

from leadsift.criteria.ages import YearRange, age_ranges, years_ago
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
from leadsift.criteria.evaluate import Moment, within_cutoff
from leadsift.criteria.fields import FieldSpec
from leadsift.kit.sqljson import code_point_order, position_of

Condition = ColumnElement[bool]


class SqlFields(Protocol):
    """How the fields of a registry are read in SQL; implemented by the owning repository."""

    def value(self, spec: FieldSpec) -> ColumnElement[Any]:
        """The SQL value of a column, attribute or consent field."""

    def birth_date(self) -> ColumnElement[Any]:
        """The birth date column."""

    def imported_age(self) -> ColumnElement[Any]:
        """The age as imported, used when the birth date is unknown."""

    def aggregate(self, aggregate: CheckedAggregate, moment: Moment) -> ColumnElement[Any]:
        """The value of `count(…)` or `last(…)` over the row's events."""


def _bindable(spec: FieldSpec, value: Any) -> Any:
    """Literals as the stored values are: dates of attributes are ISO text in JSON, numbers
    are 64-bit integers for integer fields and doubles otherwise (typed, so PostgreSQL never
    guesses a 32-bit integer)."""
    if (
        spec.value_type == "datetime"
        and isinstance(value, date)
        and not isinstance(value, datetime)
    ):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if spec.kind == "attribute" and isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, int) and spec.value_type == "integer":
        return literal(value, BigInteger())
    return literal(float(value), Float())


class _Compiler:
    """Compiles one checked expression for one moment (age and `within` depend on today)."""

    def __init__(self, criteria: Criteria, fields: SqlFields, moment: Moment) -> None:
        self.criteria = criteria
        self.fields = fields
        self.moment = moment

    def expr(self, expr: Expr) -> Condition:
        if isinstance(expr, And):
            return and_(*(self.expr(item) for item in expr.items))
        if isinstance(expr, Or):
            return or_(*(self.expr(item) for item in expr.items))
        if isinstance(expr, Not):
            return not_(self.expr(expr.item))
        return self.predicate(expr)

    def predicate(self, predicate: Predicate) -> Condition:
        if isinstance(predicate.subject, Aggregate):
            aggregate = self.criteria.aggregate(predicate.subject)
            value = self.fields.aggregate(aggregate, self.moment)
            if isinstance(predicate, IsNull):
                return self._is_null(aggregate.spec, value, predicate.negated)
            return self._value_predicate(predicate, aggregate.spec, value)
        assert isinstance(predicate.subject, Field)  # noqa: S101
        spec = self.criteria.spec(predicate.subject.name)
        if spec.kind == "age" and not isinstance(predicate, IsNull):
            return self._age(predicate)
        column = self.fields.value(spec) if spec.kind != "age" else None
        if isinstance(predicate, IsNull):
            return self._is_null(spec, column, predicate.negated)
        assert column is not None  # noqa: S101
        return self._value_predicate(predicate, spec, column)

    def _is_null(self, spec: FieldSpec, column: Any, negated: bool) -> Condition:
        if spec.kind == "age":
            known = or_(
                self.fields.birth_date().is_not(None), self.fields.imported_age().is_not(None)
            )
            return known if negated else not_(known)
        result: Condition = column.is_not(None) if negated else column.is_(None)
        return result

    def _value_predicate(
        self, predicate: Predicate, spec: FieldSpec, column: ColumnElement[Any]
    ) -> Condition:
        if isinstance(predicate, Compare):
            value = _bindable(spec, predicate.value.value)
            target = column
            if spec.value_type == "text" and predicate.op not in ("=", "!="):
                target = code_point_order(column)
            return _OPERATORS[predicate.op](target, value)  # type: ignore[no-any-return]
        if isinstance(predicate, Between):
            low = _bindable(spec, predicate.low.value)
            high = _bindable(spec, predicate.high.value)
            target = code_point_order(column) if spec.value_type == "text" else column
            return and_(target >= low, target <= high)
        if isinstance(predicate, InList):
            values = [_bindable(spec, v.value) for v in predicate.values]
            return column.not_in(values) if predicate.negated else column.in_(values)
        if isinstance(predicate, TextMatch):
            needle = str(predicate.value.value)
            if predicate.op == "contains":
                return position_of(column, needle) > 0
            return func.substr(column, 1, len(needle)) == needle
        if isinstance(predicate, Within):
            duration = predicate.duration.value
            cutoff = within_cutoff(spec, duration, self.moment)  # type: ignore[arg-type]
            after: Condition = column >= _bindable(spec, cutoff)
            return after
        raise TypeError(predicate)  # pragma: no cover

    def _age(self, predicate: Predicate) -> Condition:
        """CASE: the birth date when known, else the imported age; unknown when neither is."""
        ranges = age_ranges(predicate)
        birth_date, age = self.fields.birth_date(), self.fields.imported_age()
        by_birth = or_(false(), *(self._birth_range(birth_date, r) for r in ranges))
        by_age = or_(false(), *(_age_range(age, r) for r in ranges))
        chosen = case(
            (birth_date.is_not(None), by_birth),
            (age.is_not(None), by_age),
            else_=None,
        )
        return type_coerce(chosen, Boolean())

    def _birth_range(self, birth_date: ColumnElement[Any], years: YearRange) -> Condition:
        today = self.moment.today
        parts: list[Condition] = []
        # Bounds outside the calendar (years 1–9999) hold for every date or for none.
        if years.low is not None:  # age >= low  <=>  born on or before `low` years ago
            latest = years_ago(today, years.low)
            if latest is not None:
                parts.append(birth_date <= latest)
            elif today.year - years.low < 1:
                return false()
        if years.high is not None:  # age <= high  <=>  born after `high + 1` years ago
            earliest = years_ago(today, years.high + 1)
            if earliest is not None:
                parts.append(birth_date > earliest)
            elif today.year - years.high - 1 > 9999:
                return false()
        return and_(true(), *parts)


def _age_range(age: ColumnElement[Any], years: YearRange) -> Condition:
    parts: list[Condition] = []
    if years.low is not None:
        parts.append(age >= years.low)
    if years.high is not None:
        parts.append(age <= years.high)
    return and_(true(), *parts)


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def to_sql(criteria: Criteria, fields: SqlFields, moment: Moment) -> Condition:
    """The condition selecting exactly the contacts the Python evaluator accepts (True only)."""
    return _Compiler(criteria, fields, moment).expr(criteria.expr)


def predicate_sql(
    criteria: Criteria, predicate: Predicate, fields: SqlFields, moment: Moment
) -> Condition:
    """One leaf predicate on its own, for explanations."""
    return _Compiler(criteria, fields, moment).predicate(predicate)
