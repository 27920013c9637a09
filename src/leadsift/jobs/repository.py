"""SQL of jobs: adding, reading pages newest first, claiming the oldest queued job (`FOR UPDATE
SKIP LOCKED` on PostgreSQL), heartbeats, and settling a job only while its claim holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, select, update
from sqlalchemy.orm import Session

from leadsift.jobs.models import Job
from leadsift.jobs.schemas import JobStatus
from leadsift.kit.bulk import is_postgres

_JOBS = cast(Table, Job.__table__)
_J = _JOBS.c
_QUEUED = JobStatus.QUEUED.value
_RUNNING = JobStatus.RUNNING.value


def add(session: Session, job: Job) -> Job:
    """Store a new job and flush so it has an id."""
    session.add(job)
    session.flush()
    return job


def get(session: Session, job_id: int) -> Job | None:
    """A job by id, read afresh."""
    return session.get(Job, job_id, populate_existing=True)


def by_key(session: Session, created_by: str, key: str) -> Job | None:
    """The job CREATED_BY asked for with this Idempotency-Key, if any."""
    query = select(Job).where(Job.created_by == created_by, Job.idempotency_key == key)
    return session.scalars(query).first()


def page(
    session: Session,
    *,
    created_by: str | None,
    status: str | None,
    before_id: int | None,
    limit: int,
) -> list[Job]:
    """Up to LIMIT jobs newest first (older than BEFORE_ID), of CREATED_BY (None: everyone's)."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if created_by is not None:
        query = query.where(Job.created_by == created_by)
    if status is not None:
        query = query.where(Job.status == status)
    if before_id is not None:
        query = query.where(Job.id < before_id)
    return list(session.scalars(query))


def has_queued(session: Session) -> bool:
    """Whether any job waits (a read: spares SQLite's write lock when there is nothing to do)."""
    query = select(_J.id).where(_J.status == _QUEUED).limit(1)
    return session.execute(query).first() is not None


def claim(session: Session, token: str, worker: str, now: datetime) -> Job | None:
    """Mark the oldest queued job running under TOKEN and return it. Other PostgreSQL
    transactions skip the row held; on SQLite writers are serialised, so the status guard is
    enough."""
    oldest = select(_J.id).where(_J.status == _QUEUED).order_by(_J.id).limit(1)
    if is_postgres(session):
        oldest = oldest.with_for_update(skip_locked=True)
    statement = (
        update(_JOBS)
        # A scalar subquery is run once (an InitPlan); `IN (… LIMIT 1 FOR UPDATE SKIP LOCKED)`
        # may be re-run by PostgreSQL's planner per row and claim several jobs at once.
        .where(_J.id == oldest.scalar_subquery(), _J.status == _QUEUED)
        .values(
            status=_RUNNING,
            claim_token=token,
            worker=worker,
            attempts=_J.attempts + 1,
            started_at=now,
            heartbeat_at=now,
            progress_done=None,
            progress_total=None,
        )
        .returning(_J.id)
    )
    job_id = session.execute(statement).scalar_one_or_none()
    return None if job_id is None else get(session, job_id)


def holds(session: Session, job_id: int, token: str) -> bool:
    """Whether the claim TOKEN still holds the job (nobody requeued it meanwhile)."""
    query = select(_J.id).where(_J.id == job_id, _J.status == _RUNNING, _J.claim_token == token)
    return session.execute(query).first() is not None


def running(session: Session, *, lock: bool = False) -> list[Job]:
    """The jobs marked running (their workers may be alive or dead); with LOCK, PostgreSQL rows
    are locked (a heartbeat waits) and those held elsewhere (a job settling) are skipped."""
    query = select(Job).where(Job.status == _RUNNING).order_by(Job.id)
    if lock and is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query.execution_options(populate_existing=True)))


def settle(session: Session, job_id: int, token: str, values: dict[str, Any]) -> bool:
    """Write VALUES on a running job only while the claim TOKEN holds it; whether it did."""
    statement = (
        update(_JOBS)
        .where(_J.id == job_id, _J.status == _RUNNING, _J.claim_token == token)
        .values(**values)
    )
    return cast(CursorResult[Any], session.execute(statement)).rowcount == 1


def beat(
    session: Session, job_id: int, token: str, now: datetime, progress: tuple[int, int] | None
) -> bool:
    """A running job's sign of life, with its progress when known."""
    values: dict[str, Any] = {"heartbeat_at": now}
    if progress is not None:
        values.update(progress_done=progress[0], progress_total=progress[1])
    return settle(session, job_id, token, values)


def cancel(session: Session, job_id: int, now: datetime) -> bool:
    """Cancel a job still queued; whether it was."""
    statement = (
        update(_JOBS)
        .where(_J.id == job_id, _J.status == _QUEUED)
        .values(status=JobStatus.CANCELLED.value, finished_at=now)
    )
    return cast(CursorResult[Any], session.execute(statement)).rowcount == 1


def expired_folders(session: Session, before: datetime) -> list[tuple[int, str]]:
    """(id, folder) of jobs finished before BEFORE whose files are still kept."""
    query = select(_J.id, _J.folder).where(_J.folder.is_not(None), _J.finished_at < before)
    return [(row.id, row.folder) for row in session.execute(query)]


def forget_folder(session: Session, job_id: int) -> None:
    """Record that a job's files are gone."""
    session.execute(update(_JOBS).where(_J.id == job_id).values(folder=None))
