"""Jobs: queueing one (an Idempotency-Key gives the same job back), storing an upload in the
workspace's private folder, reading and cancelling jobs as their creator or an admin."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadsift.access.schemas import Caller
from leadsift.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
)
from leadsift.jobs import repository
from leadsift.jobs.models import Job
from leadsift.jobs.schemas import (
    UPLOAD_KINDS,
    JobError,
    JobKind,
    JobPage,
    JobStatus,
    JobView,
    PlaybookRef,
    Progress,
    StoredPlaybook,
    decode_cursor,
    encode_cursor,
    may_see,
    public_parameters,
    request_hash,
    safe_file_name,
    sees_all_jobs,
)
from leadsift.qualification import repository as playbook_store
from leadsift.qualification.playbook import load_playbook

_CHUNK: Final = 1 << 20
_FOLDER_PREFIX: Final = "job-"
REJECTS_NAME: Final = "rejects.csv"


def uploads_dir(database_url: str) -> Path:
    """The private folder of uploads: beside a SQLite file (`NAME.uploads`), else in the system's
    temporary folder under a name derived from the database URL; made for this user only."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        database = Path(url.database or "").expanduser().resolve()
        folder = database.parent / f"{database.name}.uploads"
    else:
        safe = url.render_as_string(hide_password=True)
        digest = hashlib.sha256(safe.encode("utf-8")).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / f"leadsift-uploads-{digest}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # In a shared temporary folder someone else could have made it first (or a link to
    # elsewhere): only a real folder of ours is used.
    if folder.is_symlink() or folder.stat().st_uid != os.getuid():
        raise ConfigurationError(f"{folder} is not a folder of this user: remove it")
    folder.chmod(0o700)
    return folder


@dataclass(frozen=True)
class StoredFile:
    """An upload written to a folder of its own."""

    folder: Path
    path: Path
    name: str
    size: int
    sha256: str

    def parameters(self) -> dict[str, Any]:
        """How a job's parameters name it."""
        return {
            "name": self.name,
            "bytes": self.size,
            "sha256": self.sha256,
            "path": str(self.path),
        }


def store_upload(root: Path, given_name: str | None, source: BinaryIO, limit: int) -> StoredFile:
    """Copy an uploaded file into a new folder under ROOT, under a safe version of its name (the
    suffix tells the format); over LIMIT bytes it is refused and nothing is kept."""
    folder = root / f"{_FOLDER_PREFIX}{secrets.token_hex(16)}"
    folder.mkdir(mode=0o700)
    name = safe_file_name(given_name)
    path = folder / name
    digest = hashlib.sha256()
    size = 0
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "wb") as target:
            while chunk := source.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLargeError(
                        f"the file is over {limit} bytes (LEADSIFT_IMPORT_MAX_UPLOAD_BYTES): "
                        "split it, or import it with `leadsift import` on the server"
                    )
                digest.update(chunk)
                target.write(chunk)
    except BaseException:
        remove_folder(folder)
        raise
    return StoredFile(folder, path, name, size, digest.hexdigest())


def remove_folder(folder: str | Path | None) -> None:
    """Delete an upload's folder (only one this module made)."""
    if folder is None:
        return
    path = Path(folder)
    if path.name.startswith(_FOLDER_PREFIX) and path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)


def remove_upload(parameters: dict[str, Any]) -> None:
    """Delete a job's uploaded file once nothing will read it again (the folder stays, with the
    rejected rows report, until it expires)."""
    stored = parameters.get("file")
    if isinstance(stored, dict) and isinstance(stored.get("path"), str):
        Path(stored["path"]).unlink(missing_ok=True)


def playbook_parameters(session: Session, ref: PlaybookRef) -> dict[str, Any]:
    """A playbook given by name (its newest stored version) or as YAML, its structure checked
    now (every problem at once); its fields are checked when the job runs, since an import
    queued before it may bring them."""
    if isinstance(ref, StoredPlaybook):
        version = playbook_store.latest_version(session, ref.name)
        if version is None:
            raise NotFoundError(
                f"no playbook named {ref.name!r} was ever applied here: send its YAML instead"
            )
        text, source = version.source_text, version.source_name
    else:
        text, source = ref.yaml, ref.source
    try:
        loaded = load_playbook(text, source=source)
    except yaml.YAMLError as error:
        # Characters YAML refuses outright escape the playbook's own checks (its reader is
        # made outside them): the same refusal, with the reader's words.
        message = f"{source}: invalid YAML: {error}"
        raise InvalidInputError(message, code="invalid_playbook") from None
    return {"name": loaded.name, "source": source, "text": text}


def enqueue(
    session: Session,
    kind: JobKind,
    parameters: dict[str, Any],
    *,
    created_by: str,
    now: datetime,
    idempotency_key: str | None = None,
    folder: Path | None = None,
) -> tuple[Job, bool]:
    """Queue a job, or give back the one CREATED_BY asked for with the same Idempotency-Key
    (refused when that key was used for another request); (job, whether it is new)."""
    digest = request_hash(kind, parameters)
    if idempotency_key is not None:
        found = repository.by_key(session, created_by, idempotency_key)
        if found is not None:
            return _same_request(found, digest, idempotency_key), False
    job = Job(
        kind=kind.value,
        status=JobStatus.QUEUED.value,
        parameters=parameters,
        folder=str(folder) if folder is not None else None,
        created_by=created_by,
        idempotency_key=idempotency_key,
        request_hash=digest,
        attempts=0,
        created_at=now,
    )
    try:
        with session.begin_nested():
            repository.add(session, job)
    except IntegrityError:
        # The same key from a concurrent request, committed first (PostgreSQL).
        found = repository.by_key(session, created_by, idempotency_key or "")
        if found is None:
            raise
        return _same_request(found, digest, idempotency_key or ""), False
    return job, True


def _same_request(found: Job, digest: str, key: str) -> Job:
    if found.request_hash != digest:
        raise ConflictError(
            f"the Idempotency-Key {key!r} was used for another request (job {found.id}): "
            "send a new key with a new request"
        )
    return found


def rejects_file(job: Job) -> Path | None:
    """The import's rejected rows (CSV), while its folder is kept and when rows were rejected."""
    if job.folder is None or JobKind(job.kind) not in UPLOAD_KINDS or not job.result:
        return None
    if job.status != JobStatus.SUCCEEDED.value or not job.result.get("rejected"):
        return None
    return Path(job.folder) / REJECTS_NAME


def view(job: Job) -> JobView:
    """The job resource."""
    progress = None
    if job.progress_done is not None and job.progress_total is not None:
        progress = Progress(done=job.progress_done, total=job.progress_total)
    error = None
    if job.error_code is not None:
        error = JobError(code=job.error_code, message=job.error_message or "")
    return JobView(
        id=job.id,
        kind=JobKind(job.kind),
        status=JobStatus(job.status),
        parameters=public_parameters(job.parameters),
        progress=progress,
        result=job.result,
        error=error,
        warnings=job.warnings or [],
        rejects=f"/api/v1/jobs/{job.id}/rejects" if rejects_file(job) is not None else None,
        created_by=job.created_by,
        attempts=job.attempts,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        heartbeat_at=job.heartbeat_at,
    )


def visible(session: Session, caller: Caller, job_id: int) -> Job:
    """A job the caller may see; any other answers as one that does not exist."""
    job = repository.get(session, job_id)
    if job is None or not may_see(caller, job.created_by):
        raise NotFoundError(f"no job {job_id}")
    return job


def list_jobs(
    session: Session,
    caller: Caller,
    *,
    status: JobStatus | None = None,
    after: str | None = None,
    limit: int = 50,
) -> JobPage:
    """The jobs the caller may see, newest first, LIMIT per page."""
    jobs = repository.page(
        session,
        created_by=None if sees_all_jobs(caller) else caller.actor,
        status=status.value if status is not None else None,
        before_id=decode_cursor(after) if after is not None else None,
        limit=limit + 1,
    )
    following = encode_cursor(jobs[limit - 1].id) if len(jobs) > limit else None
    return JobPage(items=[view(job) for job in jobs[:limit]], next=following)


def cancel(session: Session, caller: Caller, job_id: int, now: datetime) -> Job:
    """Cancel a queued job (a running or finished one cannot be)."""
    job = visible(session, caller, job_id)
    if not repository.cancel(session, job_id, now):
        raise ConflictError(
            f"job {job_id} is {job.status}: only a queued job can be cancelled"
            + (" (a running job ends by itself)" if job.status == JobStatus.RUNNING.value else "")
        )
    cancelled = repository.get(session, job_id)
    assert cancelled is not None  # noqa: S101 — updated a moment ago in this transaction
    return cancelled
