"""Writing many rows below SQLAlchemy: the driver's connection, and values as SQLAlchemy writes
them (so ORM reads see the same thing). Used where per-row parameter processing would cost more
than the database's own work (a million rows)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session


def is_postgres(session: Session) -> bool:
    """Whether the session talks to PostgreSQL."""
    return session.get_bind().dialect.name == "postgresql"


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
