"""What jobs take and return: kinds, statuses, the job resource, request bodies, and the pure
rules (who sees a job, when its worker is dead, cursors, stored file names, fingerprints)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final

import phonenumbers
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

from leadsift.access.schemas import Caller, Role, Scope
from leadsift.errors import InvalidInputError
from leadsift.scoring.schemas import TrainOptions, TrainRequest


class JobKind(StrEnum):
    """What a job runs: the command of the same name."""

    IMPORT_CONTACTS = "import_contacts"
    IMPORT_EVENTS = "import_events"
    SCORE = "score"
    QUALIFY = "qualify"
    MODEL_SCORE = "model_score"
    MODEL_TRAIN = "model_train"


class JobStatus(StrEnum):
    """Where a job stands."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED: Final = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
UPLOAD_KINDS: Final = frozenset({JobKind.IMPORT_CONTACTS, JobKind.IMPORT_EVENTS})
# A job is claimed at most this often: a worker dying once requeues it, twice fails it.
MAX_ATTEMPTS: Final = 2
# A running job whose worker gave no sign of life for this long is taken as dead.
STALE_AFTER: Final = timedelta(minutes=5)
WORKER_DIED: Final = "worker_died"


class Progress(BaseModel):
    """How far a job is, in the unit its command counts (bytes of the file for imports)."""

    done: int
    total: int
    unit: str = "bytes"


class JobError(BaseModel):
    """Why a job failed: a stable code and what to do (never a stack trace)."""

    code: str
    message: str


class JobView(BaseModel):
    """A job as the API and `leadsift jobs show` give it."""

    id: int
    kind: JobKind
    status: JobStatus
    parameters: dict[str, Any] = Field(
        description="The command's options (an upload by its name, size and SHA-256)."
    )
    progress: Progress | None = Field(
        default=None, description="Reported by imports; null for commands that cannot tell."
    )
    result: dict[str, Any] | None = Field(
        default=None, description="What the command's --json prints, once the job succeeded."
    )
    error: JobError | None = None
    warnings: list[str] = Field(default_factory=list)
    rejects: str | None = Field(
        default=None, description="Where the import's rejected rows are (CSV), when any were."
    )
    created_by: str
    attempts: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None


class JobPage(BaseModel):
    """Jobs newest first; `next` is the cursor of the following page (null on the last)."""

    items: list[JobView]
    next: str | None


def _known_region(code: str) -> str:
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{code!r} is not a country code; use one such as FR")
    return code


Region = Annotated[
    str,
    AfterValidator(_known_region),
    Field(
        description="Country for phones without +code (ISO 3166, upper case).",
        json_schema_extra={"enum": sorted(phonenumbers.SUPPORTED_REGIONS)},
    ),
]
# Text without the NUL character, which no database stores (PostgreSQL refuses it outright).
_NO_NUL: Final = r"^[^\x00]*$"
Encoding = Field(
    default=None, max_length=40, pattern=_NO_NUL, description="Force the file's encoding."
)


def _form_bool(value: Any) -> Any:
    # A form field is text: exactly what the document says a boolean is, nothing looser.
    if isinstance(value, str):
        if value not in ("true", "false"):
            raise ValueError("use true or false")
        return value == "true"
    return value


FormBool = Annotated[bool, BeforeValidator(_form_bool)]
DryRun = Field(default=False, description="Report what would happen; write nothing.")


class ContactImportForm(BaseModel):
    """The options of `leadsift import contacts`, as form fields beside the file."""

    model_config = ConfigDict(extra="forbid")

    map: list[Annotated[str, Field(pattern=r"^[^=\x00]+=[^\x00]+$", max_length=400)]] = Field(
        default_factory=list, description='"Header=field", repeatable, as `--map`.'
    )
    default_region: Region = "FR"
    generate_ids: FormBool = Field(default=False, description="Derive ids from row content.")
    update: FormBool = Field(default=False, description="Overwrite non-empty fields when merging.")
    dry_run: FormBool = DryRun
    encoding: str | None = Encoding


class EventImportForm(BaseModel):
    """The options of `leadsift import events`, as form fields beside the file."""

    model_config = ConfigDict(extra="forbid")

    default_region: Region = "FR"
    source: str | None = Field(default=None, max_length=100, pattern=_NO_NUL)
    campaign: str | None = Field(default=None, max_length=200, pattern=_NO_NUL)
    dry_run: FormBool = DryRun
    encoding: str | None = Encoding


def upload_body(form: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of an upload: the file and FORM's fields, multipart."""
    schema = form.model_json_schema()
    schema["properties"] = {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "CSV (any delimiter, .gz ok), XLSX or JSON Lines.",
        },
        **schema["properties"],
    }
    schema["required"] = ["file"]
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    }


class StoredPlaybook(BaseModel):
    """A playbook already applied to this workspace, by its name (its newest version)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


class PlaybookText(BaseModel):
    """A playbook's YAML, as `--playbook FILE` would read it."""

    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(min_length=1, max_length=1_000_000)
    source: str = Field(
        default="api.yaml", min_length=1, max_length=200, description="Its file name, as kept."
    )


PlaybookRef = StoredPlaybook | PlaybookText


class QualificationRun(BaseModel):
    """`leadsift qualify --playbook …` as a job."""

    model_config = ConfigDict(extra="forbid")

    playbook: PlaybookRef
    dry_run: StrictBool = False


class ScoringRun(BaseModel):
    """`leadsift score [--playbook …]` as a job (without a playbook: the active one)."""

    model_config = ConfigDict(extra="forbid")

    playbook: PlaybookRef | None = None
    dry_run: StrictBool = False


class Holdout(BaseModel):
    """The last part of the rows, in one field's order, evaluated apart (`--holdout-last`)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    last: float = Field(gt=0.0, lt=1.0, description="the fraction of rows held out, e.g. 0.2")
    order_by: str | None = Field(
        default=None, min_length=1, description="the field ordering the rows (default: by id)"
    )


class TrainingRun(TrainOptions):
    """`leadsift model train …` as a job (the holdout in one object: its order needs it)."""

    model_config = ConfigDict(extra="forbid")

    holdout: Holdout | None = None

    def request(self) -> TrainRequest:
        """The options of `model train` this run asks for."""
        holdout = self.holdout
        return TrainRequest(
            **self.model_dump(exclude={"holdout"}),
            holdout_last=holdout.last if holdout is not None else None,
            order_by=holdout.order_by if holdout is not None else None,
        )


# Pure rules.


def sees_all_jobs(caller: Caller) -> bool:
    """Admins, and admin keys acting for nobody (the command line included), see every job."""
    if caller.role is Role.ADMIN:
        return True
    return caller.user_id is None and caller.scope == Scope.ADMIN.value


def may_see(caller: Caller, created_by: str) -> bool:
    """Whether CALLER may see a job CREATED_BY made: its creator, or someone who sees all."""
    return caller.actor == created_by or sees_all_jobs(caller)


def is_dead(
    worker: str | None,
    heartbeat_at: datetime | None,
    now: datetime,
    host: str,
    *,
    alive: Callable[[int], bool],
    stale_after: timedelta = STALE_AFTER,
) -> bool:
    """Whether a running job's worker is gone: its process is not running on this host, or it
    gave no sign of life for STALE_AFTER."""
    if heartbeat_at is None or heartbeat_at < now - stale_after:
        return True
    worker_host, _, pid = (worker or "").rpartition(":")
    return worker_host == host and pid.isdigit() and not alive(int(pid))


def after_death(attempts: int) -> JobStatus:
    """A dead worker's job goes back to the queue once, then fails."""
    return JobStatus.QUEUED if attempts < MAX_ATTEMPTS else JobStatus.FAILED


_CURSOR = re.compile(r"^[1-9][0-9]{0,17}$")
CURSOR_PATTERN: Final = _CURSOR.pattern


def encode_cursor(job_id: int) -> str:
    """The cursor of the page after the job JOB_ID (jobs are listed newest first)."""
    return str(job_id)


def decode_cursor(cursor: str) -> int:
    """The id a cursor stands for; a cursor this code did not make is refused."""
    if not _CURSOR.fullmatch(cursor):
        raise InvalidInputError(f"after: {cursor!r} is not a cursor; pass a page's `next` as is")
    return int(cursor)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_NAME = 120
# The suffixes that tell a format (".csv", ".csv.gz", ".xlsx", ".jsonl").
_SUFFIX = re.compile(r"(\.[A-Za-z0-9]{1,5}){1,2}$")


def safe_file_name(given: str | None) -> str:
    """A stored upload's name from the client's: its last part, letters, digits, dots, dashes
    and underscores only (the suffix tells the format), never a path."""
    base = re.split(r"[/\\]", given or "")[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")
    if len(cleaned) > _MAX_NAME:
        suffix = _SUFFIX.search(cleaned)
        keep = suffix.group(0) if suffix else ""
        cleaned = cleaned[: _MAX_NAME - len(keep)] + keep
    return cleaned or "upload"


def request_hash(kind: JobKind, parameters: dict[str, Any]) -> str:
    """SHA-256 of what was asked (an upload counts by its content, not where it was stored)."""
    document = json.dumps(
        {"kind": kind.value, "parameters": public_parameters(parameters)},
        sort_keys=True,
        ensure_ascii=True,
        default=str,
    )
    return hashlib.sha256(document.encode("ascii")).hexdigest()


def public_parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameters as shown: without the server's paths nor a playbook's whole text."""
    shown = dict(parameters)
    if isinstance(shown.get("file"), dict):
        shown["file"] = {k: v for k, v in shown["file"].items() if k != "path"}
    if isinstance(shown.get("playbook"), dict):
        playbook = shown["playbook"]
        shown["playbook"] = {k: v for k, v in playbook.items() if k != "text"}
        if "text" in playbook:
            digest = hashlib.sha256(str(playbook["text"]).encode("utf-8")).hexdigest()
            shown["playbook"]["sha256"] = digest
    return shown


def describe_unexpected(exc: BaseException) -> str:
    """An unexpected error in one line, as the CLI shows it: its type and first line, and for a
    database error the driver's first line only (the SQL and its values, personal data, stay
    out of a job's error)."""
    original = getattr(exc, "orig", None)
    shown = original if original is not None else exc
    lines = str(shown).strip().splitlines()
    detail = f": {lines[0][:300]}" if lines else ""
    return f"unexpected {type(shown).__name__}{detail} (the worker's log has the details)"
