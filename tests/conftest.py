"""Fixtures: migrated databases (SQLite, and PostgreSQL when configured), rollback per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session
from threadpoolctl import threadpool_limits

from leadsift.config import Settings
from leadsift.db import Database


def _postgres_url_of_this_worker() -> str | None:
    """The PostgreSQL test database, one per pytest-xdist worker (`test` → `test_gw1`, created
    when missing) so that parallel workers never empty each other's tables."""
    url = os.environ.get("LEADSIFT_TEST_POSTGRES_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    base = make_url(url)
    own = base.set(database=f"{base.database}_{worker}")
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            known = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": own.database}
            ).first()
            if known is None:
                conn.execute(text(f'CREATE DATABASE "{own.database}"'))
    finally:
        engine.dispose()
    return own.render_as_string(hide_password=False)


POSTGRES_URL = _postgres_url_of_this_worker()
# The real data sets sit beside the checkout (../shared/data); a clone elsewhere finds them
# through LEADSIFT_SHARED_DATA or the workplace's usual place.
SHARED_DATA = next(
    (
        path
        for path in (
            Path(os.environ.get("LEADSIFT_SHARED_DATA", "")),
            Path(__file__).resolve().parents[2] / "shared" / "data",
            Path("/work/shared/data"),
        )
        if str(path) != "." and path.is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "data",
)
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]

# Two processes on two cores must not each start a thread per core.
threadpool_limits(1)


def shared_data(*parts: str) -> Path:
    """A file of ../shared/data, or skip with the reason when this checkout has none."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data set not available at {path}")
    return path


def reset_postgres(url: str) -> None:
    """Drop every table so the run starts from the migrations, as a new install would."""
    database = Database(url)
    with database.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    database.dispose()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Database]]:
    """One migrated database per backend for the whole run."""
    found: dict[str, Database] = {}
    sqlite_file = tmp_path_factory.mktemp("db") / "test.db"
    found["sqlite"] = Database(f"sqlite:///{sqlite_file}", Settings()).ready()
    if POSTGRES_URL:
        reset_postgres(POSTGRES_URL)
        found["postgresql"] = Database(POSTGRES_URL, Settings()).ready()
    yield found
    for database in found.values():
        database.dispose()


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, databases: dict[str, Database]) -> Database:
    """The migrated database of one backend (the test runs once per backend)."""
    return databases[request.param]


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """A session inside a transaction rolled back after the test; services' flushes are undone."""
    connection = database.engine.connect()
    transaction = connection.begin()
    db_session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield db_session
    finally:
        db_session.close()
        transaction.rollback()
        connection.close()


def truncate_all(database: Database) -> None:
    """Empty every leadsift table (for tests that must commit, e.g. through the CLI).

    The audit log is append-only (the database refuses to delete its rows): it keeps growing,
    so tests read the entries after an id they noted, or those about their own targets.
    """
    from leadsift.models import metadata

    with database.engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table.name != "audit_log":
                conn.execute(table.delete())


@pytest.fixture(params=BACKENDS)
def committed_db_url(
    request: pytest.FixtureRequest, tmp_path: Path, databases: dict[str, Database]
) -> Iterator[str]:
    """A database URL tests may commit to: a fresh SQLite file, or PostgreSQL emptied afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'committed.db'}"
        return
    database = databases["postgresql"]
    truncate_all(database)
    try:
        yield database.url
    finally:
        truncate_all(database)


@pytest.fixture
def db_url(committed_db_url: str) -> str:
    """The URL of a database the test (and the app under test) may commit to."""
    return committed_db_url


@pytest.fixture
def committed_db(db_url: str) -> Iterator[Database]:
    """The test's own handle on the app's database (migrated), closed afterwards."""
    database = Database(db_url, Settings(database_url=db_url)).ready()
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def audit_mark(committed_db: Database) -> int:
    """The last audit entry's id when the test starts (the log is append-only, never emptied)."""
    with committed_db.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM audit_log")).scalar_one())
