"""All SQL of the contacts domain: lookups by identifier, bulk writes, batches, exports."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Column, Table, bindparam, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from leadsift.contacts.fields import RECORD_COLUMNS
from leadsift.contacts.models import (
    AttributeDefinition,
    ConsentRecord,
    Contact,
    ContactChange,
    ImportBatch,
    ImportRejection,
)

# SQLite's default limit is 32,766 bound variables per statement.
_IN_CHUNK = 10_000
_CONTACT_TABLE: Table = Contact.__table__  # type: ignore[assignment]
LOOKUP_COLUMNS = ("id", *RECORD_COLUMNS, "created_batch_id")
INSERT_COLUMNS = (*LOOKUP_COLUMNS, "stage", "created_at", "updated_at")


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _pieces(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def find_by_identifiers(
    session: Session, *, emails: Sequence[str], phones: Sequence[str], external_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """Contacts owning any of the identifiers, as dicts (dates as ISO text, attrs decoded).

    Driver-level SQL: this runs for every chunk of every import, and the ORM's per-parameter
    processing of 10,000-value IN lists would cost more than the lookup itself.
    """
    postgres = _dialect(session) == "postgresql"
    connection = session.connection()
    column_list = ", ".join(LOOKUP_COLUMNS)
    found: dict[int, dict[str, Any]] = {}
    for name, values in (("email", emails), ("phone", phones), ("external_id", external_ids)):
        for piece in _pieces(values):
            if postgres:
                sql = f"SELECT {column_list} FROM contacts WHERE {name} = ANY(%s)"  # noqa: S608
                rows = connection.exec_driver_sql(sql, (list(piece),))
            else:
                marks = ",".join("?" * len(piece))
                sql = f"SELECT {column_list} FROM contacts WHERE {name} IN ({marks})"  # noqa: S608
                rows = connection.exec_driver_sql(sql, tuple(piece))
            for row in rows:
                if row[0] not in found:
                    found[row[0]] = _lookup_values(row)
    return list(found.values())


def _lookup_values(row: Sequence[Any]) -> dict[str, Any]:
    values = dict(zip(LOOKUP_COLUMNS, row, strict=True))
    birth_date = values.get("birth_date")
    if isinstance(birth_date, date):
        values["birth_date"] = birth_date.isoformat()
    attrs = values.get("attrs")
    values["attrs"] = json.loads(attrs) if isinstance(attrs, str) else (attrs or {})
    return values


def current_consent(session: Session, contact_ids: Sequence[int]) -> dict[tuple[int, str], bool]:
    """The latest consent flag per (contact, channel) for the marketing purpose."""
    table = ConsentRecord.__table__
    result: dict[tuple[int, str], bool] = {}
    for piece in _pieces(sorted(set(contact_ids))):  # type: ignore[arg-type]
        latest = (
            select(func.max(table.c.id))
            .where(table.c.contact_id.in_(piece), table.c.purpose == "marketing")
            .group_by(table.c.contact_id, table.c.channel)
        )
        query = select(table.c.contact_id, table.c.channel, table.c.granted).where(
            table.c.id.in_(latest)
        )
        for contact_id, channel, granted in session.execute(query):
            result[(contact_id, channel)] = granted
    return result


def allocate_contact_ids(session: Session, count: int) -> list[int]:
    """Reserve COUNT increasing ids (guarded by SQLite's write lock or PostgreSQL's sequence)."""
    if count == 0:
        return []
    if _dialect(session) == "postgresql":
        rows = session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('contacts', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return sorted(row[0] for row in rows)
    start = session.execute(select(func.coalesce(func.max(Contact.id), 0))).scalar_one()
    return list(range(start + 1, start + 1 + count))


def _sqlite_timestamp(moment: datetime) -> str:
    # The text form SQLAlchemy's SQLite DateTime type writes, so ORM reads see the same value.
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _copy_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """PostgreSQL COPY FROM STDIN on the session's own connection (inside its transaction)."""
    raw = session.connection().connection.driver_connection
    if raw is None:
        raise RuntimeError("the session has no live connection")
    column_list = ", ".join(columns)
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert_rows(
    session: Session, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    if _dialect(session) == "postgresql":
        _copy_rows(session, table, columns, rows)
        return
    placeholders = ", ".join("?" for _ in columns)
    session.connection().exec_driver_sql(
        # Table and column names are fixed by the callers; values are bound parameters.
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",  # noqa: S608
        rows,
    )


def insert_contacts(
    session: Session, records: Sequence[tuple[Any, ...]], ids: Sequence[int], batch_id: int,
    now: datetime,
) -> None:
    """Bulk-insert new contacts from storage-ready records; COPY on PostgreSQL."""
    stamp = _sqlite_timestamp(now) if _dialect(session) == "sqlite" else now
    rows = [
        (contact_id, *record, batch_id, "contact", stamp, stamp)
        for contact_id, record in zip(ids, records, strict=True)
    ]
    _insert_rows(session, "contacts", INSERT_COLUMNS, rows)


def update_contacts(
    session: Session, changes: Sequence[tuple[int, dict[str, Any]]], now: datetime
) -> None:
    """Apply per-contact field changes, grouped by the set of fields changed."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for contact_id, values in changes:
        if isinstance(values.get("birth_date"), str):
            values = {**values, "birth_date": date.fromisoformat(values["birth_date"])}
        key = tuple(sorted(values))
        groups.setdefault(key, []).append({"_id": contact_id, **values, "updated_at": now})
    table = _CONTACT_TABLE
    for names, params in groups.items():
        statement = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({name: bindparam(name) for name in (*names, "updated_at")})
        )
        session.connection().execute(statement, params)


def insert_consent_records(
    session: Session, records: list[tuple[int, str, bool]], batch_id: int, now: datetime
) -> None:
    """Append consent rows (contact, channel, granted) recorded by an import batch."""
    dialect = _dialect(session)
    stamp = _sqlite_timestamp(now) if dialect == "sqlite" else now
    rows = [
        (cid, channel, "marketing", granted, "import", batch_id, stamp)
        for cid, channel, granted in records
    ]
    _insert_rows(
        session,
        "consent_records",
        ("contact_id", "channel", "purpose", "granted", "source", "batch_id", "recorded_at"),
        rows,
    )


def insert_contact_changes(
    session: Session, batch_id: int, befores: list[tuple[int, dict[str, Any]]]
) -> None:
    """Record the values an import overwrote, for undo."""
    if befores:
        session.execute(
            insert(ContactChange),
            [
                {"batch_id": batch_id, "contact_id": cid, "before": before}
                for cid, before in befores
            ],
        )


def insert_rejections(session: Session, batch_id: int, rejections: Sequence[Any]) -> None:
    """Keep rejected rows with their row, column, value and reason."""
    if rejections:
        session.execute(
            insert(ImportRejection),
            [
                {
                    "batch_id": batch_id,
                    "row_number": r.row_number,
                    "column": r.column,
                    "value": (r.value or "")[:10_000] if r.value is not None else None,
                    "reason": r.reason,
                    "message": r.message,
                }
                for r in rejections
            ],
        )


def attribute_definitions(session: Session) -> dict[str, AttributeDefinition]:
    """Every custom attribute definition by key."""
    return {d.key: d for d in session.scalars(select(AttributeDefinition))}


def add_batch(session: Session, batch: ImportBatch) -> ImportBatch:
    """Insert a batch row and flush so it has an id (and, on SQLite, the write lock)."""
    session.add(batch)
    session.flush()
    return batch


def get_batch(session: Session, batch_id: int) -> ImportBatch | None:
    """One import batch by id."""
    return session.get(ImportBatch, batch_id)


def later_completed_batches(session: Session, batch_id: int) -> list[int]:
    """Ids of completed batches newer than BATCH_ID."""
    query = select(ImportBatch.id).where(
        ImportBatch.id > batch_id, ImportBatch.status == "completed"
    )
    return list(session.scalars(query))


def changes_of_batch(session: Session, batch_id: int) -> list[tuple[int, dict[str, Any]]]:
    """The (contact id, before values) an import recorded."""
    query = (
        select(ContactChange.contact_id, ContactChange.before)
        .where(ContactChange.batch_id == batch_id)
        .order_by(ContactChange.id.desc())
    )
    return [(row[0], row[1]) for row in session.execute(query)]


def delete_batch_effects(session: Session, batch_id: int) -> tuple[int, int]:
    """Delete the contacts and consent rows a batch created; return (contacts, consent rows)."""
    consent = session.execute(delete(ConsentRecord).where(ConsentRecord.batch_id == batch_id))
    contacts = session.execute(delete(Contact).where(Contact.created_batch_id == batch_id))
    session.execute(
        delete(AttributeDefinition).where(AttributeDefinition.created_batch_id == batch_id)
    )
    return contacts.rowcount, consent.rowcount  # type: ignore[attr-defined]


def find_contact(
    session: Session,
    *,
    contact_id: int | None = None,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
) -> Contact | None:
    """One contact by id, email, phone or external id."""
    if contact_id is not None:
        return session.get(Contact, contact_id)
    for column, value in (
        (Contact.email, email),
        (Contact.phone, phone),
        (Contact.external_id, external_id),
    ):
        if value is not None:
            return session.scalars(select(Contact).where(column == value)).one_or_none()
    return None


def consent_of(session: Session, contact_id: int) -> dict[str, bool]:
    """Current consent per channel for one contact."""
    return {
        channel: granted for (_, channel), granted in current_consent(session, [contact_id]).items()
    }


def iter_contacts(session: Session, batch_size: int = 5_000) -> Iterator[Contact]:
    """Every contact in id order, streamed."""
    last_id = 0
    while True:
        page = list(
            session.scalars(
                select(Contact).where(Contact.id > last_id).order_by(Contact.id).limit(batch_size)
            )
        )
        if not page:
            return
        yield from page
        last_id = page[-1].id
        session.expunge_all()


def count_contacts(session: Session) -> int:
    """How many contacts the workspace holds."""
    return session.execute(select(func.count()).select_from(Contact)).scalar_one()


def latest_import_mappings(session: Session) -> list[dict[str, str]]:
    """Recorded mappings of completed contact imports, newest first."""
    query = (
        select(ImportBatch.mapping)
        .where(ImportBatch.status == "completed")
        .order_by(ImportBatch.id.desc())
    )
    return [dict(m) for m in session.scalars(query)]
