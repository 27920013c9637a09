"""PostgreSQL's fast read of everyone's features: one `COPY (…) TO STDOUT (FORMAT binary)`.

The general query's expressions (the same casts, so the server's own values), each wrapped so
that every field of every row has one fixed width: numbers, booleans and datetimes as double
precision with NaN for NULL (as numpy reads a missing number anyway), each category text as
the model's code for it (its position among the model's kept values, else "other", else
"missing": what the model's encoding gives), the stage as its position among the lifecycle's
stages, the birth date as days. The rows are then records numpy reads in place: no Python
object per value (the text format's split and parse took 6 s of CPU at a million contacts,
twice the server's work), so reading costs about what the server takes to compute the rows.

None when something cannot be read back exactly as the general query gives it (a stage
outside the lifecycle, a birth date Python cannot hold, a category the model does not code):
the caller then runs that query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, cast

import numpy as np
from sqlalchemy import (
    Date,
    Double,
    Integer,
    Select,
    Text,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from leadsift.contacts.models import Contact
from leadsift.kit.bulk import driver_connection
from leadsift.qualification.stages import Stage
from leadsift.scoring.dataset import CategoryCodes, CodedTexts
from leadsift.scoring.features import FeatureSource

Columns = list[Any]  # arrays (numbers, ids), coded columns and lists, one per column
_STAGES = [stage.value for stage in Stage]
_NAN: ColumnElement[float] = sql_cast(literal("NaN"), Double())
# A NULL birth date is sent as -infinity (the general query could not read that value either).
_NO_DATE = -(2**31)
_EPOCH = date(2000, 1, 1)  # binary dates count days from it
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_FORMATS = {"id": ">i8", "code": ">i4", "days": ">i4", "number": ">f8"}
_TABLE = Contact.__tablename__
# Contacts are read in groups of this many ids, each group one row of arrays: a row per
# contact cost the client more than the server (Python's work per COPY message).
_GROUP = 4096


def postgres_columns(
    session: Session,
    profile: Sequence[FeatureSource],
    now_seconds: float,
    value_of: Callable[[FeatureSource], ColumnElement[Any]],
    categories: Mapping[str, Sequence[str]],
) -> Columns | None:
    """(ids, stages, birth dates, ages, one per PROFILE source) in id order, or None; a
    category source comes coded with CATEGORIES[its name] (the model's kept values)."""
    built = _query(profile, value_of, categories)
    if built is None:
        return None
    packed, kinds = built
    compiled = packed.compile(dialect=session.get_bind().dialect)
    params = {**compiled.params, "now_seconds": now_seconds}
    # One statement: one snapshot, as the general query's.
    statement = (
        f"COPY (SELECT s.* FROM generate_series((SELECT min(id) FROM {_TABLE}), "  # noqa: S608 — constant names and SQLAlchemy's SQL; every value is a parameter
        f"(SELECT max(id) FROM {_TABLE}), {_GROUP}) AS g(lo) CROSS JOIN LATERAL ({compiled}) "
        "AS s WHERE s.a0 IS NOT NULL) TO STDOUT WITH (FORMAT binary)"
    )
    data = bytearray()
    with driver_connection(session).cursor() as cursor, cursor.copy(statement, params) as copy:
        for chunk in copy:
            data += chunk
    arrays = _arrays(data, kinds)
    if arrays is None:
        return None
    return _columns(arrays, profile, categories)


def _query(
    profile: Sequence[FeatureSource],
    value_of: Callable[[FeatureSource], ColumnElement[Any]],
    categories: Mapping[str, Sequence[str]],
) -> tuple[Select[Any], list[str]] | None:
    """One group's arrays (of the contacts whose id is in [g.lo, g.lo + _GROUP)), and each
    array's kind; None when a category has no codes."""
    stages = bindparam("stages", _STAGES, type_=ARRAY(Text()))
    fields: list[Any] = [
        Contact.id,
        func.coalesce(func.array_position(stages, sql_cast(Contact.stage, Text())), 0),
        func.coalesce(Contact.birth_date, sql_cast(literal("-infinity"), Date())),
        _number(Contact.age),
    ]
    kinds = ["id", "code", "days", "number"]
    for index, source in enumerate(profile):
        if source.spec is None:
            continue  # age: from the birth date and the imported age above
        value = value_of(source)
        if source.kind == "category":
            kept = categories.get(source.name)
            # Duplicates would make the server's first position differ from the model's code.
            if kept is None or len(set(kept)) != len(kept):
                return None
            fields.append(_code(value, kept, f"categories_{index}"))
            kinds.append("code")
            continue
        if source.kind == "boolean":
            value = case((value.is_(True), 1.0), (value.is_(False), 0.0))
        fields.append(_number(value))
        kinds.append("number")
    low: ColumnElement[int] = literal_column("g.lo")
    rows = (
        select(*(field.label(f"c{i}") for i, field in enumerate(fields)))
        .where(Contact.id >= low, Contact.id < low + _GROUP)
        .order_by(Contact.id)
        .subquery("x")
    )
    arrays = [func.array_agg(column).label(f"a{i}") for i, column in enumerate(rows.c)]
    return cast(Select[Any], select(*arrays)), kinds


def _number(value: Any) -> ColumnElement[Any]:
    """A number as double precision, NaN when NULL (the general query's None, read by numpy)."""
    return func.coalesce(sql_cast(value, Double()), _NAN)


def _code(value: ColumnElement[Any], kept: Sequence[str], name: str) -> ColumnElement[Any]:
    """A text's code in the model's encoding: its 0-based position among KEPT, else
    len(KEPT) ("other"), or len(KEPT) + 1 when it is NULL ("missing")."""
    text = sql_cast(value, Text())
    position = func.array_position(bindparam(name, list(kept), type_=ARRAY(Text())), text)
    other = case((text.is_(None), len(kept) + 1), else_=len(kept))
    return sql_cast(func.coalesce(position - 1, other), Integer())


def _arrays(data: bytearray, kinds: Sequence[str]) -> list[np.ndarray] | None:
    """COPY's binary rows (one per group, one array per field) as one array per field, or
    None unless every array is one-dimensional, without NULLs, of fixed-width values."""
    if data[:11] != _SIGNATURE or data[-2:] != b"\xff\xff":
        return None
    view = memoryview(data)
    at: int | None = 19 + int.from_bytes(view[15:19], "big")  # after flags and extension
    elements = [np.dtype([("width", ">i4"), ("value", _FORMATS[kind])]) for kind in kinds]
    parts: list[list[np.ndarray]] = [[] for _ in kinds]
    while at is not None and at < len(data) - 2:
        at = _row(view, at, elements, parts)
    lengths = {sum(len(values) for values in part) for part in parts}
    if at is None or len(lengths) != 1:
        return None
    if not parts[0]:
        return [np.zeros(0, dtype=element["value"]) for element in elements]
    return [np.concatenate(part) for part in parts]


def _row(
    view: memoryview, at: int, elements: Sequence[np.dtype], parts: list[list[np.ndarray]]
) -> int | None:
    """Read one row's arrays at AT into PARTS; where the next row starts (None if unreadable)."""
    if int.from_bytes(view[at : at + 2], "big") != len(elements):
        return None
    at += 2
    for part, element in zip(parts, elements, strict=True):
        # A field: its length, then the array: dimensions, NULL flag, element type, size,
        # lower bound, then each element's length and value.
        ndim, nulls, _, count, _ = np.frombuffer(view, ">i4", 5, at + 4).tolist()
        if ndim != 1 or nulls:
            return None
        values = np.frombuffer(view, element, count, at + 24)
        if np.any(values["width"] != element["value"].itemsize):
            return None
        part.append(values["value"])
        at += 4 + int.from_bytes(view[at : at + 4], "big")
    return at


def _columns(
    arrays: list[np.ndarray],
    profile: Sequence[FeatureSource],
    categories: Mapping[str, Sequence[str]],
) -> Columns | None:
    """The arrays as the general query's columns (None when one cannot be read exactly)."""
    ids = arrays[0].astype(np.int64)
    if np.any(np.diff(ids) <= 0):  # each group in id order, as asked: checked, not assumed
        order = np.argsort(ids, kind="stable")
        ids, arrays = ids[order], [array[order] for array in arrays]
    stage_codes = arrays[1].astype(np.int32)
    births = _births(arrays[2].astype(np.int64))
    if births is None or np.any(stage_codes == 0):
        return None
    out: Columns = [ids, CodedTexts(stage_codes - 1, _STAGES), births]
    out.append(arrays[3].astype(np.float64))
    field = 4
    for source in profile:
        if source.spec is None:
            out.append(None)  # age: read from the two columns above
            continue
        values = arrays[field]
        field += 1
        if source.kind == "category":
            out.append(CategoryCodes(values.astype(np.int32), categories[source.name]))
        else:
            out.append(values.astype(np.float64))
    return out


def _births(days: np.ndarray) -> list[date | None] | None:
    """The birth dates (None for a missing one), or None when Python cannot hold one."""
    known = days != _NO_DATE
    if not known.any():
        return [None] * len(days)
    low, high = (date.min - _EPOCH).days, (date.max - _EPOCH).days
    if np.any(known & ((days < low) | (days > high))):
        return None  # the general query fails on such a date as it would
    return [
        _EPOCH + timedelta(days=d) if k else None
        for d, k in zip(days.tolist(), known.tolist(), strict=True)
    ]
