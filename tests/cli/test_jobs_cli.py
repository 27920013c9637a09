"""`leadsift jobs run|list|show|cancel` through the CLI (a fresh SQLite file): outputs, exit
codes and one-line refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leadsift.cli import app
from leadsift.config import Settings
from leadsift.db import Database
from leadsift.jobs import service
from leadsift.jobs.cli import register
from leadsift.jobs.schemas import JobKind
from leadsift.kit.clock import utcnow
from tests.cli.helpers import run
from tests.files import FRENCH_CRM_EXPECTED, write_french_crm

CapSys = pytest.CaptureFixture[str]
CONTACT_OPTIONS: dict[str, Any] = {
    "map": [], "default_region": "FR", "generate_ids": False, "update": False,
    "dry_run": False, "encoding": None,
}  # fmt: skip

# Until cli.py registers the command group itself.
if not any(group.name == "jobs" for group in app.registered_groups):
    register(app)


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A fresh workspace file."""
    return f"sqlite:///{tmp_path / 'jobs.db'}"


@pytest.fixture
def database(url: str) -> Iterator[Database]:
    """The test's own handle on it."""
    found = Database(url, Settings(database_url=url)).ready()
    try:
        yield found
    finally:
        found.dispose()


def queue(database: Database, kind: JobKind, parameters: dict[str, Any], **extra: Any) -> int:
    """Queue a job as the API would."""
    with database.unit_of_work() as session:
        job, _ = service.enqueue(
            session, kind, parameters, created_by="key:7", now=utcnow(), **extra
        )
        return job.id


def queue_import(database: Database, file: Path) -> int:
    """Store FILE as an upload and queue its contact import."""
    with file.open("rb") as source:
        stored = service.store_upload(service.uploads_dir(database.url), file.name, source, 10**8)
    parameters = {"file": stored.parameters(), **CONTACT_OPTIONS}
    return queue(database, JobKind.IMPORT_CONTACTS, parameters, folder=stored.folder)


def test_jobs_are_run_listed_and_shown(
    database: Database, url: str, tmp_path: Path, capsys: CapSys
) -> None:
    imported = queue_import(database, write_french_crm(tmp_path / "crm.csv"))
    no_model = queue(database, JobKind.MODEL_SCORE, {})
    waiting = run(capsys, "--db", url, "--json", "jobs", "list", "--status", "queued")
    assert waiting.code == 0, waiting.err
    assert [job["id"] for job in waiting.json()["items"]] == [no_model, imported]

    ran = run(capsys, "--db", url, "--json", "jobs", "run", "--once")
    assert ran.code == 0, ran.err
    jobs = ran.json()["jobs"]
    assert [(j["id"], j["status"]) for j in jobs] == [(imported, "succeeded"), (no_model, "failed")]
    assert jobs[1]["error"]["code"] == "not_found"
    assert run(capsys, "--db", url, "--json", "jobs", "run", "--once").json() == {"jobs": []}

    shown = run(capsys, "--db", url, "--json", "jobs", "show", str(imported))
    assert shown.code == 0, shown.err
    document = shown.json()
    assert {k: document["result"][k] for k in FRENCH_CRM_EXPECTED} == FRENCH_CRM_EXPECTED
    report = Path(document["rejects_file"])
    assert len(report.read_text(encoding="utf-8").splitlines()) == 1 + 5
    table = run(capsys, "--db", url, "jobs", "show", str(imported))
    assert "succeeded" in table.out and "rejected rows" in table.out
    failed = run(capsys, "--db", url, "--json", "jobs", "list", "--status", "failed")
    assert [job["id"] for job in failed.json()["items"]] == [no_model]
    listed = run(capsys, "--db", url, "jobs", "list")
    assert "import_contacts" in listed.out and "not_found:" in listed.out


def test_jobs_run_prints_each_job_as_it_ends(database: Database, url: str, capsys: CapSys) -> None:
    assert run(capsys, "--db", url, "jobs", "run", "--once").out.strip() == "no job was queued"
    job_id = queue(database, JobKind.MODEL_SCORE, {})
    printed = run(capsys, "--db", url, "jobs", "run", "--once")
    assert printed.code == 0, printed.err
    assert printed.out.startswith(f"job {job_id} (model_score): failed: not_found: no active model")


def test_only_a_queued_job_is_cancelled(database: Database, url: str, capsys: CapSys) -> None:
    job_id = queue(database, JobKind.MODEL_SCORE, {})
    cancelled = run(capsys, "--db", url, "--json", "jobs", "cancel", str(job_id))
    assert cancelled.code == 0, cancelled.err
    assert cancelled.json()["status"] == "cancelled"
    again = run(capsys, "--db", url, "--json", "jobs", "cancel", str(job_id))
    assert again.code == 1
    assert again.err.strip() == (
        f"error: job {job_id} is cancelled: only a queued job can be cancelled"
    )
    assert again.json()["error"]["code"] == "conflict"
    missing = run(capsys, "--db", url, "jobs", "show", "999")
    assert (missing.code, missing.err.strip()) == (1, "error: no job 999")
    assert run(capsys, "--db", url, "jobs", "list", "--after", "x").code == 1
    assert run(capsys, "--db", url, "jobs", "list", "--status", "done").code == 2
