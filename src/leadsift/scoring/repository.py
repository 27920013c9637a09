"""SQL of predictive scoring: features and labels per contact, the model store, predictions."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

import numpy as np
from sqlalchemy import (
    Date,
    Float,
    Table,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from leadsift.contacts.models import Contact, ContactPrediction
from leadsift.criteria.evaluate import age_on
from leadsift.engagement.models import Event
from leadsift.kit.sequences import pieces
from leadsift.kit.sqljson import epoch_seconds
from leadsift.qualification.models import StageChange
from leadsift.scoring.features import FeatureSource
from leadsift.scoring.models import StoredModel
from leadsift.segments.repository import WorkspaceSqlFields

_PREDICTIONS = cast(Table, ContactPrediction.__table__)
_DAY = 86_400.0


@dataclass
class FeatureFrame:
    """Feature values of many contacts, column by column, in contact id order."""

    ids: np.ndarray
    stages: list[str]
    columns: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, list[Any]] = field(default_factory=dict)


def event_types(session: Session) -> list[str]:
    """The types of the events attached to contacts."""
    query = select(Event.type).where(Event.contact_id.is_not(None)).distinct()
    return sorted(session.scalars(query))


def became_customer() -> ColumnElement[bool]:
    """True for contacts that are, or once were, customers (the default label)."""
    ever = exists().where(StageChange.contact_id == Contact.id, StageChange.to_stage == "customer")
    return or_(Contact.stage == "customer", ever)


def feature_frame(
    session: Session,
    sources: Sequence[FeatureSource],
    now: datetime,
    *,
    contact_ids: Sequence[int] | None = None,
    where: ColumnElement[bool] | None = None,
    extras: dict[str, ColumnElement[Any]] | None = None,
) -> FeatureFrame:
    """The SOURCES' values at NOW for every contact (or CONTACT_IDS, or those matching WHERE)."""
    extras = extras or {}
    profile = [source for source in sources if source.event_type is None]
    selected = [_value(session, source, now).label(f"f{i}") for i, source in enumerate(profile)]
    extra = [column.label(f"x{i}") for i, column in enumerate(extras.values())]
    base = select(Contact.id, Contact.stage, Contact.birth_date, Contact.age, *selected, *extra)
    if where is not None:
        base = base.where(where)
    ids: list[int] = []
    stages: list[str] = []
    values: list[list[Any]] = [[] for _ in profile]
    extra_values: list[list[Any]] = [[] for _ in extras]
    today = now.date()
    for query in _by_ids(base, contact_ids):
        for row in session.execute(query.order_by(Contact.id)):
            ids.append(row[0])
            stages.append(row[1])
            for i, source in enumerate(profile):
                value = row[4 + i]
                values[i].append(_age(row[2], row[3], today) if source.name == "age" else value)
            for i in range(len(extras)):
                extra_values[i].append(row[4 + len(profile) + i])
    frame = FeatureFrame(np.asarray(ids, dtype=np.int64), stages)
    for i, source in enumerate(profile):
        frame.columns[source.name] = _column(source, values[i], today)
    frame.extras = dict(zip(extras, extra_values, strict=True))
    _add_event_features(session, frame, [s for s in sources if s.event_type is not None], now)
    return frame


def _by_ids(base: Any, contact_ids: Sequence[int] | None) -> Iterator[Any]:
    if contact_ids is None:
        yield base
        return
    for piece in pieces(sorted(contact_ids)):
        yield base.where(Contact.id.in_(piece))


def _value(session: Session, source: FeatureSource, now: datetime) -> ColumnElement[Any]:
    if source.spec is None:  # age: computed from the birth date or imported age
        return literal(None)
    value = WorkspaceSqlFields().value(source.spec)
    if source.spec.value_type == "datetime":
        return (literal(now.timestamp(), Float()) - epoch_seconds(value)) / _DAY
    if source.spec.value_type == "date" and source.spec.kind == "column":
        return value
    if source.spec.value_type == "date" and session.get_bind().dialect.name == "postgresql":
        return sql_cast(value, Date)  # custom dates are ISO text in the JSON attributes
    return value


def _age(birth_date: date | None, imported: int | None, today: date) -> int | None:
    if birth_date is not None:
        return age_on(birth_date, today)
    return imported


def _column(source: FeatureSource, values: list[Any], today: date) -> Any:
    if source.spec is not None and source.spec.value_type == "date":
        return np.asarray([_days_before(v, today) for v in values], dtype=np.float64)
    if source.kind == "number":
        return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    return values


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
            literal(now.timestamp(), Float()) - epoch_seconds(func.max(Event.occurred_at)),
        )
        .where(Event.contact_id.is_not(None), Event.type.in_(types))
        .group_by(Event.contact_id, Event.type)
    )
    wanted = frame.ids.tolist() if len(frame.ids) < 50_000 else None
    for query in _by_event_ids(grouped, wanted):
        rows = session.execute(query).all()
        if not rows:
            continue
        contact = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        where = np.searchsorted(frame.ids, contact)
        found = (where < len(frame.ids)) & (
            frame.ids[np.minimum(where, len(frame.ids) - 1)] == contact
        )
        for i, row in enumerate(rows):
            if found[i]:
                counts[row[1]][where[i]] = row[2]
                since[row[1]][where[i]] = row[3] / _DAY
    for source in sources:
        table = counts if source.aggregate == "count" else since
        frame.columns[source.name] = table[cast(str, source.event_type)]


def _by_event_ids(base: Any, contact_ids: Sequence[int] | None) -> Iterator[Any]:
    if contact_ids is None:
        yield base
        return
    for piece in pieces(contact_ids):
        yield base.where(Event.contact_id.in_(piece))


# The model store.


def add_model(session: Session, model: StoredModel) -> StoredModel:
    """Store a trained model."""
    session.add(model)
    session.flush()
    return model


def get_model(session: Session, model_id: int) -> StoredModel | None:
    """A stored model by id."""
    return session.get(StoredModel, model_id)


def list_models(session: Session) -> list[StoredModel]:
    """Every stored model, newest first."""
    return list(session.scalars(select(StoredModel).order_by(StoredModel.id.desc())))


def active_model(session: Session) -> StoredModel | None:
    """The model activated last (None before any)."""
    query = (
        select(StoredModel)
        .where(StoredModel.activated_at.is_not(None))
        .order_by(StoredModel.activated_at.desc(), StoredModel.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def activate(session: Session, model: StoredModel, at: datetime) -> None:
    """Make MODEL the active one."""
    session.execute(update(StoredModel).where(StoredModel.id == model.id).values(activated_at=at))
    session.refresh(model)


# Predictions.


def replace_predictions(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Every contact's prediction: the old ones removed (deleted contacts' too), ROWS written."""
    session.execute(delete(_PREDICTIONS))
    for piece in pieces(rows, 5_000):
        session.execute(insert(_PREDICTIONS), list(piece))


def upsert_predictions(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Some contacts' predictions, replacing theirs."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    make = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = make(_PREDICTIONS)
    columns = ("model_id", "probability", "priority", "predicted_at")
    statement = statement.on_conflict_do_update(
        index_elements=["contact_id"], set_={c: statement.excluded[c] for c in columns}
    )
    for piece in pieces(rows, 1_000):
        session.execute(statement, list(piece))


def prediction_of(session: Session, contact_id: int) -> ContactPrediction | None:
    """A contact's stored prediction."""
    return session.get(ContactPrediction, contact_id)


def remove_predictions_of_model(session: Session, model_id: int) -> None:
    """Forget predictions made by another model than MODEL_ID (after an activation)."""
    session.execute(delete(_PREDICTIONS).where(and_(_PREDICTIONS.c.model_id != model_id)))
