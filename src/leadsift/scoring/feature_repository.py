"""SQL of feature reading: every feature of many contacts, column by column, in id order.

One query over `contacts` (its columns, custom attributes read with their types, stored scores)
and one grouped pass over the events (counts and last times per type). Rows come back through
the Core connection and are turned into columns by `zip` (in C): at a million contacts the
per-row Python is what costs, not the database.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, cast

import numpy as np
from sqlalchemy import Date, Float, Select, bindparam, func, literal, select, text
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from leadsift.contacts.models import Contact
from leadsift.criteria.evaluate import age_on
from leadsift.engagement.models import Event
from leadsift.kit.bulk import is_postgres
from leadsift.kit.sequences import pieces
from leadsift.kit.sqljson import epoch_seconds
from leadsift.scoring.bulk_numbers import no_collection
from leadsift.scoring.bulk_postgres import postgres_columns
from leadsift.scoring.bulk_sqlite import sqlite_columns
from leadsift.scoring.dataset import CategoryCodes, CodedTexts
from leadsift.scoring.features import FeatureSource
from leadsift.segments.repository import WorkspaceSqlFields

_DAY = 86_400.0
# Below this many contacts, events are read for those contacts only (an IN list); above, one
# pass over all events is cheaper than many IN lists.
_FEW = 50_000
# The moment features are computed at, bound at execution (the queries are built once).
_NOW = bindparam("now_seconds", type_=Float())


@dataclass
class FeatureFrame:
    """Feature values of many contacts, column by column, in contact id order."""

    ids: np.ndarray
    stages: list[str]
    columns: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, list[Any]] = field(default_factory=dict)


def feature_frame(
    session: Session,
    sources: Sequence[FeatureSource],
    now: datetime,
    *,
    contact_ids: Sequence[int] | None = None,
    where: ColumnElement[bool] | None = None,
    extras: dict[str, ColumnElement[Any]] | None = None,
    categories: Mapping[str, Sequence[str]] | None = None,
) -> FeatureFrame:
    """The SOURCES' values at NOW for every contact (or CONTACT_IDS, or those matching WHERE).

    CATEGORIES (a model's kept values per category feature) let PostgreSQL's read of everyone
    give those features already coded for that model (`CategoryCodes`)."""
    extras = extras or {}
    profile = tuple(source for source in sources if source.event_type is None)
    base = _profile_query(profile, is_postgres(session))
    if extras:
        base = base.add_columns(
            *(column.label(f"x{i}") for i, column in enumerate(extras.values()))
        )
    if where is not None:
        base = base.where(where)
    if contact_ids is None and is_postgres(session):
        # A read of everyone (or of a training population) crosses PostgreSQL's JIT cost
        # thresholds; compiling its expressions took 0.35–0.7 s, more than it saved (a
        # million contacts: 3.3 s of COPY without, 3.5 s with; 41k labelled of a million:
        # 0.7 s against 0.9 s). Off until the end of this transaction, which only writes next.
        session.execute(text("SET LOCAL jit = off"))
    columns: list[Sequence[Any]] | None = None
    if contact_ids is None and where is None and not extras:
        columns = _everyone(session, profile, now.timestamp(), categories)
    if columns is None:
        columns = _general_columns(session, base, contact_ids, 4 + len(profile) + len(extras), now)
    today = now.date()
    frame = FeatureFrame(np.asarray(columns[0], dtype=np.int64), list(columns[1]))
    for i, source in enumerate(profile):
        values = _ages(columns[2], columns[3], today) if source.name == "age" else columns[4 + i]
        frame.columns[source.name] = _column(source, values, today)
    frame.extras = {name: list(columns[4 + len(profile) + i]) for i, name in enumerate(extras)}
    _add_event_features(session, frame, [s for s in sources if s.event_type is not None], now)
    return frame


def _everyone(
    session: Session,
    profile: tuple[FeatureSource, ...],
    now_seconds: float,
    categories: Mapping[str, Sequence[str]] | None,
) -> list[Sequence[Any]] | None:
    """Every contact's own features by the engine's fast read (None: the general query)."""
    if any(s.spec is not None and s.spec.value_type == "date" for s in profile):
        return None  # dates come back as text there; the general query reads them as dates
    with no_collection():
        if is_postgres(session):
            if categories is None:
                return None
            return postgres_columns(
                session, profile, now_seconds, lambda s: profile_value(s, True), categories
            )
        return sqlite_columns(
            session, profile, now_seconds, lambda source: profile_value(source, False)
        )


def _general_columns(
    session: Session,
    base: Select[Any],
    contact_ids: Sequence[int] | None,
    width: int,
    now: datetime,
) -> list[Sequence[Any]]:
    """BASE's columns through the Core connection, one Python object per value."""
    connection = session.connection()
    rows: list[Any] = []
    moment = {"now_seconds": now.timestamp()}
    for query in _for_ids(base, Contact.id, None if contact_ids is None else sorted(contact_ids)):
        rows.extend(connection.execute(query.order_by(Contact.id), moment).all())
    return list(zip(*rows, strict=True)) if rows else [()] * width


def _for_ids(base: Any, column: Any, contact_ids: Sequence[int] | None) -> Iterator[Any]:
    """BASE as is, or once per slice of CONTACT_IDS (SQLite's bound-parameter limit)."""
    if contact_ids is None:
        yield base
        return
    for piece in pieces(contact_ids):
        yield base.where(column.in_(piece))


@lru_cache(maxsize=64)
def _profile_query(profile: tuple[FeatureSource, ...], postgres: bool) -> Select[Any]:
    """The query of the contacts' own features, built once per set of features (scoring one
    contact as its events arrive would otherwise spend milliseconds building it)."""
    selected = [profile_value(source, postgres).label(f"f{i}") for i, source in enumerate(profile)]
    return select(Contact.id, Contact.stage, Contact.birth_date, Contact.age, *selected)


def profile_value(source: FeatureSource, postgres: bool) -> ColumnElement[Any]:
    """A contact's own feature in SQL (NULL for `age`, computed from two columns)."""
    if source.spec is None:  # age: computed from the birth date or the imported age
        return literal(None)
    value = WorkspaceSqlFields().value(source.spec)
    if source.spec.value_type == "datetime":
        return (_NOW - epoch_seconds(value)) / _DAY
    if source.spec.value_type == "date" and source.spec.kind != "column" and postgres:
        return sql_cast(value, Date)  # custom dates are ISO text in the JSON attributes
    return value


def _ages(birth_dates: Sequence[date | None], imported: Sequence[Any], today: date) -> Any:
    """Whole years from the birth date when known, else the imported age (as criteria do)."""
    if not any(born is not None for born in birth_dates):
        return imported
    return [
        age if born is None else age_on(born, today)
        for born, age in zip(birth_dates, imported, strict=True)
    ]


def _column(source: FeatureSource, values: Sequence[Any], today: date) -> Any:
    if source.spec is not None and source.spec.value_type == "date":
        return np.asarray([_days_before(v, today) for v in values], dtype=np.float64)
    if source.kind == "number" or isinstance(values, np.ndarray):
        # numpy reads None as NaN here, in C (booleans read in bulk are 0/1/NaN already).
        return np.asarray(values, dtype=np.float64)
    return values if isinstance(values, CodedTexts | CategoryCodes) else list(values)


def _days_before(value: Any, today: date) -> float:
    if value is None:
        return float("nan")
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            return float("nan")
    return float((today - value).days)


def _add_event_features(
    session: Session, frame: FeatureFrame, sources: Sequence[FeatureSource], now: datetime
) -> None:
    """`count(TYPE)` (0 without events) and `days_since(TYPE)` (unknown without) per contact."""
    if not sources:
        return
    types = sorted({cast(str, s.event_type) for s in sources})
    counts = {t: np.zeros(len(frame.ids)) for t in types}
    since = {t: np.full(len(frame.ids), np.nan) for t in types}
    grouped = (
        select(
            Event.contact_id,
            Event.type,
            func.count(),
            _NOW - epoch_seconds(func.max(Event.occurred_at)),
        )
        .where(Event.contact_id.is_not(None), Event.type.in_(types))
        .group_by(Event.contact_id, Event.type)
    )
    wanted = frame.ids.tolist() if len(frame.ids) < _FEW else None
    connection = session.connection()
    for query in _for_ids(grouped, Event.contact_id, wanted):
        rows = connection.execute(query, {"now_seconds": now.timestamp()}).all()
        if rows:
            _place(frame.ids, rows, counts, since)
    for source in sources:
        table = counts if source.aggregate == "count" else since
        frame.columns[source.name] = table[cast(str, source.event_type)]


def _place(
    ids: np.ndarray, rows: Sequence[Any], counts: dict[str, Any], since: dict[str, Any]
) -> None:
    """Put each (contact, type, count, seconds since) row at its contact's position."""
    contact, kind, count, seconds = zip(*rows, strict=True)
    found = np.asarray(contact, dtype=np.int64)
    where = np.minimum(np.searchsorted(ids, found), len(ids) - 1)
    known = ids[where] == found
    count_of = np.asarray(count, dtype=np.float64)
    since_of = np.asarray(seconds, dtype=np.float64) / _DAY
    kinds = np.asarray(kind, dtype=object)
    for event_type, counted in counts.items():
        chosen = known & (kinds == event_type)
        counted[where[chosen]] = count_of[chosen]
        since[event_type][where[chosen]] = since_of[chosen]
