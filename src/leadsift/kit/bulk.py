"""What differs between the two engines when writing: which one this is, its INSERT with
ON CONFLICT (an upsert), and for writes below SQLAlchemy — where per-row parameter processing
would cost more than the database's own work (a million rows) — the driver's connection and the
values as SQLAlchemy writes them (so ORM reads see the same thing)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    """Whether the session talks to PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


def dialect_insert(session: Session) -> Any:
    """The engine's own INSERT construct, which has `on_conflict_do_nothing|update`."""
    return postgresql_insert if is_postgres(session) else sqlite_insert


def driver_connection(session: Session) -> Any:
    """The DBAPI connection (sqlite3 or psycopg) of the session's transaction."""
    raw = session.connection().connection.driver_connection
    if raw is None:
        raise RuntimeError("the session has no live connection")
    return raw


def sqlite_timestamp(moment: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime writes (UtcDateTime converts to UTC first):
    `2025-01-31 09:00:00.000000`, from isoformat, several times faster than strftime."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to a UtcDateTime column")
    return moment.astimezone(UTC).isoformat(" ", "microseconds")[:26]
