"""Running jobs: claim the oldest queued one, run the command's own service functions (and the
hooks `cli.py` gives that command) in one transaction that also records the outcome, and
requeue (once) the jobs of workers that died.

Why a job runs at most once to completion: its claim is committed before it runs, and its
outcome is written in the job's own transaction only while that claim holds (same id, status
running, same token). A worker found dead has its claim taken away, so if it was only slow its
final write finds no row and its whole transaction rolls back.

On SQLite a job's transaction holds the single write lock from its first statement to its
commit: nobody else can write a heartbeat or progress meanwhile, and nobody can take its claim
away either. So heartbeats and progress are written during a job on PostgreSQL only (a thread
with its own connection), and on SQLite when the job ends; a worker killed mid-job is found by
its process id (same host) or, on PostgreSQL, by its silence.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from leadsift.db import Database
from leadsift.errors import DatabaseError, LeadsiftError
from leadsift.jobs import repository, service
from leadsift.jobs.models import Job
from leadsift.jobs.schemas import (
    STALE_AFTER,
    WORKER_DIED,
    JobKind,
    JobStatus,
    after_death,
    describe_unexpected,
    is_dead,
)
from leadsift.jobs.tasks import TASKS, Run
from leadsift.kit.clock import utcnow

logger = logging.getLogger("leadsift.jobs")
HEARTBEAT_SECONDS: Final = 15.0
# An import's folder (its rejected rows report) is kept this long after the job ends.
KEEP_FILES: Final = timedelta(days=7)
# Jobs one upkeep pass of `leadsift worker` runs at most before it looks at its lanes again.
MAX_PER_PASS: Final = 20


class _LostClaim(Exception):
    """The job was taken away from this worker (found dead while it was only slow)."""


@dataclass(frozen=True)
class _Claimed:
    id: int
    kind: JobKind
    parameters: dict[str, Any]
    folder: Path | None
    attempts: int = 1

    @classmethod
    def of(cls, job: Job) -> _Claimed:
        """What the runner keeps of a claimed job once the claim's session is closed."""
        folder = Path(job.folder) if job.folder else None
        return cls(job.id, JobKind(job.kind), dict(job.parameters), folder, job.attempts)


class _Heartbeat:
    """A thread writing a running job's sign of life and progress from its own connection
    (PostgreSQL only: on SQLite the job holds the one write lock)."""

    def __init__(self, database: Database, job: _Claimed, token: str, run: Run) -> None:
        self.database, self.job, self.token, self.run = database, job, token, run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"job-{job.id}", daemon=True)

    def start(self) -> _Heartbeat:
        """Begin beating."""
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                with self.database.unit_of_work() as session:
                    repository.beat(session, self.job.id, self.token, utcnow(), self.run.progress)
            except (SQLAlchemyError, LeadsiftError) as problem:  # the next beat may pass
                logger.warning("job %s: heartbeat not written (%s)", self.job.id, problem)

    def stop(self) -> None:
        """Stop beating (before the job writes its outcome)."""
        self._stop.set()
        self._thread.join()


def worker_name() -> str:
    """This process, as a job's `worker`: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"[-300:]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(
    database: Database, now: datetime, stale_after: timedelta = STALE_AFTER
) -> list[tuple[int, JobStatus]]:
    """Take running jobs away from dead workers: back to the queue after a first death, failed
    after a second; returns (job id, new status)."""
    host = socket.gethostname()

    def dead(session: Session, *, lock: bool = False) -> list[Any]:
        jobs = repository.running(session, lock=lock)
        return [
            j
            for j in jobs
            if is_dead(j.worker, j.heartbeat_at, now, host, alive=_alive, stale_after=stale_after)
        ]

    with database.unit_of_work(read_only=True) as session:
        if not dead(session):  # a read first: no write lock when all is well
            return []
    settled: list[tuple[int, JobStatus, dict[str, Any]]] = []
    with database.unit_of_work() as session:
        for job in dead(session, lock=True):
            status = after_death(job.attempts)
            if repository.settle(session, job.id, job.claim_token or "", _death(job, status, now)):
                settled.append((job.id, status, dict(job.parameters)))
    for job_id, status, parameters in settled:
        logger.warning("job %s: its worker died; now %s", job_id, status.value)
        if status is JobStatus.FAILED:
            service.remove_upload(parameters)
    return [(job_id, status) for job_id, status, _ in settled]


def _released(
    status: JobStatus, notes: list[str], now: datetime, *, code: str, message: str
) -> dict[str, Any]:
    """A claim given up: the job back in the queue (its attempts kept), or failed with CODE."""
    if status is JobStatus.QUEUED:
        return {
            "status": status.value, "claim_token": None, "worker": None, "heartbeat_at": None,
            "progress_done": None, "progress_total": None, "warnings": notes,
        }  # fmt: skip
    return {
        "status": status.value, "claim_token": None, "finished_at": now, "warnings": notes,
        "error_code": code, "error_message": message,
    }  # fmt: skip


def _death(job: Job, status: JobStatus, now: datetime) -> dict[str, Any]:
    what = f"the worker {job.worker} stopped during attempt {job.attempts} (process gone, or no "
    what += f"sign of life for {int(STALE_AFTER.total_seconds() // 60)} minutes)"
    message = f"{what}, after another worker had died on it: see the workers' logs, then queue it "
    return _released(
        status, [*(job.warnings or []), what], now, code=WORKER_DIED, message=message + "again"
    )


def run_one(database: Database, now: datetime) -> int | None:
    """Recover dead workers' jobs, then claim the oldest queued job and run it to its end
    (succeeded or failed); the job's id, or None when none was queued."""
    try:
        recover(database, now)
        with database.unit_of_work(read_only=True) as session:
            if not repository.has_queued(session):
                return None
        token = secrets.token_hex(16)
        with database.unit_of_work() as session:
            job = repository.claim(session, token, worker_name(), now)
            if job is None:
                return None
            claimed = _Claimed.of(job)
    except OperationalError as problem:
        raise _busy(problem) from problem
    _execute(database, claimed, token)
    return claimed.id


def _busy(problem: SQLAlchemyError) -> DatabaseError:
    return DatabaseError(
        "jobs wait: the database is busy (on SQLite another process may be writing at length) "
        f"or unreachable ({describe_unexpected(problem)})"
    )


def run_next(database: Database, now: datetime) -> bool:
    """Run one queued job (see run_one); whether there was one."""
    return run_one(database, now) is not None


def _execute(database: Database, job: _Claimed, token: str) -> None:
    run = Run(database.settings, job.folder)
    beat = _Heartbeat(database, job, token, run).start() if database.dialect != "sqlite" else None
    succeeded = False
    try:
        _perform(database, job, token, run, beat)
        succeeded = True
    except _LostClaim:
        logger.warning("job %s was taken from this worker; its work was rolled back", job.id)
    except OperationalError as problem:
        # The database, not the job (busy past the timeout, the connection lost): once more
        # later, as after a worker's death, and this pass stops.
        _retry_later(database, job, token, problem)
        raise _busy(problem) from problem
    except LeadsiftError as problem:
        _fail(database, job, token, run, code=problem.code, message=problem.message)
    except Exception as problem:  # a job's surprise must not stop the worker
        logger.exception("job %s failed unexpectedly", job.id)
        _fail(database, job, token, run, code="internal", message=describe_unexpected(problem))
    finally:
        if beat is not None:
            beat.stop()
        for report in run.reports:
            report.commit() if succeeded else report.discard()
    if succeeded:
        service.remove_upload(job.parameters)


def _perform(
    database: Database, job: _Claimed, token: str, run: Run, beat: _Heartbeat | None
) -> None:
    # A dry run rolls the command's work back; only its outcome is then written.
    dry_run = bool(job.parameters.get("dry_run"))
    with database.unit_of_work(dry_run=dry_run) as session:
        # The first statement: on SQLite it takes the write lock for the whole job.
        if not repository.holds(session, job.id, token):
            raise _LostClaim
        summary = TASKS[job.kind](session, job.parameters, run)
        if beat is not None:
            beat.stop()
        outcome = _succeeded(summary, run)
        if not dry_run and not repository.settle(session, job.id, token, outcome):
            raise _LostClaim
    if dry_run:
        with database.unit_of_work() as session:
            if not repository.settle(session, job.id, token, outcome):
                raise _LostClaim


def _retry_later(database: Database, job: _Claimed, token: str, problem: Exception) -> None:
    status = after_death(job.attempts)
    what = f"attempt {job.attempts}: the database was busy or unreachable"
    notes = [f"{what} ({describe_unexpected(problem)})"]
    message = f"{notes[0]}, twice: run it again when the database is available"
    try:
        with database.unit_of_work() as session:
            repository.settle(
                session, job.id, token, _released(status, notes, utcnow(), code="database",
                                                  message=message)
            )  # fmt: skip
    except SQLAlchemyError:  # still unavailable: recover() takes the job back later
        logger.warning("job %s: its claim could not be given back yet", job.id)


def _succeeded(summary: BaseModel, run: Run) -> dict[str, Any]:
    now = utcnow()
    values: dict[str, Any] = {
        "status": JobStatus.SUCCEEDED.value,
        "result": summary.model_dump(mode="json"),
        "warnings": run.warnings or None,
        "finished_at": now,
        "heartbeat_at": now,
        "claim_token": None,
    }
    if run.progress is not None:
        values.update(progress_done=run.progress[0], progress_total=run.progress[1])
    return values


def _fail(
    database: Database, job: _Claimed, token: str, run: Run, *, code: str, message: str
) -> None:
    now = utcnow()
    values: dict[str, Any] = {
        "status": JobStatus.FAILED.value,
        "error_code": code[:40],
        "error_message": message[:2000],
        "warnings": run.warnings or None,
        "finished_at": now,
        "heartbeat_at": now,
        "claim_token": None,
    }
    with database.unit_of_work() as session:
        settled = repository.settle(session, job.id, token, values)
    if settled:
        service.remove_upload(job.parameters)


def purge_files(database: Database, now: datetime) -> int:
    """Delete the folders (rejected rows reports) of jobs finished more than KEEP_FILES ago."""
    with database.unit_of_work(read_only=True) as session:
        expired = repository.expired_folders(session, now - KEEP_FILES)
    if not expired:
        return 0
    for _, folder in expired:
        service.remove_folder(folder)
    with database.unit_of_work() as session:
        for job_id, _ in expired:
            repository.forget_folder(session, job_id)
    return len(expired)


def run_pending(database: Database, now: datetime) -> int:
    """The worker's upkeep: expired files away, then queued jobs one after another (at most
    MAX_PER_PASS); how many ran. A database that cannot be written now (SQLite busy with
    another process's long write) leaves them for the next pass."""
    ran = 0
    try:
        purge_files(database, now)
    except OperationalError as problem:
        raise _busy(problem) from problem
    while ran < MAX_PER_PASS and run_next(database, utcnow() if ran else now):
        ran += 1
    return ran
