"""SQL functions written differently on SQLite and PostgreSQL, declared once each.

JSON built inside SQL (json_array/json_object on SQLite, jsonb_* on PostgreSQL), text search
and ordering, 64-bit casts: each is a small SQLAlchemy construct with one template per dialect.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger
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
