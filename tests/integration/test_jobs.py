"""Long jobs run by the runner (both engines): the same results as the commands, clear failures,
dead workers' jobs requeued once then failed, one claim per job, idempotency, cancelling, files
kept a week; and the pure rules they rest on."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from leadsift.access.schemas import COMMAND_LINE, Caller, Role
from leadsift.config import Settings
from leadsift.contacts.models import Contact, ImportBatch
from leadsift.db import Database
from leadsift.errors import ConflictError, DatabaseError, InvalidInputError
from leadsift.jobs import repository, runner, service, tasks
from leadsift.jobs.schemas import (
    JobKind,
    JobStatus,
    JobView,
    PlaybookText,
    StoredPlaybook,
    TrainingRun,
    after_death,
    decode_cursor,
    describe_unexpected,
    encode_cursor,
    is_dead,
    may_see,
    public_parameters,
    request_hash,
    safe_file_name,
)
from leadsift.kit.clock import utcnow
from tests.cli.helpers import run
from tests.files import FRENCH_CRM_EXPECTED, write_csv, write_french_crm
from tests.integration.test_predictive import _people as buyers

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "meal-delivery-lyon"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CONTACT_OPTIONS: dict[str, Any] = {
    "map": [], "default_region": "FR", "generate_ids": False, "update": False,
    "dry_run": False, "encoding": None,
}  # fmt: skip
EVENT_OPTIONS: dict[str, Any] = {
    "default_region": "FR", "source": None, "campaign": None, "dry_run": False, "encoding": None,
}  # fmt: skip


@pytest.fixture
def db(committed_db_url: str) -> Iterator[Database]:
    """A database the runner commits to (a fresh SQLite file, or PostgreSQL emptied)."""
    database = Database(committed_db_url, Settings(database_url=committed_db_url)).ready()
    try:
        yield database
    finally:
        database.dispose()


def queue(
    database: Database,
    kind: JobKind,
    parameters: dict[str, Any],
    *,
    folder: Path | None = None,
    by: str = "key:1",
) -> int:
    """Queue a job as the API would."""
    with database.unit_of_work() as session:
        job, created = service.enqueue(
            session, kind, parameters, created_by=by, now=utcnow(), folder=folder
        )
        assert created
        return job.id


def queue_import(database: Database, kind: JobKind, file: Path, **options: Any) -> int:
    """Store FILE as an upload and queue its import."""
    with file.open("rb") as source:
        stored = service.store_upload(service.uploads_dir(database.url), file.name, source, 10**8)
    defaults = CONTACT_OPTIONS if kind is JobKind.IMPORT_CONTACTS else EVENT_OPTIONS
    parameters = {"file": stored.parameters(), **defaults, **options}
    return queue(database, kind, parameters, folder=stored.folder)


def job_view(database: Database, job_id: int) -> JobView:
    """The job as its creator sees it."""
    with database.unit_of_work(read_only=True) as session:
        return service.view(service.visible(session, COMMAND_LINE, job_id))


def count(database: Database, model: type) -> int:
    """Rows of a table."""
    with database.unit_of_work(read_only=True) as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def write_events(path: Path) -> Path:
    """A few recent events of the example's contacts (enough to qualify one of them)."""
    when = (utcnow() - timedelta(days=1)).isoformat(timespec="seconds")
    rows = [
        "type,email,occurred_at,path",
        f"page_view,sophie.blanc@example.com,{when},/pricing",
        f"form_submitted,sophie.blanc@example.com,{when},/contact",
        f"page_view,karim.benali@example.com,{when},/menu",
        f"page_view,nobody@example.com,{when},/menu",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_jobs_give_what_the_commands_print_on_a_fresh_database(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = write_events(tmp_path / "events.csv")
    playbook_yaml = (EXAMPLE / "playbook.yaml").read_text(encoding="utf-8")
    with db.unit_of_work(read_only=True) as session:
        playbook = service.playbook_parameters(
            session, PlaybookText(yaml=playbook_yaml, source="playbook.yaml")
        )
    queued = [
        queue_import(db, JobKind.IMPORT_CONTACTS, EXAMPLE / "contacts.csv"),
        queue(db, JobKind.QUALIFY, {"playbook": playbook, "dry_run": False}),
        queue_import(db, JobKind.IMPORT_EVENTS, events),
        queue(db, JobKind.SCORE, {"playbook": None, "dry_run": False}),
    ]
    assert [runner.run_one(db, utcnow()) for _ in queued] == queued  # oldest first
    assert runner.run_next(db, utcnow()) is False
    jobs = [job_view(db, job_id) for job_id in queued]
    assert [(j.status, j.error) for j in jobs] == [(JobStatus.SUCCEEDED, None)] * 4

    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    commands = [
        ["import", "contacts", str(EXAMPLE / "contacts.csv")],
        ["qualify", "--playbook", str(EXAMPLE / "playbook.yaml")],
        ["import", "events", str(events)],
        ["score"],
    ]
    for job, command in zip(jobs, commands, strict=True):
        printed = run(capsys, "--db", fresh, "--json", *command)
        assert printed.code == 0, printed.err
        expected, got = printed.json(), dict(job.result or {})
        for key in ("seconds", *(() if db.dialect == "sqlite" else ("batch_id",))):
            expected.pop(key, None)
            got.pop(key, None)
        assert got == expected, command
    assert jobs[2].result is not None and jobs[2].result["inserted"] == 3
    # Imports report their progress (bytes of the file); the other commands cannot.
    for job in (jobs[0], jobs[2]):
        assert job.progress is not None and job.progress.done == job.progress.total > 0
    assert jobs[1].progress is None
    # A playbook applied once can be named instead of sent again.
    with db.unit_of_work(read_only=True) as session:
        named = service.playbook_parameters(session, StoredPlaybook(name=playbook["name"]))
    assert named == playbook
    # Uploads are deleted once imported; the parameters never show where they were.
    assert "path" not in jobs[0].parameters["file"]
    assert jobs[0].parameters["file"]["name"] == "contacts.csv"
    with db.unit_of_work(read_only=True) as session:
        stored = repository.get(session, queued[0])
        assert stored is not None
        assert not Path(stored.parameters["file"]["path"]).exists()


def test_rejected_rows_are_reported_and_a_dry_run_writes_nothing(
    db: Database, tmp_path: Path
) -> None:
    crm = write_french_crm(tmp_path / "crm.csv")
    dry = queue_import(db, JobKind.IMPORT_CONTACTS, crm, dry_run=True)
    real = queue_import(db, JobKind.IMPORT_CONTACTS, crm)
    runner.run_one(db, utcnow())
    tried = job_view(db, dry)
    assert tried.status is JobStatus.SUCCEEDED and tried.result is not None
    assert (tried.result["dry_run"], tried.result["batch_id"]) == (True, None)
    assert count(db, Contact) == 0 and count(db, ImportBatch) == 0
    runner.run_one(db, utcnow())
    done = job_view(db, real)
    assert done.result is not None
    assert {k: done.result[k] for k in FRENCH_CRM_EXPECTED} == FRENCH_CRM_EXPECTED
    assert count(db, Contact) == 4
    assert done.rejects == f"/api/v1/jobs/{real}/rejects"
    with db.unit_of_work(read_only=True) as session:
        report = service.rejects_file(service.visible(session, COMMAND_LINE, real))
    assert report is not None
    lines = report.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "row,column,value,reason,message" and len(lines) == 1 + 5
    # A week later the folder is gone, and the job says so.
    assert runner.purge_files(db, utcnow() + timedelta(days=6)) == 0
    assert runner.purge_files(db, utcnow() + runner.KEEP_FILES + timedelta(minutes=1)) == 2
    assert not report.parent.exists()
    assert job_view(db, real).rejects is None


def test_a_bad_file_or_a_missing_model_fails_the_job_with_a_clear_message(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / "contacts.csv"
    binary.write_bytes(b"\x00\x01\x02\x03 not a table \xff\xfe" * 20)
    bad_file = queue_import(db, JobKind.IMPORT_CONTACTS, binary)
    no_model = queue(db, JobKind.MODEL_SCORE, {})
    for _ in range(2):
        runner.run_one(db, utcnow())
    failed = job_view(db, bad_file)
    assert failed.status is JobStatus.FAILED and failed.result is None
    assert failed.error is not None and failed.error.code == "import_file"
    assert "contacts.csv" in failed.error.message and "binary" in failed.error.message
    assert count(db, ImportBatch) == 0
    missing = job_view(db, no_model)
    assert missing.error is not None
    assert (missing.error.code, missing.status) == ("not_found", JobStatus.FAILED)
    assert "no active model" in missing.error.message

    # A surprise (a bug) fails the job with one line, never a traceback, and the runner lives on.
    def broken(*_: Any) -> Any:
        raise RuntimeError("boom\n  File 'x.py', line 1")

    monkeypatch.setitem(tasks.TASKS, JobKind.MODEL_SCORE, broken)
    surprise = queue(db, JobKind.MODEL_SCORE, {})
    assert runner.run_next(db, utcnow()) is True
    error = job_view(db, surprise).error
    assert error is not None and error.code == "internal"
    assert error.message.startswith("unexpected RuntimeError: boom")
    assert "File" not in error.message


def test_a_model_is_trained_then_scores_everyone_through_jobs(db: Database, tmp_path: Path) -> None:
    header, rows, _ = buyers(400)
    queue_import(db, JobKind.IMPORT_CONTACTS, write_csv(tmp_path / "people.csv", header, rows))
    request = TrainingRun(label="bought", positive="yes", cv=3, exclude=["call_minutes"])
    trained = queue(db, JobKind.MODEL_TRAIN, request.model_dump(mode="json"))
    scored = queue(db, JobKind.MODEL_SCORE, {})
    while runner.run_next(db, utcnow()):
        pass
    training, scoring = job_view(db, trained), job_view(db, scored)
    assert (training.status, scoring.status) == (JobStatus.SUCCEEDED, JobStatus.SUCCEEDED)
    assert training.result is not None and scoring.result is not None
    assert (training.result["rows"], training.result["activated"]) == (400, True)
    assert (scoring.result["model_id"], scoring.result["contacts"]) == (
        training.result["model_id"], 400
    )  # fmt: skip


def _claim(database: Database, now: datetime, worker: str, token: str = "t" * 32) -> int | None:
    with database.unit_of_work() as session:
        job = repository.claim(session, token, worker, now)
        return job.id if job is not None else None


def test_a_dead_workers_job_is_requeued_once_then_failed(db: Database) -> None:
    job_id = queue(db, JobKind.MODEL_SCORE, {})
    assert _claim(db, NOW, "elsewhere:4242") == job_id
    # Alive as far as anyone can tell: left alone.
    assert runner.recover(db, NOW + timedelta(minutes=4)) == []
    assert runner.recover(db, NOW + timedelta(minutes=6)) == [(job_id, JobStatus.QUEUED)]
    requeued = job_view(db, job_id)
    assert (requeued.status, requeued.attempts, requeued.error) == (JobStatus.QUEUED, 1, None)
    assert "elsewhere:4242 stopped during attempt 1" in requeued.warnings[0]
    assert _claim(db, NOW + timedelta(minutes=7), "elsewhere:4242") == job_id
    assert runner.recover(db, NOW + timedelta(minutes=13)) == [(job_id, JobStatus.FAILED)]
    failed = job_view(db, job_id)
    assert failed.status is JobStatus.FAILED and failed.error is not None
    assert failed.error.code == "worker_died" and "queue it again" in failed.error.message
    assert runner.run_one(db, utcnow()) is None


def test_a_worker_gone_from_this_host_is_seen_at_once(db: Database) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
    gone = f"{socket.gethostname()}:{int(finished.stdout)}"
    job_id = queue(db, JobKind.MODEL_SCORE, {})
    now = utcnow()
    assert _claim(db, now, gone) == job_id
    assert runner.recover(db, now + timedelta(seconds=1)) == [(job_id, JobStatus.QUEUED)]
    # This process is alive: its job stays running.
    assert _claim(db, now, runner.worker_name()) == job_id
    assert runner.recover(db, now + timedelta(seconds=1)) == []


def test_two_runners_never_claim_the_same_job(db: Database) -> None:
    job_id = queue(db, JobKind.MODEL_SCORE, {})
    now = utcnow()
    if db.dialect == "sqlite":
        # Writers are serialised: the second claim begins after the first committed.
        assert _claim(db, now, "a:1", "a" * 32) == job_id
        assert _claim(db, now, "b:2", "b" * 32) is None
    else:
        with db.unit_of_work() as first:
            claimed = repository.claim(first, "a" * 32, "a:1", now)
            assert claimed is not None and claimed.id == job_id
            # The row is locked by the first transaction, still open: skipped, not waited for.
            with db.unit_of_work() as second:
                assert repository.claim(second, "b" * 32, "b:2", now) is None
    with db.unit_of_work(read_only=True) as session:
        stored = repository.get(session, job_id)
        assert stored is not None and (stored.claim_token, stored.attempts) == ("a" * 32, 1)


def test_a_job_taken_from_its_worker_is_not_run_by_it(db: Database) -> None:
    job_id = queue_import(db, JobKind.IMPORT_CONTACTS, EXAMPLE / "contacts.csv")
    assert _claim(db, NOW, "elsewhere:1", "old" + "0" * 29) == job_id
    runner.recover(db, NOW + timedelta(hours=1))
    with db.unit_of_work(read_only=True) as session:
        stored = repository.get(session, job_id)
        assert stored is not None
        claimed = runner._Claimed(job_id, JobKind.IMPORT_CONTACTS, stored.parameters, None)
    runner._execute(db, claimed, "old" + "0" * 29)  # the slow worker carries on, too late
    assert job_view(db, job_id).status is JobStatus.QUEUED
    assert count(db, Contact) == 0
    assert runner.run_one(db, utcnow()) == job_id  # the next worker does the work, once
    assert job_view(db, job_id).status is JobStatus.SUCCEEDED
    assert count(db, ImportBatch) == 1


def test_a_busy_database_leaves_the_job_for_later_then_fails_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def locked(*_: Any) -> Any:
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    job_id = queue(db, JobKind.MODEL_SCORE, {})
    monkeypatch.setattr(runner, "purge_files", locked)
    with pytest.raises(DatabaseError, match="jobs wait: the database is busy"):
        runner.run_pending(db, utcnow())
    monkeypatch.undo()
    # The database fails the job's own work: queued again once (the pass stops), then failed.
    monkeypatch.setitem(tasks.TASKS, JobKind.MODEL_SCORE, locked)
    with pytest.raises(DatabaseError, match="database is locked"):
        runner.run_pending(db, utcnow())
    again = job_view(db, job_id)
    assert (again.status, again.attempts) == (JobStatus.QUEUED, 1)
    assert again.warnings == [
        "attempt 1: the database was busy or unreachable (unexpected Exception: database is "
        "locked (the worker's log has the details))"
    ]
    with pytest.raises(DatabaseError):
        runner.run_one(db, utcnow())
    failed = job_view(db, job_id)
    assert failed.status is JobStatus.FAILED and failed.error is not None
    assert failed.error.code == "database" and "twice" in failed.error.message


def test_the_worker_runs_what_is_queued(db: Database) -> None:
    first, second = queue(db, JobKind.MODEL_SCORE, {}), queue(db, JobKind.MODEL_SCORE, {})
    assert runner.run_pending(db, utcnow()) == 2
    assert {job_view(db, i).status for i in (first, second)} == {JobStatus.FAILED}
    assert runner.run_pending(db, utcnow()) == 0


def test_an_idempotency_key_names_one_request(db: Database) -> None:
    def ask(key: str | None, parameters: dict[str, Any], by: str = "key:1") -> tuple[int, bool]:
        with db.unit_of_work() as session:
            job, created = service.enqueue(
                session, JobKind.MODEL_TRAIN, parameters, created_by=by, now=utcnow(),
                idempotency_key=key,
            )  # fmt: skip
            return job.id, created

    first = ask("k-1", {"cv": 5})
    assert ask("k-1", {"cv": 5}) == (first[0], False)
    assert ask("k-1", {"cv": 5}, by="key:2")[1] is True  # keys are per caller
    assert ask(None, {"cv": 5})[1] and ask(None, {"cv": 5})[1]  # no key: a new job each time
    with pytest.raises(ConflictError, match=f"used for another request \\(job {first[0]}\\)"):
        ask("k-1", {"cv": 3})


def test_only_a_queued_job_is_cancelled(db: Database) -> None:
    waiting, busy = queue(db, JobKind.MODEL_SCORE, {}), queue(db, JobKind.MODEL_SCORE, {})
    with db.unit_of_work() as session:
        assert service.cancel(session, COMMAND_LINE, waiting, utcnow()).status == "cancelled"
    assert _claim(db, utcnow(), runner.worker_name()) == busy
    for job_id, word in ((waiting, "is cancelled"), (busy, "ends by itself")):
        with db.unit_of_work() as session, pytest.raises(ConflictError, match=word):
            service.cancel(session, COMMAND_LINE, job_id, utcnow())


# The pure rules.


def test_a_worker_is_dead_when_silent_or_gone_from_this_host() -> None:
    alive = {10}.__contains__
    fresh = NOW - timedelta(minutes=1)
    assert not is_dead("here:10", fresh, NOW, "here", alive=alive)
    assert is_dead("here:11", fresh, NOW, "here", alive=alive)  # process gone
    assert not is_dead("there:11", fresh, NOW, "here", alive=alive)  # another host: trusted
    assert is_dead("there:11", NOW - timedelta(minutes=6), NOW, "here", alive=alive)
    assert is_dead("here:10", None, NOW, "here", alive=alive)
    assert [after_death(n) for n in (1, 2, 3)] == [
        JobStatus.QUEUED, JobStatus.FAILED, JobStatus.FAILED
    ]  # fmt: skip


def test_who_sees_a_job() -> None:
    admin = Caller(actor="user:1", user_id=1, role=Role.ADMIN, scope="read")
    manager = Caller(actor="user:2", user_id=2, role=Role.MANAGER, scope="admin")
    integration = Caller(actor="key:3", scope="admin")
    ingest = Caller(actor="key:4", scope="ingest")
    assert all(may_see(c, "key:9") for c in (admin, integration, COMMAND_LINE))
    assert not any(may_see(c, "key:9") for c in (manager, ingest))
    assert may_see(ingest, "key:4") and may_see(manager, "user:2")


def test_cursors_file_names_and_what_is_shown() -> None:
    assert decode_cursor(encode_cursor(41)) == 41
    for bad in ("0", "-1", "abc", "1" * 19, ""):
        with pytest.raises(InvalidInputError, match="not a cursor"):
            decode_cursor(bad)
    assert safe_file_name("../../etc/passwd") == "passwd"
    assert safe_file_name("C:\\exports\\Clients été.csv") == "Clients_t_.csv"
    assert safe_file_name("..hidden.xlsx") == "hidden.xlsx"
    assert safe_file_name(None) == safe_file_name("..") == "upload"
    long = safe_file_name("x" * 300 + ".csv.gz")
    assert len(long) == 120 and long.endswith("x.csv.gz")
    parameters = {
        "file": {"name": "a.csv", "bytes": 3, "sha256": "ab", "path": "/srv/x/a.csv"},
        "playbook": {"name": "P", "source": "p.yaml", "text": "name: P"},
    }
    shown = public_parameters(parameters)
    assert shown["file"] == {"name": "a.csv", "bytes": 3, "sha256": "ab"}
    assert set(shown["playbook"]) == {"name", "source", "sha256"}
    moved = {**parameters, "file": {**parameters["file"], "path": "/elsewhere/a.csv"}}
    assert request_hash(JobKind.IMPORT_CONTACTS, parameters) == request_hash(
        JobKind.IMPORT_CONTACTS, moved
    )
    other_text = {**parameters, "playbook": {**parameters["playbook"], "text": "name: Q"}}
    assert request_hash(JobKind.QUALIFY, parameters) != request_hash(JobKind.QUALIFY, other_text)


def test_an_unexpected_database_error_shows_no_sql_nor_values() -> None:
    problem = OperationalError(
        "INSERT INTO contacts (email) VALUES (?)", ("ann@example.com",), Exception("disk I/O error")
    )
    assert describe_unexpected(problem) == (
        "unexpected Exception: disk I/O error (the worker's log has the details)"
    )
