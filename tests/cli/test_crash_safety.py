"""kill -9 during a large import, then the same command again: every contact exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from leadsift.contacts.models import Contact
from leadsift.db import Database
from tests.files import synthetic_contacts, write_csv

COUNT = 150_000


def _leadsift(*args: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "import sys; from leadsift.cli import main; sys.exit(main())",
        *args,
    ]


@pytest.mark.slow
def test_kill_9_then_rerun_leaves_each_contact_once(committed_db_url: str, tmp_path: Path) -> None:
    header, rows = synthetic_contacts(COUNT)
    path = write_csv(tmp_path / "big.csv", header, rows)
    command = _leadsift(
        "--db", committed_db_url, "--json", "import", "contacts", str(path), "--workers", "1"
    )
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    database = Database(committed_db_url)
    try:
        _wait_until_writing(database, process)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        with database.engine.connect() as conn:
            # All or nothing: the kill usually lands mid-import (nothing visible); if it lands
            # during the commit, the whole batch is there. Never a part of it.
            seen = conn.execute(select(func.count()).select_from(Contact)).scalar_one()
            assert seen in (0, COUNT)
        finished = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        assert finished.returncode == 0, finished.stderr
        with database.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Contact)).scalar_one() == COUNT
            distinct = select(func.count(func.distinct(Contact.email)))
            assert conn.execute(distinct).scalar_one() == COUNT
    finally:
        if process.poll() is None:
            process.kill()
        database.dispose()


def _wait_until_writing(database: Database, process: subprocess.Popen[bytes]) -> None:
    """Wait until the import is busy: COPY running on PostgreSQL; on SQLite, a second of work
    after the schema exists (its 128 MB page cache keeps the write-ahead log empty until the
    commit)."""
    started = time.monotonic()
    migrated_at: float | None = None
    deadline = started + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the import finished before it could be killed"
        if database.dialect == "postgresql":
            with database.engine.connect() as conn:
                busy = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE :q"),
                    {"q": "COPY contacts%"},
                ).scalar_one()
            if busy:
                return
        elif _migrated(database):
            # A second into the import's own transaction (the migrations commit first).
            migrated_at = migrated_at or time.monotonic()
            wal = Path(f"{database.engine.url.database}-wal")
            if time.monotonic() - migrated_at > 1.0 or (wal.exists() and wal.stat().st_size > 1e6):
                return
        time.sleep(0.05)
    pytest.fail("the import never started writing")


def _migrated(database: Database) -> bool:
    with database.engine.connect() as conn:
        found = conn.execute(
            text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'contacts'")
        )
        return bool(found.scalar_one())
