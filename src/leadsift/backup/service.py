"""Backups through SQLite's online backup API or pg_dump/pg_restore — never a file copy."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from leadsift.db import Database
from leadsift.errors import InvalidInputError, LeadsiftError

PG_TIMEOUT_SECONDS = 3600


def _libpq_url(url: str) -> str:
    """The SQLAlchemy URL as a libpq connection string (no driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_path(database: Database) -> str:
    return make_url(database.url).database or ""


def backup(database: Database, target: Path) -> dict[str, object]:
    """Write a consistent copy of the live database to TARGET (atomically replaced)."""
    if not target.parent.is_dir():
        raise InvalidInputError(f"cannot write {target}: folder {target.parent} does not exist")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    if database.dialect == "sqlite":
        source = sqlite3.connect(_sqlite_path(database))
        destination = sqlite3.connect(partial)
        try:
            source.backup(destination)
        finally:
            destination.close()
            source.close()
    else:
        _run_pg(
            "pg_dump",
            "--format=custom",
            "--no-owner",
            f"--file={partial}",
            f"--dbname={_libpq_url(database.url)}",
        )
    partial.replace(target)
    return {"file": str(target), "bytes": target.stat().st_size, "engine": database.dialect}


def _check_sqlite_backup(source: Path) -> None:
    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise InvalidInputError(f"{source.name} is not a SQLite backup ({exc})") from exc
    finally:
        conn.close()
    if "alembic_version" not in tables:
        raise InvalidInputError(f"{source.name} is not a leadsift backup (no schema version)")


def restore(database: Database, source: Path) -> dict[str, object]:
    """Replace the database's content with a backup made by `backup`."""
    if not source.is_file():
        raise InvalidInputError(f"no backup file {source}")
    if database.dialect == "sqlite":
        _check_sqlite_backup(source)
        database.engine.dispose()
        origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        target = sqlite3.connect(_sqlite_path(database))
        try:
            origin.backup(target)
        finally:
            target.close()
            origin.close()
    else:
        if source.read_bytes()[:5] != b"PGDMP":
            raise InvalidInputError(f"{source.name} is not a pg_dump custom-format backup")
        _run_pg(
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            f"--dbname={_libpq_url(database.url)}",
            str(source),
        )
    return {"file": str(source), "engine": database.dialect}


def _run_pg(tool: str, *args: str) -> None:
    executable = shutil.which(tool)
    if executable is None:
        raise LeadsiftError(f"{tool} is not installed: install the PostgreSQL client tools")
    result = subprocess.run(  # noqa: S603 - fixed executable, arguments are not shell-parsed
        [executable, *args], capture_output=True, text=True, timeout=PG_TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["no message"]
        raise LeadsiftError(f"{tool} failed: {lines[-1]}")
