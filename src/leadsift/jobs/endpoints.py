"""Long jobs over the API: uploads and runs are queued (202 and `Location`), the worker runs
them, and `GET /api/v1/jobs/{id}` tells where each stands."""

from __future__ import annotations

from typing import Annotated, Any, Final, TypeVar, get_origin

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi import Path as ApiPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from leadsift.access.endpoints import allow
from leadsift.access.schemas import Caller, Role, Scope
from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.jobs import service
from leadsift.jobs.schemas import (
    CURSOR_PATTERN,
    ContactImportForm,
    EventImportForm,
    JobKind,
    JobPage,
    JobStatus,
    JobView,
    QualificationRun,
    ScoringRun,
    TrainingRun,
    upload_body,
)
from leadsift.kit.clock import utcnow
from leadsift.kit.web import (
    ErrorBody,
    database_of,
    error_responses,
    reading_session,
    settings_of,
    writing_session,
)

router = APIRouter(prefix="/api/v1", tags=["jobs"], responses=error_responses(401, 403))

# Who starts what: workspace-wide changes need an admin key (of an admin, or an integration);
# event files, like events, an ingest key. A job is then seen by its creator and by admins, so
# reading one needs the least of those scopes (a read key never has jobs of its own).
_ADMIN: Final = allow(Scope.ADMIN, roles={Role.ADMIN})
_INGEST: Final = allow(Scope.INGEST, roles={Role.ADMIN})
_ANY_CREATOR: Final = allow(Scope.INGEST)
# error_responses() knows the statuses every route shares; this one is the jobs' own.
_BUSY: Final[dict[int | str, dict[str, Any]]] = {503: {"model": ErrorBody, "description": (
    "The database cannot take the request now (on SQLite a long job may hold its one writer): "
    "retry in a minute.")}}  # fmt: skip
_LOCATION: Final = {"description": "The job's URL, e.g. `/api/v1/jobs/12`.",
                    "schema": {"type": "string"}, "required": True}  # fmt: skip
_QUEUED: Final[dict[int | str, dict[str, Any]]] = {
    202: {"description": "Queued: the job, to follow at `Location` until it ends.",
          "headers": {"Location": _LOCATION}},
    **error_responses(409, 422, described={
        409: "The Idempotency-Key was used for another request."
    }),
    **_BUSY,
}  # fmt: skip
_UPLOADED: Final = {**_QUEUED, **error_responses(413, described={
    400: "The body is not multipart/form-data with one file."})}  # fmt: skip
_WITH_BODY: Final = {**_QUEUED, **error_responses(400)}

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="Sending the same request again with the same key returns the same job.",
    ),
]
JobId = Annotated[int, ApiPath(ge=1, le=2**63 - 1, description="The job's id.")]


def _queue(
    request: Request,
    response: Response,
    caller: Caller,
    kind: JobKind,
    parameters: dict[str, Any],
    *,
    key: str | None,
    upload: service.StoredFile | None = None,
) -> JobView:
    try:
        with writing_session(request) as session:
            job, created = service.enqueue(
                session, kind, parameters, created_by=caller.actor, now=utcnow(),
                idempotency_key=key, folder=upload.folder if upload else None,
            )  # fmt: skip
            shown = service.view(job)
    except BaseException:
        if upload is not None:
            service.remove_folder(upload.folder)
        raise
    if upload is not None and not created:
        service.remove_folder(upload.folder)  # the same request again: the first copy serves
    response.headers["Location"] = f"/api/v1/jobs/{shown.id}"
    return shown


Options = TypeVar("Options", bound=BaseModel)


def _options(form: FormData, model: type[Options]) -> Options:
    """The form's fields (all but the file) as MODEL, refused like any invalid request."""
    lists = {n for n, f in model.model_fields.items() if get_origin(f.annotation) is list}
    fields: dict[str, Any] = {}
    for name in {key for key in form if key != "file"}:
        values = form.getlist(name)
        fields[name] = values if name in lists or len(values) > 1 else values[0]
        if any(isinstance(value, str) and "\x00" in value for value in values):
            # No database stores it (PostgreSQL refuses it even inside JSON).
            nul = {"type": "string_pattern_mismatch", "loc": ("body", name),
                   "msg": "contains a NUL character", "input": "…"}  # fmt: skip
            raise RequestValidationError([nul])
    try:
        return model.model_validate(fields)
    except ValidationError as invalid:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in invalid.errors(include_url=False)]
        raise RequestValidationError(errors) from None


async def _queue_upload(
    request: Request, response: Response, caller: Caller, kind: JobKind, *,
    model: type[BaseModel], key: str | None,
) -> JobView:  # fmt: skip
    # Read only now, once the key was checked: nobody without one gets a byte written to disk.
    async with request.form(max_files=1, max_fields=100) as form:
        options = _options(form, model)
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise InvalidInputError("file: send the file as the multipart/form-data part `file`")
        limit = settings_of(request).import_max_upload_bytes
        root = service.uploads_dir(database_of(request).url)
        stored = await run_in_threadpool(
            service.store_upload, root, file.filename, file.file, limit
        )
    parameters = {"file": stored.parameters(), **options.model_dump(mode="json")}
    return await run_in_threadpool(
        _queue, request, response, caller, kind, parameters, key=key, upload=stored
    )


@router.post(
    "/imports/contacts",
    operation_id="import_contacts",
    status_code=202,
    response_model=JobView,
    responses=_UPLOADED,
    openapi_extra=upload_body(ContactImportForm),
)
async def import_contacts(
    request: Request,
    response: Response,
    caller: Annotated[Caller, Depends(_ADMIN)],
    idempotency_key: IdempotencyKey = None,
) -> JobView:
    """Queue `leadsift import contacts` of the uploaded file (its options as form fields); the
    job's result is the import's summary, its rejected rows a CSV at the job's `rejects`."""
    kind = JobKind.IMPORT_CONTACTS
    return await _queue_upload(
        request, response, caller, kind, model=ContactImportForm, key=idempotency_key
    )


@router.post(
    "/imports/events",
    operation_id="import_events",
    status_code=202,
    response_model=JobView,
    responses=_UPLOADED,
    openapi_extra=upload_body(EventImportForm),
)
async def import_events(
    request: Request,
    response: Response,
    caller: Annotated[Caller, Depends(_INGEST)],
    idempotency_key: IdempotencyKey = None,
) -> JobView:
    """Queue `leadsift import events` of the uploaded file (contacts rescored and moved as
    events sent one by one would)."""
    kind = JobKind.IMPORT_EVENTS
    return await _queue_upload(
        request, response, caller, kind, model=EventImportForm, key=idempotency_key
    )


def _with_playbook(
    request: Request, response: Response, caller: Caller, kind: JobKind,
    body: QualificationRun | ScoringRun, *, key: str | None,
) -> JobView:  # fmt: skip
    playbook = None
    if body.playbook is not None:
        with database_of(request).unit_of_work(read_only=True) as session:
            playbook = service.playbook_parameters(session, body.playbook)
    parameters = {"playbook": playbook, "dry_run": body.dry_run}
    return _queue(request, response, caller, kind, parameters, key=key)


_CHECKED: Final = {
    **_WITH_BODY,
    **error_responses(404, 422, described={
        404: "No playbook of that name was ever applied here.",
        422: "The body, or the playbook (every problem, with its YAML path and line).",
    }),
}  # fmt: skip


@router.post(
    "/qualification-runs",
    operation_id="start_qualification_run",
    status_code=202,
    response_model=JobView,
    responses=_CHECKED,
)
def start_qualification_run(
    body: QualificationRun,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Depends(_ADMIN)],
    idempotency_key: IdempotencyKey = None,
) -> JobView:
    """Queue `leadsift qualify --playbook …`: a stored playbook by name, or its YAML (checked
    before it is queued)."""
    return _with_playbook(request, response, caller, JobKind.QUALIFY, body, key=idempotency_key)


@router.post(
    "/scoring-runs",
    operation_id="start_scoring_run",
    status_code=202,
    response_model=JobView,
    responses=_CHECKED,
)
def start_scoring_run(
    request: Request,
    response: Response,
    caller: Annotated[Caller, Depends(_ADMIN)],
    body: ScoringRun | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JobView:
    """Queue `leadsift score`: everyone's interest now and the playbook's policy (the active
    playbook, or the one given)."""
    given = body or ScoringRun()
    return _with_playbook(request, response, caller, JobKind.SCORE, given, key=idempotency_key)


@router.post(
    "/models/scoring-runs",
    operation_id="start_model_scoring_run",
    status_code=202,
    response_model=JobView,
    responses=_QUEUED,
)
def start_model_scoring_run(
    request: Request,
    response: Response,
    caller: Annotated[Caller, Depends(_ADMIN)],
    idempotency_key: IdempotencyKey = None,
) -> JobView:
    """Queue `leadsift model score`: everyone's probability and priority by the active model."""
    return _queue(request, response, caller, JobKind.MODEL_SCORE, {}, key=idempotency_key)


@router.post(
    "/models/training-runs",
    operation_id="start_model_training_run",
    status_code=202,
    response_model=JobView,
    responses=_WITH_BODY,
)
def start_model_training_run(
    request: Request,
    response: Response,
    caller: Annotated[Caller, Depends(_ADMIN)],
    body: TrainingRun | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JobView:
    """Queue `leadsift model train …`; the new model becomes active unless `activate` is
    false."""
    parameters = (body or TrainingRun()).request().model_dump(mode="json")
    kind = JobKind.MODEL_TRAIN
    return _queue(request, response, caller, kind, parameters, key=idempotency_key)


_NO_JOB: Final = error_responses(404, 422, described={404: "No such job among the caller's."})


@router.get(
    "/jobs", operation_id="list_jobs", response_model=JobPage, responses=error_responses(422)
)
def list_jobs(
    caller: Annotated[Caller, Depends(_ANY_CREATOR)],
    session: Annotated[Session, Depends(reading_session)],
    status: Annotated[JobStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="A page's `next`, as is.")
    ] = None,
) -> JobPage:
    """The caller's jobs (an admin's: everyone's), newest first, a page at a time."""
    return service.list_jobs(session, caller, status=status, after=after, limit=limit)


@router.get("/jobs/{job_id}", operation_id="get_job", response_model=JobView, responses=_NO_JOB)
def get_job(
    job_id: JobId,
    caller: Annotated[Caller, Depends(_ANY_CREATOR)],
    session: Annotated[Session, Depends(reading_session)],
) -> JobView:
    """Where a job stands: status, progress, result or error (someone else's: 404)."""
    return service.view(service.visible(session, caller, job_id))


@router.delete(
    "/jobs/{job_id}",
    operation_id="cancel_job",
    response_model=JobView,
    responses={
        **_NO_JOB,
        **error_responses(described={409: "The job is running or has ended."}),
        **_BUSY,
    },
)
def cancel_job(
    job_id: JobId, request: Request, caller: Annotated[Caller, Depends(_ANY_CREATOR)]
) -> JobView:
    """Cancel a job that is still queued."""
    with writing_session(request) as session:
        job = service.cancel(session, caller, job_id, utcnow())
        shown, parameters = service.view(job), dict(job.parameters)
    service.remove_upload(parameters)
    return shown


@router.get(
    "/jobs/{job_id}/rejects",
    operation_id="get_job_rejects",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The rejected rows (row, column, value, reason, message for contacts; "
            "row, code, message for events).",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **error_responses(
            404, 422, described={404: "No such job among the caller's, or no rejected rows."}
        ),
    },
)
def get_job_rejects(
    job_id: JobId,
    caller: Annotated[Caller, Depends(_ANY_CREATOR)],
    session: Annotated[Session, Depends(reading_session)],
) -> FileResponse:
    """An import job's rejected rows, as a CSV (kept 7 days after the job ended)."""
    report = service.rejects_file(service.visible(session, caller, job_id))
    if report is None or not report.is_file():
        raise NotFoundError(
            f"job {job_id} has no rejected rows report: none were rejected, it is not an "
            "import that succeeded, or the report expired"
        )
    return FileResponse(report, media_type="text/csv", filename=f"job-{job_id}-rejects.csv")
