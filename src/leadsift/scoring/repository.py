"""SQL of predictive scoring: the default label, the model store, predictions written."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any, cast

import numpy as np
from sqlalchemy import Table, case, delete, exists, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from leadsift.contacts.models import Contact, ContactPrediction
from leadsift.criteria import Criteria, FieldSpec, Moment
from leadsift.criteria.sql import to_sql
from leadsift.engagement.models import Event
from leadsift.kit.bulk import dialect_insert, driver_connection, is_postgres, sqlite_timestamp
from leadsift.kit.sequences import pieces
from leadsift.qualification.models import PlaybookVersion, StageChange
from leadsift.scoring.models import StoredModel
from leadsift.segments.repository import WorkspaceSqlFields

_PREDICTIONS = cast(Table, ContactPrediction.__table__)
# Fixed names (no user text reaches these statements).
_COPY_BINARY = (
    "COPY contact_predictions (contact_id, model_id, probability, priority, predicted_at) "
    "FROM STDIN WITH (FORMAT binary)"
)
# COPY's binary rows: a field count, then each field's length and value, big-endian (bigint,
# bigint, double precision, double precision, timestamptz as microseconds since 2000).
_BINARY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("w_contact", ">i4"),
        ("contact", ">i8"),
        ("w_model", ">i4"),
        ("model", ">i8"),
        ("w_probability", ">i4"),
        ("probability", ">f8"),
        ("w_priority", ">i4"),
        ("priority", ">f8"),
        ("w_at", ">i4"),
        ("at", ">i8"),
    ]
)
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no extension
_BINARY_TRAILER = b"\xff\xff"  # a field count of -1
_POSTGRES_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_INSERT = (
    "INSERT INTO contact_predictions (contact_id, model_id, probability, priority, predicted_at) "
    "VALUES (?, ?, ?, ?, ?)"
)


def event_types(session: Session) -> list[str]:
    """The types of the events attached to contacts."""
    query = select(Event.type).where(Event.contact_id.is_not(None)).distinct()
    return sorted(session.scalars(query))


def became_customer() -> ColumnElement[int]:
    """1 for contacts that are, or once were, customers (the default label), else 0."""
    ever = exists().where(StageChange.contact_id == Contact.id, StageChange.to_stage == "customer")
    return case((or_(Contact.stage == "customer", ever), 1), else_=0)


def matches(criteria: Criteria, now: datetime) -> ColumnElement[int]:
    """1 for contacts a criteria expression selects at NOW, else 0."""
    return case((to_sql(criteria, WorkspaceSqlFields(), Moment(now)), 1), else_=0)


def field_value(spec: FieldSpec) -> ColumnElement[Any]:
    """A field's value per contact, as criteria read it."""
    return WorkspaceSqlFields().value(spec)


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


def active_model_key(session: Session) -> tuple[int, datetime] | None:
    """The active model's id and creation time (narrow: checked on every event)."""
    query = (
        select(StoredModel.id, StoredModel.created_at)
        .where(StoredModel.activated_at.is_not(None))
        .order_by(StoredModel.activated_at.desc(), StoredModel.id.desc())
        .limit(1)
    )
    found = session.connection().execute(query).first()  # Core: no ORM machinery per event
    return None if found is None else (found[0], found[1])


def active_playbook_value(session: Session) -> Any:
    """The active playbook's `value` section (None without a playbook or without the key)."""
    document = PlaybookVersion.__table__.c.document
    query = (
        select(document)
        .where(PlaybookVersion.activated_at.is_not(None))
        .order_by(PlaybookVersion.activated_at.desc(), PlaybookVersion.id.desc())
        .limit(1)
    )
    found = session.connection().execute(query).scalar()
    return found.get("value") if isinstance(found, dict) else None


def activate(session: Session, model: StoredModel, at: datetime) -> None:
    """Make MODEL the active one."""
    session.execute(update(StoredModel).where(StoredModel.id == model.id).values(activated_at=at))
    session.refresh(model)


# Predictions.


def replace_predictions(
    session: Session,
    model_id: int,
    at: datetime,
    *,
    contact_ids: np.ndarray,
    probabilities: np.ndarray,
    priorities: np.ndarray,
) -> None:
    """Every contact's prediction: the old ones removed (deleted contacts' too), then one row
    per contact id written by the driver (a million rows in seconds)."""
    session.execute(delete(_PREDICTIONS))
    if not len(contact_ids):
        return
    if is_postgres(session):
        # COPY's binary format built by numpy in one pass: every column has a fixed width.
        rows = np.empty(len(contact_ids), dtype=_BINARY_ROW)
        rows["fields"] = 5
        for width in ("w_contact", "w_model", "w_probability", "w_priority", "w_at"):
            rows[width] = 8
        rows["contact"], rows["model"] = contact_ids, model_id
        rows["probability"], rows["priority"] = probabilities, priorities
        rows["at"] = (at - _POSTGRES_EPOCH) // timedelta(microseconds=1)
        data = rows.tobytes()
        step = _BINARY_ROW.itemsize * 50_000
        with driver_connection(session).cursor() as cursor, cursor.copy(_COPY_BINARY) as copy:
            copy.write(_BINARY_HEADER)
            for start in range(0, len(data), step):
                copy.write(data[start : start + step])
            copy.write(_BINARY_TRAILER)
        return
    stamp = sqlite_timestamp(at)
    rows_of = zip(
        contact_ids.tolist(),
        repeat(model_id),
        probabilities.tolist(),
        priorities.tolist(),
        repeat(stamp),
    )  # tuples made by zip, in C
    cursor = driver_connection(session).cursor()
    try:
        cursor.executemany(_INSERT, rows_of)
    finally:
        cursor.close()


def upsert_predictions(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Some contacts' predictions, replacing theirs."""
    if not rows:
        return
    statement = dialect_insert(session)(_PREDICTIONS)
    columns = ("model_id", "probability", "priority", "predicted_at")
    statement = statement.on_conflict_do_update(
        index_elements=["contact_id"], set_={c: statement.excluded[c] for c in columns}
    )
    for piece in pieces(rows, 1_000):
        session.execute(statement, list(piece))


def prediction_of(session: Session, contact_id: int) -> ContactPrediction | None:
    """A contact's stored prediction."""
    return session.get(ContactPrediction, contact_id)
