"""The import's bulk SQL: identifier look-ups, COPY / executemany inserts, consent and undo rows.

Driver-level SQL on purpose: these statements run for every chunk of a million-row import, and
the ORM's per-row and per-parameter processing would cost more than the database work itself.
Values are always bound parameters; only fixed column names and integers are in the SQL text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session

from leadsift.contacts.fields import RECORD_COLUMNS, RECORD_POSITION
from leadsift.contacts.id_floor import next_sqlite_contact_id
from leadsift.contacts.merging import ChunkPlan
from leadsift.contacts.models import Contact, ContactChange, ImportRejection
from leadsift.contacts.normalise import encode_json
from leadsift.kit.bulk import driver_connection, is_postgres, sqlite_timestamp
from leadsift.kit.clock import utcnow

# SQLite's default limit is 32,766 bound variables per statement.
_IN_CHUNK = 10_000
_CONTACT_TABLE: Table = Contact.__table__  # type: ignore[assignment]
LOOKUP_COLUMNS = ("id", *RECORD_COLUMNS, "created_batch_id")
_BIRTH_DATE = RECORD_POSITION["birth_date"]
_SELECT_COLUMNS = ", ".join(f"c.{name}" for name in LOOKUP_COLUMNS)
# COPY column types as psycopg should dump them: text for strings (PostgreSQL parses dates and
# JSON from text), integers as integers. Declaring them skips a per-value type lookup.
_COPY_TYPES = (
    ["int8"]
    + ["int8" if n == "age" else "text" for n in RECORD_COLUMNS]
    + [
        "int8",
        "text",
        "text",
        "text",
    ]
)
# Ends every lateral probe: a subquery with OFFSET cannot be pulled up into a plain join, so it
# stays a per-key index probe. Flattened, the planner may pick a hash join over a sequential
# scan of the whole table for each chunk: it plans with statistics from before the import (the
# import's rows are not analysed until it commits), and psycopg's prepared statements reuse
# one generic plan.
_PROBE = "OFFSET 0"
_CONSENT_COLUMNS = (
    "contact_id",
    "channel",
    "purpose",
    "granted",
    "source",
    "batch_id",
    "recorded_at",
)


def _pieces(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def tune_for_bulk_import(session: Session) -> None:
    """SQLite: a page cache large enough for the contact indexes of a million-row import.

    With the default 2 MB cache, inserting into the unique email/phone indexes thrashes and
    the import slows down as the table grows; 128 MB keeps the throughput flat.
    """
    if not is_postgres(session):
        session.connection().exec_driver_sql("PRAGMA cache_size = -131072")


def stored_identifiers(session: Session, max_contacts: int) -> Iterator[Any] | None:
    """Every stored email, phone and external id, or None when there are over MAX_CONTACTS."""
    connection = session.connection()
    count = connection.exec_driver_sql("SELECT count(*) FROM contacts").scalar_one()
    if count > max_contacts:
        return None
    rows = connection.exec_driver_sql(
        "SELECT email, phone, external_id FROM contacts",
        execution_options={"yield_per": 50_000},
    )
    return (key for row in rows for key in row)


def find_by_identifiers(
    session: Session, *, emails: Sequence[str], phones: Sequence[str], external_ids: Sequence[str]
) -> list[tuple[int, tuple[Any, ...], int | None]]:
    """Contacts owning any of the identifiers: (id, storage-ready record, created_batch_id).

    Ids first (index-only probes), then each contact's row once, however many of its
    identifiers the chunk mentions.
    """
    if is_postgres(session):
        return _find_postgres(session, emails, phones, external_ids)
    ids: set[int] = set()
    for name, values in (("email", emails), ("phone", phones), ("external_id", external_ids)):
        for piece in _pieces(values):
            ids.update(_ids_owning(session, name, piece))
    return [(row[0], tuple(row[1:-1]), row[-1]) for row in _contacts_by_id(session, sorted(ids))]


def _probe(name: str, param: str) -> str:
    # A lateral probe per key always uses the unique index; `= ANY(array)` over thousands of
    # values may be planned as a sequential scan. OFFSET 0: see _PROBE.
    return (
        f"SELECT p.id FROM unnest({param}::text[]) AS k(v) CROSS JOIN LATERAL "  # noqa: S608
        f"(SELECT id FROM contacts WHERE {name} = k.v AND {name} IS NOT NULL {_PROBE}) AS p"
    )


# One round trip per chunk: the ids owning any key, then each contact's row once.
_FIND_POSTGRES = (
    f"SELECT {_SELECT_COLUMNS} FROM ("  # noqa: S608
    f"{_probe('email', '%(emails)s')} UNION {_probe('phone', '%(phones)s')} "
    f"UNION {_probe('external_id', '%(external_ids)s')}) AS i "
    f"CROSS JOIN LATERAL (SELECT * FROM contacts WHERE id = i.id {_PROBE}) AS c ORDER BY c.id"
)


def _find_postgres(
    session: Session, emails: Sequence[str], phones: Sequence[str], external_ids: Sequence[str]
) -> list[tuple[int, tuple[Any, ...], int | None]]:
    if not (emails or phones or external_ids):
        return []
    keys = {"emails": list(emails), "phones": list(phones), "external_ids": list(external_ids)}
    # The driver's own cursor: rows come back as tuples, without SQLAlchemy's row processing.
    with driver_connection(session).cursor() as cursor:
        cursor.execute(_FIND_POSTGRES, keys)
        return [(row[0], _record(row[1:-1]), row[-1]) for row in cursor.fetchall()]


def _ids_owning(session: Session, name: str, keys: Sequence[str]) -> list[int]:
    connection = session.connection()
    marks = ",".join("?" * len(keys))
    # The IS NOT NULL lets SQLite use the partial unique index.
    sql = f"SELECT id FROM contacts WHERE {name} IN ({marks}) AND {name} IS NOT NULL"  # noqa: S608
    return [row[0] for row in connection.exec_driver_sql(sql, tuple(keys))]


def _contacts_by_id(session: Session, ids: Sequence[int]) -> Iterator[Sequence[Any]]:
    connection = session.connection()
    for piece in _pieces(ids):
        marks = ",".join("?" * len(piece))
        sql = f"SELECT {_SELECT_COLUMNS} FROM contacts AS c WHERE id IN ({marks})"  # noqa: S608
        yield from connection.exec_driver_sql(sql, tuple(piece))


def _record(values: Sequence[Any]) -> tuple[Any, ...]:
    """A PostgreSQL row in the storage form SQLite gives back as is (ISO dates, JSON text)."""
    record = list(values)
    birth_date = record[_BIRTH_DATE]
    if isinstance(birth_date, date):
        record[_BIRTH_DATE] = birth_date.isoformat()
    attrs = record[-1]
    record[-1] = encode_json(attrs) if attrs else "{}"
    return tuple(record)


def current_consent(session: Session, contact_ids: Sequence[int]) -> dict[tuple[int, str], bool]:
    """The latest consent flag per (contact, channel) for the marketing purpose."""
    postgres = is_postgres(session)
    connection = session.connection()
    result: dict[tuple[int, str], bool] = {}
    for piece in _pieces(sorted(set(contact_ids))):
        if postgres:
            sql = (
                "SELECT r.contact_id, r.channel, r.granted FROM unnest(%s::int8[]) AS k(v) "  # noqa: S608
                "CROSS JOIN LATERAL (SELECT * FROM consent_records WHERE contact_id = k.v "
                f"AND purpose = 'marketing' {_PROBE}) AS r ORDER BY r.id"
            )
            rows = connection.exec_driver_sql(sql, (list(piece),))
        else:
            marks = ",".join("?" * len(piece))
            sql = (
                "SELECT contact_id, channel, granted FROM consent_records "  # noqa: S608
                f"WHERE contact_id IN ({marks}) AND purpose = 'marketing' ORDER BY id"
            )
            rows = connection.exec_driver_sql(sql, tuple(piece))
        for contact_id, channel, granted in rows:
            result[(contact_id, channel)] = bool(granted)  # the latest row wins
    return result


@dataclass(frozen=True)
class ChunkWrites:
    """What one chunk of an import writes."""

    records: Sequence[tuple[Any, ...]]  # new contacts
    ids: Sequence[int]  # their reserved ids
    updates: list[tuple[int, dict[str, Any]]]
    befores: list[tuple[int, dict[str, Any]]]  # undo data
    consent: list[tuple[int, str, bool]]
    rejected: Sequence[Any]

    @classmethod
    def of(cls, plan: ChunkPlan, ids: Sequence[int]) -> ChunkWrites:
        """PLAN's writes once its new contacts have their IDS, copied out of the plan: the next
        chunk is planned (and may change the same contacts) while they are written."""
        updates = [(t.contact_id, dict(t.changed)) for t in plan.updated if t.contact_id]
        consent = plan.consent_rows(ids)
        return cls(plan.new_records, ids, updates, list(plan.befores), consent, plan.rejections)


def write_chunk(session: Session, batch_id: int, writes: ChunkWrites) -> None:
    """Persist one chunk: new contacts, updates, undo records, consent rows, rejections."""
    now = utcnow()
    insert_contacts(session, writes.records, writes.ids, batch_id, now)
    update_contacts(session, writes.updates, now)
    insert_contact_changes(session, batch_id, writes.befores)
    insert_consent_records(session, writes.consent, batch_id, now)
    insert_rejections(session, batch_id, writes.rejected)


def reserve_contact_ids(session: Session, count: int) -> list[int]:
    """Ids for COUNT contacts about to be inserted, known before the rows are written."""
    if count <= 0:
        return []
    if is_postgres(session):
        # nextval() hands out numbers no other session can get, one round trip for the lot.
        # The sequence is named once: pg_get_serial_sequence() per row would cost 2 µs each.
        with driver_connection(session).cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence('contacts', 'id')::regclass::oid")
            sequence = cursor.fetchone()[0]
            cursor.execute(
                "SELECT nextval(%s::oid::regclass) FROM generate_series(1, %s)", (sequence, count)
            )
            return [row[0] for row in cursor.fetchall()]
    # SQLite: above max(id) and the floor left by deletions (ids are never reused); the import
    # holds the write lock, and insert_contacts checks that the rows got these ids.
    start = next_sqlite_contact_id(session)
    return list(range(start, start + count))


def insert_contacts(
    session: Session,
    records: Sequence[tuple[Any, ...]],
    ids: Sequence[int],
    batch_id: int,
    now: datetime,
) -> None:
    """Bulk-insert new contacts from storage-ready records, with ids from reserve_contact_ids."""
    if not records:
        return
    if len(ids) != len(records):
        raise ValueError(f"{len(ids)} ids for {len(records)} new contacts")
    if is_postgres(session):
        _copy_contacts(session, records, ids, batch_id, now)
        return
    connection = session.connection()
    stamp = sqlite_timestamp(now)
    placeholders = ", ".join("?" for _ in RECORD_COLUMNS)
    highest = connection.exec_driver_sql("SELECT coalesce(max(id), 0) FROM contacts").scalar_one()
    # Usually the records go to executemany as they are (no per-row tuple is built) and SQLite
    # numbers them from max(id) + 1; after deletions the ids start above a floor: given.
    given = ids[0] != highest + 1
    sql = (
        f"INSERT INTO contacts ({'id, ' if given else ''}{', '.join(RECORD_COLUMNS)}, "  # noqa: S608
        f"created_batch_id, stage, created_at, updated_at) VALUES ({'?, ' if given else ''}"
        f"{placeholders}, {int(batch_id)}, 'contact', '{stamp}', '{stamp}')"
    )
    rows = [(i, *r) for i, r in zip(ids, records, strict=True)] if given else list(records)
    connection.exec_driver_sql(sql, rows)
    first, last, count = connection.exec_driver_sql(
        "SELECT min(id), max(id), count(*) FROM contacts WHERE id >= ?", (ids[0],)
    ).one()
    if (first, last, count) != (ids[0], ids[-1], len(ids)):
        raise RuntimeError(f"contact ids moved during the import ({first}..{last} != {ids[0]}..)")


def _copy_contacts(
    session: Session,
    records: Sequence[tuple[Any, ...]],
    ids: Sequence[int],
    batch_id: int,
    now: datetime,
) -> None:
    stamp = now.isoformat()
    tail = (batch_id, "contact", stamp, stamp)
    columns = f"id, {', '.join(RECORD_COLUMNS)}, created_batch_id, stage, created_at, updated_at"
    with (
        driver_connection(session).cursor() as cursor,
        cursor.copy(f"COPY contacts ({columns}) FROM STDIN") as copy,
    ):
        copy.set_types(_COPY_TYPES)
        write_row = copy.write_row
        for contact_id, record in zip(ids, records, strict=True):
            write_row((contact_id, *record, *tail))


def insert_consent_records(
    session: Session, records: Sequence[tuple[int, str, bool]], batch_id: int, now: datetime
) -> None:
    """Append consent rows (contact, channel, granted) recorded by an import batch."""
    if not records:
        return
    if is_postgres(session):
        stamp = now.isoformat()
        with (
            driver_connection(session).cursor() as cursor,
            cursor.copy(f"COPY consent_records ({', '.join(_CONSENT_COLUMNS)}) FROM STDIN") as copy,
        ):
            copy.set_types(["int8", "text", "text", "bool", "text", "int8", "text"])
            for contact_id, channel, granted in records:
                copy.write_row(
                    (contact_id, channel, "marketing", granted, "import", batch_id, stamp)
                )
        return
    stamp = sqlite_timestamp(now)
    session.connection().exec_driver_sql(
        f"INSERT INTO consent_records ({', '.join(_CONSENT_COLUMNS)}) "  # noqa: S608
        f"VALUES (?, ?, 'marketing', ?, 'import', {int(batch_id)}, '{stamp}')",
        list(records),
    )


def update_contacts(
    session: Session, changes: Sequence[tuple[int, dict[str, Any]]], now: datetime
) -> None:
    """Apply per-contact field changes, grouped by the set of fields changed."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for contact_id, changed in changes:
        values = dict(changed)
        if isinstance(values.get("birth_date"), str):
            values["birth_date"] = date.fromisoformat(values["birth_date"])
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
    if not rejections:
        return
    names = ("batch_id", "row_number", "column", "value", "reason", "message")
    rows = [
        (batch_id, r.row_number, r.column, r.value and r.value[:10_000], r.reason, r.message)
        for r in rejections
    ]
    if is_postgres(session):
        columns = ", ".join(f'"{name}"' for name in names)
        with (
            driver_connection(session).cursor() as cursor,
            cursor.copy(f"COPY import_rejections ({columns}) FROM STDIN") as copy,
        ):
            copy.set_types(["int8", "int4", "text", "text", "text", "text"])
            for row in rows:
                copy.write_row(row)
        return
    session.execute(
        insert(ImportRejection),
        [dict(zip(names, row, strict=True)) for row in rows],
    )
