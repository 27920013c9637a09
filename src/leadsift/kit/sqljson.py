"""SQL functions written differently on SQLite and PostgreSQL, declared once each.

JSON built inside SQL (json_array/json_object on SQLite, jsonb_* on PostgreSQL), text search
and ordering, 64-bit casts: each is a small SQLAlchemy construct with one template per dialect.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer, TypeEngine

from leadsift.kit.orm import JsonType


def portable_function(
    name: str, *, sqlite: str, postgresql: str, type_: TypeEngine[Any] | None = None
) -> type[FunctionElement[Any]]:
    """A function construct rendered from a template per dialect (`{}` is the arguments)."""

    def __init__(self: FunctionElement[Any], *clauses: Any) -> None:
        FunctionElement.__init__(self, *clauses)
        if type_ is None and clauses:  # the type of its (first) argument, for bind processing
            self.type = getattr(clauses[0], "type", self.type)

    construct: type[FunctionElement[Any]] = type(
        name,
        (FunctionElement,),
        {"name": name, "inherit_cache": True, "__init__": __init__, "type": type_},
    )
    for dialect, template in (("sqlite", sqlite), ("postgresql", postgresql)):

        def render(element: Any, compiler: SQLCompiler, template: str = template, **kw: Any) -> str:
            return template.format(compiler.process(element.clauses, **kw))

        compiles(construct, dialect)(render)
    return construct


json_list = portable_function(
    "json_list", sqlite="json_array({})", postgresql="jsonb_build_array({})", type_=JsonType
)
json_record = portable_function(
    "json_record", sqlite="json_object({})", postgresql="jsonb_build_object({})", type_=JsonType
)
# A JSON column's value used inside a JSON builder (SQLite stores JSON as text).
stored_json = portable_function("stored_json", sqlite="json({})", postgresql="{}", type_=JsonType)
# A text as a 64-bit integer (SQLite's INTEGER is 64-bit; PostgreSQL needs BIGINT).
bigint_of = portable_function(
    "bigint_of", sqlite="CAST({} AS INTEGER)", postgresql="CAST({} AS BIGINT)", type_=BigInteger()
)
# 1-based position of a text in another, 0 when absent.
position_of = portable_function(
    "position_of", sqlite="instr({})", postgresql="strpos({})", type_=Integer()
)
# A text compared by code points, as Python does (SQLite's default; `C` on PostgreSQL).
code_point_order = portable_function("code_point_order", sqlite="{}", postgresql='({}) COLLATE "C"')


class _JsonValueAt(FunctionElement[Any]):
    """A top-level key of a JSON column read as one type (one subclass per type, so statement
    caching tells them apart)."""

    inherit_cache = True
    value_type = "any"

    def __init__(self, column: Any, key: str) -> None:
        super().__init__(column, literal(key, String()))
        self.type = _JSON_VALUE_TYPES[self.value_type]


_JSON_VALUE_TYPES: dict[str, TypeEngine[Any]] = {
    "text": String(),
    "number": Float(),
    "boolean": Boolean(),
    "any": String(),
}
_JSON_VALUE_CLASSES: dict[str, type[_JsonValueAt]] = {
    name: type(f"json_{name}_at", (_JsonValueAt,), {"inherit_cache": True, "value_type": name})
    for name in _JSON_VALUE_TYPES
}


def json_value_at(column: Any, key: str, value_type: str) -> _JsonValueAt:
    """A top-level key of a JSON column read as TYPE; NULL when missing or of another type.

    TYPE is `text`, `number`, `boolean`, or `any` (the JSON type's name, NULL for JSON null or a
    missing key: enough for `is null`). The key is always a bound parameter.
    """
    return _JSON_VALUE_CLASSES[value_type](column, key)


_SQLITE_JSON_AT = {
    "text": "CASE WHEN json_type({c}, {p}) = 'text' THEN json_extract({c}, {p}) END",
    "number": "CASE WHEN json_type({c}, {p}) IN ('integer', 'real') "
    "THEN CAST(json_extract({c}, {p}) AS REAL) END",
    "boolean": "CASE json_type({c}, {p}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END",
    "any": "NULLIF(json_type({c}, {p}), 'null')",
}
_POSTGRESQL_JSON_AT = {
    "text": "CASE WHEN jsonb_typeof({c} -> {p}) = 'string' THEN {c} ->> {p} END",
    "number": "CASE WHEN jsonb_typeof({c} -> {p}) = 'number' THEN CAST({c} ->> {p} AS DOUBLE "
    "PRECISION) END",
    "boolean": "CASE WHEN jsonb_typeof({c} -> {p}) = 'boolean' THEN CAST({c} ->> {p} AS BOOLEAN) "
    "END",
    "any": "NULLIF(jsonb_typeof({c} -> {p}), 'null')",
}


@compiles(_JsonValueAt, "sqlite")
def _json_value_at_sqlite(element: _JsonValueAt, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = list(element.clauses)
    path = literal('$."' + str(key.value) + '"', String())
    return _SQLITE_JSON_AT[element.value_type].format(
        c=compiler.process(column, **kw), p=compiler.process(path, **kw)
    )


@compiles(_JsonValueAt, "postgresql")
def _json_value_at_postgresql(element: _JsonValueAt, compiler: SQLCompiler, **kw: Any) -> str:
    column, key = list(element.clauses)
    return _POSTGRESQL_JSON_AT[element.value_type].format(
        c=compiler.process(column, **kw), p=compiler.process(key, **kw)
    )


# Seconds since 1970 of a timestamp column, as a double (for decay arithmetic).
epoch_seconds = portable_function(
    "epoch_seconds",
    sqlite="((julianday({}) - 2440587.5) * 86400.0)",
    postgresql="date_part('epoch', {})",
    type_=Float(),
)
# The UTC calendar day of a timestamp column, as 'YYYY-MM-DD' text (SQLite stores UTC text).
utc_day = portable_function(
    "utc_day",
    sqlite="substr({}, 1, 10)",
    postgresql="to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    type_=String(),
)
# The Monday (UTC) of a timestamp's week and its month, as text: cohorts of entry.
utc_week = portable_function(
    "utc_week",
    sqlite="date(substr({}, 1, 10), 'weekday 0', '-6 days')",
    postgresql="to_char(date_trunc('week', ({}) AT TIME ZONE 'UTC'), 'YYYY-MM-DD')",
    type_=String(),
)
utc_month = portable_function(
    "utc_month",
    sqlite="substr({}, 1, 7)",
    postgresql="to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM')",
    type_=String(),
)
# Whole hours in a number of seconds (rounded down), as an integer: bins of a duration histogram.
hours_of = portable_function(
    "hours_of",
    sqlite="CAST(({}) / 3600.0 AS INTEGER)",
    postgresql="CAST(floor(({}) / 3600.0) AS BIGINT)",
    type_=BigInteger(),
)
