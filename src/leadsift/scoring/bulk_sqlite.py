"""SQLite's fast read of everyone's features: the whole table as a few long texts.

One aggregate pass over `contacts` concatenates, in C, the ids, the stages, the birth dates,
the imported ages and two JSON arrays per contact (one `json_extract` with several paths:
one parse of the document, against one per attribute in the general query): the numbers,
parsed by numpy, and the texts and booleans, parsed by one `json.loads`. No Python object is
made per row on the way, and SQLite works without the GIL (another thread may import LightGBM
meanwhile). Features that are not such attributes are read by a second, per-row query.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import String, Text, bindparam, func, literal, null, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from leadsift.contacts.models import Contact
from leadsift.scoring.bulk_numbers import joined, parsed, taken, whole
from leadsift.scoring.dataset import CodedTexts
from leadsift.scoring.features import FeatureSource

_NUMBERS = frozenset({"integer", "number"})
# Contacts per slice: each slice is one query, parsed while the next one runs.
_SLICE = 100_000
_UNIT = "\x1f"  # between texts (stages, dates); one inside a stage is caught by the count
Columns = list[Any]  # arrays (numbers, ids) and lists (texts), one per column


def sqlite_columns(
    session: Session,
    profile: Sequence[FeatureSource],
    now_seconds: float,
    value_of: Callable[[FeatureSource], ColumnElement[Any]],
) -> Columns | None:
    """(ids, stages, birth dates, ages, one per PROFILE source) in id order, or None."""
    packs = _Packs(profile)
    connection = session.connection()
    low, high, count = connection.execute(
        select(func.min(Contact.id), func.max(Contact.id), func.count())
    ).one()
    if not count:
        return [np.zeros(0, dtype=np.int64)] + [[] for _ in range(3 + len(profile))]
    step = max(1, (high - low + 1) * _SLICE // count + 1)
    query = packs.query()
    # SQLite runs each slice's query without the GIL: this thread reads slice after slice
    # while another parses the last one (and, in `model score`, a third imports LightGBM).
    pending: list[Future[Columns | None]] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        for start in range(low - 1, high, step):
            found = connection.execute(query, {"low": start, "high": start + step}).one()
            if found[0] is not None:
                pending.append(pool.submit(packs.parse, tuple(found)))
    parts = [part for future in pending if (part := future.result()) is not None]
    if len(parts) < len(pending):
        return None
    columns = [joined([part[i] for part in parts]) for i in range(len(parts[0]))]
    born = _births(columns[2])
    if born is None:
        return None
    columns[2] = born
    if np.any(np.diff(columns[0]) <= 0):  # the aggregate's order is the scan's, not promised
        order = np.argsort(columns[0], kind="stable")
        columns = [taken(column, order) for column in columns]
    by_name = dict(zip(packs.names, columns[4:], strict=True))
    if packs.others:
        rest = _others(session, packs.others, now_seconds, value_of, columns[0])
        if rest is None:
            return None
        by_name.update(rest)
    rows = len(columns[0])
    return columns[:4] + [by_name.get(s.name, [None] * rows) for s in profile]


class _Packs:
    """Which attributes are packed into which array, the slice query, and its parsing."""

    def __init__(self, profile: Sequence[FeatureSource]) -> None:
        self.numbers = [s for s in profile if _attribute(s, _NUMBERS)]
        self.texts = [s for s in profile if _attribute(s, frozenset({"text"}))]
        self.flags = [s for s in profile if _attribute(s, frozenset({"boolean"}))]
        packed = [*self.numbers, *self.texts, *self.flags]
        self.names = [s.name for s in packed]
        self.others = [s for s in profile if s not in packed and s.spec is not None]

    def query(self) -> Any:
        """Each slice of contacts (ids in (:low, :high]) as one row of long texts."""

        def joined(value: Any, separator: str) -> Any:
            return func.group_concat(value, literal(separator, String()), type_=Text())

        return select(
            joined(Contact.id, ","),
            joined(Contact.stage, _UNIT),
            joined(func.ifnull(Contact.birth_date, ""), _UNIT),
            joined(func.ifnull(Contact.age, "nan"), ","),
            joined(_paths(self.numbers), ","),
            joined(_paths(self.texts), ","),
            joined(_paths(self.flags), ","),
        ).where(Contact.id > bindparam("low"), Contact.id <= bindparam("high"))

    def parse(self, found: tuple[str, ...]) -> Columns | None:
        """One slice's columns: ids, stages, birth dates (text), ages, the packed attributes."""
        ids = parsed(found[0], found[0].count(",") + 1)
        if ids is None:
            return None
        rows = len(ids)
        stages, births = found[1].split(_UNIT), found[2].split(_UNIT)
        ages = parsed(found[3], rows)
        # A real in the age column: the general query keeps it as it is.
        if len(stages) != rows or len(births) != rows or ages is None or not whole(ages):
            return None
        numbers = _numbers(found[4], self.numbers, rows)
        texts = _texts(found[5], self.texts, rows)
        flags = _decoded(found[6], self.flags, rows, bool)
        if numbers is None or texts is None or flags is None:
            return None
        return [ids.astype(np.int64), stages, births, ages, *numbers, *texts, *flags]


def _attribute(source: FeatureSource, types: frozenset[str]) -> bool:
    spec = source.spec
    return spec is not None and spec.kind == "attribute" and spec.value_type in types


def _paths(sources: Sequence[FeatureSource]) -> Any:
    """One JSON array per row of the SOURCES' values (null for a missing key)."""
    if not sources:
        return null()  # group_concat gives NULL: nothing to parse
    keys = [f'$."{s.spec.key}"' for s in sources if s.spec is not None]
    # json_extract returns an array only for several paths: one path is given twice.
    paths = keys * 2 if len(keys) == 1 else keys
    return func.json_extract(Contact.__table__.c.attrs, *(literal(p, String()) for p in paths))


def _births(texts: Sequence[str]) -> list[date | None] | None:
    """The birth dates as dates (None when unknown), as SQLAlchemy's Date reads them."""
    if not any(texts):
        return [None] * len(texts)
    try:
        return [date.fromisoformat(text) if text else None for text in texts]
    except ValueError:
        return None


def _numbers(text: str, sources: Sequence[FeatureSource], rows: int) -> Columns | None:
    """The number attributes, from `[1,2.5,null],[…]`: floats, NaN when missing."""
    if not sources:
        return []
    width = max(len(sources), 2)
    # Anything but numbers and nulls (a text, true/false, an object, an array) takes the
    # general query, which casts such values its own way.
    if any(mark in text for mark in ('"', "t", "f", "{")) or text.count("[") != rows:
        return None
    flat = parsed(text.replace("[", "").replace("]", "").replace("null", "nan"), rows * width)
    if flat is None:
        return None
    matrix = flat.reshape(rows, width)
    out: Columns = []
    for index, source in enumerate(sources):
        column = np.ascontiguousarray(matrix[:, index])
        if source.spec is not None and source.spec.value_type == "integer" and not whole(column):
            return None
        out.append(column)
    return out


def _texts(text: str, sources: Sequence[FeatureSource], rows: int) -> Columns | None:
    """The text attributes, from `["a","b"],[…]`: split in C when every value is a plain text
    (no escape, no null, no `],[` inside), else decoded as JSON."""
    if not sources:
        return []
    width = max(len(sources), 2)
    boundaries = rows - 1  # "],[" only between rows: no text holds one
    if "\\" not in text and text.count("],[") == boundaries == text.count('"],["'):
        inner = text.replace('"],["', '","')
        if inner.startswith('["') and inner.endswith('"]'):
            # Each '","' ends a text and starts the next: as many pieces as values only when
            # every value is a text (a number or a null joins its neighbours into one piece).
            flat = inner[2:-2].split('","')
            if len(flat) == rows * width:
                return [CodedTexts.of(flat[index::width]) for index in range(len(sources))]
    return _decoded(text, sources, rows, str)


def _decoded(
    text: str, sources: Sequence[FeatureSource], rows: int, wanted: type
) -> Columns | None:
    """The attributes of one type, from their JSON arrays (None if one holds another type)."""
    if not sources:
        return []
    values = json.loads("[" + text + "]")
    if len(values) != rows:
        return None
    out: Columns = []
    for _, column in zip(sources, zip(*values, strict=True), strict=False):
        if not set(map(type, column)) <= {wanted, type(None)}:
            return None  # a number in a text attribute, say: the general query's CAST decides
        out.append(CodedTexts.of(column) if wanted is str else list(column))
    return out


def _others(
    session: Session,
    sources: Sequence[FeatureSource],
    now_seconds: float,
    value_of: Callable[[FeatureSource], ColumnElement[Any]],
    ids: Sequence[Any],
) -> dict[str, Sequence[Any]] | None:
    """The features that are not packed attributes, by the general query's SQL, per row."""
    query = select(Contact.id, *(value_of(s) for s in sources)).order_by(Contact.id)
    rows = session.connection().execute(query, {"now_seconds": now_seconds}).all()
    columns = list(zip(*rows, strict=True)) or [()] * (1 + len(sources))
    if not np.array_equal(np.asarray(columns[0], dtype=np.int64), ids):
        return None  # the same transaction reads the same rows; this is a guard
    return {s.name: columns[i + 1] for i, s in enumerate(sources)}
