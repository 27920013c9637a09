"""The event log's hot SQL for large batches (file imports, API batches): driver-level look-ups,
executemany on SQLite, COPY on PostgreSQL.

Values are always bound parameters (or COPY data); only fixed column names are formatted into
SQL text. The rows written are the ones the ORM path would write, in the same storage form:
SQLite timestamps as SQLAlchemy's text, properties as `json.dumps` text, keys as blobs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.engagement.criteria_fields import EXTRA_FIELDS
from leadsift.kit.bulk import driver_connection, is_postgres, sqlite_timestamp
from leadsift.kit.sequences import pieces

# Batches this large take the bulk path; smaller ones (one API request) the ORM statement.
BULK_ROWS: Final = 500
EVENT_COLUMNS: Final = (
    "type",
    "contact_id",
    "anonymous_id",
    "occurred_at",
    "received_at",
    "properties",
    *EXTRA_FIELDS,
    "idempotency_key",
    "dedup_key",
    "payload_hash",
)
_RECORD: Final = itemgetter(*EVENT_COLUMNS)
_TIMES: Final = (EVENT_COLUMNS.index("occurred_at"), EVENT_COLUMNS.index("received_at"))
_PROPERTIES: Final = EVENT_COLUMNS.index("properties")
_LOOKUP_COLUMNS: Final = {
    "contact_id": ("id", "bigint"),
    "email": ("email", "text"),
    "phone": ("phone", "text"),
    "external_id": ("external_id", "text"),
}
# COPY goes straight into `events`, in a savepoint: a key stored meanwhile by another
# transaction makes it fail as a whole. Then the rows go through this staging table and
# `INSERT … ON CONFLICT DO NOTHING`, which skips such keys (about 15 % slower, so not always).
_STAGING: Final = "leadsift_events_staging"
_STAGING_TYPES: Final = {
    "contact_id": "bigint",
    "occurred_at": "timestamptz",
    "received_at": "timestamptz",
    "properties": "text",
    "dedup_key": "bytea",
    "payload_hash": "bytea",
}
_COPY_TYPES: Final = [_STAGING_TYPES.get(name, "text") for name in EVENT_COLUMNS]
# Straight into `events`: properties as jsonb (psycopg writes json.dumps of the dict).
_DIRECT_TYPES: Final = [
    "jsonb" if name == "properties" else t
    for name, t in zip(EVENT_COLUMNS, _COPY_TYPES, strict=True)
]
_CREATE_STAGING: Final = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} ("
    + ", ".join(f"{name} {_STAGING_TYPES.get(name, 'text')}" for name in EVENT_COLUMNS)
    + ")"
)
_MOVE_STAGED: Final = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "  # noqa: S608 - fixed names only
    f"SELECT {', '.join('properties::jsonb' if n == 'properties' else n for n in EVENT_COLUMNS)} "
    f"FROM {_STAGING} ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key"
)
_SQLITE_INSERT: Final = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "  # noqa: S608 - fixed names only
    f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)}) ON CONFLICT (dedup_key) DO NOTHING"
)
# SQLAlchemy's JSON type writes json.dumps(value): the same text, without an encoder per call.
_json_text: Final = json.JSONEncoder().encode


def tune_for_bulk_import(session: Session) -> None:
    """SQLite: a page cache large enough for the event indexes of a million-event import.

    With the default 2 MB cache, the random 16-byte dedup keys thrash the unique index and the
    pages spill to the WAL mid-transaction; 128 MB keeps the writes in memory until the commit.
    """
    if not is_postgres(session):
        session.connection().exec_driver_sql("PRAGMA cache_size = -131072")


def contact_ids_by(session: Session, kind: str, values: Sequence[Any]) -> dict[Any, int]:
    """Contact ids by the value of one identifier, in one round trip per piece."""
    column, sql_type = _LOOKUP_COLUMNS[kind]
    if is_postgres(session):
        # One index probe per value (a flattened join may be planned as a scan of contacts on
        # stale statistics; OFFSET 0 keeps the probe a probe).
        sql = (
            f"SELECT k.v, c.id FROM unnest(%s::{sql_type}[]) AS k(v) CROSS JOIN LATERAL "  # noqa: S608
            f"(SELECT id FROM contacts WHERE {column} = k.v AND {column} IS NOT NULL "
            "OFFSET 0) AS c"
        )
        with driver_connection(session).cursor() as cursor:
            cursor.execute(sql, (list(values),))
            return dict(cursor.fetchall())
    connection = session.connection()
    found: dict[Any, int] = {}
    for piece in pieces(values):
        marks = ",".join("?" * len(piece))
        # The IS NOT NULL lets SQLite use the partial unique index.
        sql = (
            f"SELECT {column}, id FROM contacts "  # noqa: S608 - fixed names only
            f"WHERE {column} IN ({marks}) AND {column} IS NOT NULL"
        )
        found.update(
            (value, contact_id)
            for value, contact_id in connection.exec_driver_sql(sql, tuple(piece))
        )
    return found


def stored_payloads(session: Session, dedup_keys: Sequence[bytes]) -> dict[bytes, bytes]:
    """The payload hash stored under each dedup key that is already taken."""
    if is_postgres(session):
        sql = (
            "SELECT e.dedup_key, e.payload_hash FROM unnest(%s::bytea[]) AS k(v) "
            "CROSS JOIN LATERAL (SELECT dedup_key, payload_hash FROM events "
            "WHERE dedup_key = k.v OFFSET 0) AS e"
        )
        with driver_connection(session).cursor() as cursor:
            cursor.execute(sql, (list(dedup_keys),))
            return {bytes(key): bytes(payload) for key, payload in cursor.fetchall()}
    connection = session.connection()
    found: dict[bytes, bytes] = {}
    for piece in pieces(dedup_keys):
        marks = ",".join("?" * len(piece))
        sql = f"SELECT dedup_key, payload_hash FROM events WHERE dedup_key IN ({marks})"  # noqa: S608
        found.update(
            (key, payload) for key, payload in connection.exec_driver_sql(sql, tuple(piece))
        )
    return found


def insert_events(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[bytes]:
    """Insert events, skipping keys stored meanwhile; return the dedup keys inserted."""
    if is_postgres(session):
        return _copy_events(session, rows)
    connection = session.connection()
    raw = driver_connection(session)
    occurred, received = _TIMES
    values = []
    # Every row of a batch is usually received at the same moment: converted once.
    last_received: datetime | None = None
    received_text = ""
    for row in rows:
        record = list(_RECORD(row))
        record[occurred] = sqlite_timestamp(record[occurred])
        if record[received] is not last_received:
            last_received = record[received]
            received_text = sqlite_timestamp(record[received])
        record[received] = received_text
        record[_PROPERTIES] = _json_text(record[_PROPERTIES])
        values.append(tuple(record))
    before = raw.total_changes
    connection.exec_driver_sql(_SQLITE_INSERT, values)
    inserted = raw.total_changes - before
    if inserted == len(values):
        return {row["dedup_key"] for row in rows}
    # Some keys were stored by another writer before this one took the write lock, which it
    # holds from its first write on: its rows are the newest ids.
    newest = connection.exec_driver_sql(
        "SELECT dedup_key FROM events ORDER BY id DESC LIMIT ?", (inserted,)
    )
    return {bytes(key) for key in newest.scalars()}


# A small batch (one group of API requests) on PostgreSQL: one statement, columns as arrays.
_UNNEST_TYPES: Final = {
    "contact_id": "bigint",
    "occurred_at": "timestamptz",
    "received_at": "timestamptz",
    "properties": "jsonb",
    "dedup_key": "bytea",
    "payload_hash": "bytea",
}
_UNNEST_INSERT: Final = (
    f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) SELECT * FROM unnest("  # noqa: S608
    + ", ".join(f"%s::{_UNNEST_TYPES.get(name, 'text')}[]" for name in EVENT_COLUMNS)
    + ") ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key"
)


def insert_few_events(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[bytes]:
    """PostgreSQL: a few events in one `INSERT … SELECT unnest(arrays) ON CONFLICT DO NOTHING
    RETURNING` (less than half the time of the ORM's multi-row statement)."""
    columns: list[list[Any]] = [[] for _ in EVENT_COLUMNS]
    for row in rows:
        for column, value in zip(columns, _RECORD(row), strict=True):
            column.append(value)
    columns[_PROPERTIES] = [_json_text(value) for value in columns[_PROPERTIES]]
    with driver_connection(session).cursor() as cursor:
        cursor.execute(_UNNEST_INSERT, columns)
        return {bytes(key) for (key,) in cursor.fetchall()}


def _copy_events(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[bytes]:
    """COPY straight into `events`; when a key was stored meanwhile by another transaction (the
    COPY fails on the unique index), undo it and go through the staging table instead."""
    from psycopg.errors import UniqueViolation  # noqa: PLC0415 - PostgreSQL only

    with driver_connection(session).cursor() as cursor:
        cursor.execute("SAVEPOINT leadsift_events_copy")
        try:
            with cursor.copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                copy.set_types(_DIRECT_TYPES)
                write_row = copy.write_row
                for row in rows:
                    write_row(_RECORD(row))
        except UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT leadsift_events_copy")
            return _staged(cursor, rows)
        finally:
            cursor.execute("RELEASE SAVEPOINT leadsift_events_copy")
    return {row["dedup_key"] for row in rows}


def _staged(cursor: Any, rows: Sequence[Mapping[str, Any]]) -> set[bytes]:
    cursor.execute(_CREATE_STAGING)
    with cursor.copy(f"COPY {_STAGING} ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
        copy.set_types(_COPY_TYPES)
        write_row = copy.write_row
        for row in rows:
            record = list(_RECORD(row))
            record[_PROPERTIES] = _json_text(record[_PROPERTIES])
            write_row(record)
    cursor.execute(_MOVE_STAGED)
    inserted = {bytes(key) for (key,) in cursor.fetchall()}
    cursor.execute(f"TRUNCATE {_STAGING}")
    return inserted
