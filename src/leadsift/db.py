"""Engines, sessions and the unit of work; migrations are applied on first use."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from leadsift.config import Settings
from leadsift.errors import ConfigurationError, DatabaseError
from leadsift.migrations import current_revision, head_revision, upgrade_to_head

logger = logging.getLogger("leadsift.db")
SQLITE_PRAGMAS = ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
# Execution option marking connections whose transactions write (SQLite: BEGIN IMMEDIATE).
WRITES_OPTION = "leadsift_writes"


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, background_checkpoints: bool) -> None:
    """WAL, synchronous=FULL, foreign keys, busy timeout, and explicit BEGIN for savepoints."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (pysqlite's implicit BEGIN breaks SAVEPOINT).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # Deleted rows are overwritten where it costs no extra I/O: an erased person's data does
        # not linger in free pages of the file (GDPR erasure).
        cursor.execute("PRAGMA secure_delete = FAST")
        if background_checkpoints:
            # A commit that crosses the WAL's size limit copies it into the database and waits
            # for the disk: tens of milliseconds in one request's answer. `WalCheckpointer` does
            # it in its own thread instead.
            cursor.execute("PRAGMA wal_autocheckpoint = 0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A transaction that writes takes the write lock when it begins: a deferred one that
        # has read and then writes while another connection writes fails at once with
        # "database is locked" (its snapshot is stale), whatever the busy timeout.
        writes = conn.get_execution_options().get(WRITES_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def check_sqlite_pragmas(engine: Engine) -> dict[str, Any]:
    """Read the pragmas back and fail if SQLite did not take them (e.g. WAL on a network FS)."""
    with engine.connect() as conn:
        values = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in SQLITE_PRAGMAS}
    expected = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}
    for name, want in expected.items():
        if values[name] != want:
            raise DatabaseError(
                f"SQLite refused PRAGMA {name}={want} (got {values[name]!r}); "
                "put the database file on a local disk"
            )
    return values


def make_engine(url: str, settings: Settings | None = None) -> Engine:
    """Create an engine for URL with leadsift's connection settings; nothing is global."""
    settings = settings or Settings()
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            f"cannot parse database URL {url!r}: use sqlite:///path.db or "
            "postgresql+psycopg://user@host/dbname"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise ConfigurationError("use a SQLite file (sqlite:///path.db): WAL needs a file")
        parent = Path(database).expanduser().resolve().parent
        if not parent.is_dir():
            raise ConfigurationError(f"cannot create database {database}: {parent} does not exist")
        engine = create_engine(
            parsed, connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000}
        )
        _configure_sqlite(
            engine, settings.sqlite_busy_timeout_ms, settings.sqlite_background_checkpoints
        )
    elif backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, pool_pre_ping=True)
    else:
        raise ConfigurationError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")
    return engine


@dataclass
class Database:
    """An engine, its session factory and the migration state of one workspace database."""

    url: str
    settings: Settings = field(default_factory=Settings)
    engine: Engine = field(init=False)
    sessions: sessionmaker[Session] = field(init=False)
    reading_sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url, self.settings)
        writer = self.engine.execution_options(**{WRITES_OPTION: True})
        self.sessions = sessionmaker(writer, expire_on_commit=False)
        self.reading_sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        """The backend name: 'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    def check(self) -> None:
        """Connect once, and for SQLite verify the pragmas; raise DatabaseError otherwise."""
        try:
            if self.dialect == "sqlite":
                check_sqlite_pragmas(self.engine)
            else:
                with self.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise DatabaseError(f"cannot open database {self.safe_url}: {reason}") from exc

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, for messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    def needs_upgrade(self) -> bool:
        """True when the schema is missing or older than the code's newest migration."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return True
            return current_revision(conn) != head_revision()

    def upgrade(self) -> None:
        """Apply every pending migration (idempotent)."""
        with self.engine.begin() as conn:
            upgrade_to_head(conn)

    def ready(self) -> Database:
        """Check the connection and migrate if needed; called before first use."""
        self.check()
        if self.needs_upgrade():
            self.upgrade()
        return self

    @contextmanager
    def unit_of_work(self, *, dry_run: bool = False, read_only: bool = False) -> Iterator[Session]:
        """A session whose transaction commits when the block ends (rolls back on error, and
        always for a dry run). On SQLite a writing one holds the write lock from its start;
        READ_ONLY work (an API read) never waits for writers."""
        session = (self.reading_sessions if read_only else self.sessions)()
        try:
            yield session
            if dry_run:
                session.rollback()
            else:
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


class WalCheckpointer:
    """Copies SQLite's write-ahead log into the database from its own thread, every INTERVAL
    seconds, without blocking writers (for servers, whose connections skip the automatic
    checkpoint); a no-op on PostgreSQL."""

    def __init__(self, database: Database, interval: float = 0.5) -> None:
        self.database = database
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leadsift-checkpoint", daemon=True)

    def start(self) -> None:
        """Start checkpointing (SQLite only)."""
        if self.database.dialect == "sqlite":
            self._thread.start()

    def stop(self) -> None:
        """Stop, after a last checkpoint that also empties the log."""
        if not self._thread.is_alive():
            return
        self._stop.set()
        self._thread.join(30)
        self._checkpoint("TRUNCATE")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._checkpoint("PASSIVE")

    def _checkpoint(self, mode: str) -> None:
        try:
            with self.database.engine.connect() as conn:
                conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})")
        except OperationalError:  # busy: the next round catches up
            logger.debug("checkpoint %s skipped", mode, exc_info=True)
