"""JSON built inside SQL, the same on SQLite (json_array/json_object) and PostgreSQL (jsonb_*)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from leadsift.kit.orm import JsonType


class json_list(FunctionElement[Any]):
    """A JSON array of the given SQL values (SQL NULL becomes JSON null)."""

    type = JsonType
    inherit_cache = True
    name = "json_list"


@compiles(json_list, "sqlite")
def _list_sqlite(element: json_list, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_array({compiler.process(element.clauses, **kw)})"


@compiles(json_list, "postgresql")
def _list_postgresql(element: json_list, compiler: SQLCompiler, **kw: Any) -> str:
    return f"jsonb_build_array({compiler.process(element.clauses, **kw)})"


class json_record(FunctionElement[Any]):
    """A JSON object from alternating key, value arguments; JSON values stay JSON."""

    type = JsonType
    inherit_cache = True
    name = "json_record"


@compiles(json_record, "sqlite")
def _record_sqlite(element: json_record, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_object({compiler.process(element.clauses, **kw)})"


@compiles(json_record, "postgresql")
def _record_postgresql(element: json_record, compiler: SQLCompiler, **kw: Any) -> str:
    return f"jsonb_build_object({compiler.process(element.clauses, **kw)})"


class stored_json(FunctionElement[Any]):
    """A JSON column's value used inside a JSON builder (SQLite stores JSON as text)."""

    type = JsonType
    inherit_cache = True
    name = "stored_json"


@compiles(stored_json, "sqlite")
def _stored_sqlite(element: stored_json, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json({compiler.process(element.clauses, **kw)})"


@compiles(stored_json, "postgresql")
def _stored_postgresql(element: stored_json, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


class bigint_of(FunctionElement[int]):
    """A text as a 64-bit integer (SQLite's INTEGER is 64-bit; PostgreSQL needs BIGINT)."""

    type = BigInteger()
    inherit_cache = True
    name = "bigint_of"


@compiles(bigint_of, "sqlite")
def _bigint_sqlite(element: bigint_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


@compiles(bigint_of, "postgresql")
def _bigint_postgresql(element: bigint_of, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS BIGINT)"
