"""Playbooks and qualification over the API: the stored versions and the active one, checking a
playbook and a dry run of `qualify` (applying one is a job: `POST /api/v1/qualification-runs`),
and a contact's stage history. A contact's explanation (`leadsift explain`) is served by the
scoring domain, which adds the active model's prediction to it."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as ApiPath
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access.endpoints import RATE_LIMITED, allow
from leadsift.access.schemas import Caller, Role, Scope
from leadsift.engagement.service import contact_exists
from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.kit.query import strict_query
from leadsift.kit.web import NO_NUL, ContactId, database_of, error_responses, reading_session
from leadsift.qualification import playbooks, repository, service, version_repository
from leadsift.qualification.models import PlaybookVersion
from leadsift.qualification.playbook import Playbook, PlaybookError
from leadsift.qualification.schemas import QualifySummary, StageChangeView

router = APIRouter(
    prefix="/api/v1",
    tags=["playbooks"],
    responses=error_responses(401, 403, described=RATE_LIMITED),
)
# Playbooks are the administrators' (the playbook editor is theirs); checking one and its dry
# run write nothing, so a read key does. Anyone who reads sees the contacts they may see.
_ADMINS: Final = strict_query(allow(Scope.READ, roles={Role.ADMIN}))
_READ: Final = strict_query(allow(Scope.READ))
# The name a playbook sent as text gets in messages (`playbook.yaml:7: fit[1].points: …`).
SOURCE: Final = "playbook.yaml"
MAX_PLAYBOOK: Final = 1_000_000
# A page's `next`: the id of its last item, as text.
CURSOR: Final = r"^[1-9][0-9]{0,17}$"
VersionId = Annotated[int, ApiPath(ge=1, le=2**63 - 1, description="The version's id.")]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many items.")]
After = Annotated[
    str | None, Query(pattern=CURSOR, description="A page's `next`, as is: the page after it.")
]
_NO_CONTACT: Final = {404: "No such contact among those the caller may see."}


class PlaybookText(BaseModel):
    """A playbook's YAML, as a file would hold it."""

    model_config = ConfigDict(extra="forbid")

    playbook: str = Field(min_length=1, max_length=MAX_PLAYBOOK, pattern=NO_NUL)


class PlaybookProblemView(BaseModel):
    """One thing wrong in a playbook: where (YAML path, 1-based line) and what to do."""

    path: str = Field(description="e.g. fit[1].points; empty for the whole document")
    line: int | None
    message: str


class PlaybookCheck(BaseModel):
    """`leadsift playbook validate`: valid with what it holds, or every problem at once."""

    valid: bool
    name: str | None = None
    fingerprint: str | None = Field(default=None, description="SHA-256 of its canonical form")
    fit_rules: int | None = None
    interest_rules: int | None = None
    problems: list[PlaybookProblemView] = Field(default_factory=list)


class PlaybookSummary(BaseModel):
    """What a valid playbook holds, as `leadsift playbook validate --json` says."""

    name: str
    fingerprint: str
    fit_rules: int
    interest_rules: int


class PlaybookVersionView(BaseModel):
    """A playbook as applied: name, version number, fingerprint, when; the active one is the
    version applied last (it scores events in real time)."""

    id: int
    name: str
    version: int
    fingerprint: str
    source_name: str = Field(description="The file it was read from")
    applied_at: datetime = Field(description="When this version was first applied")
    activated_at: datetime | None = Field(description="When it was last applied")
    active: bool


class PlaybookVersionDetail(PlaybookVersionView):
    """A version with its YAML as applied, its canonical form and what it holds."""

    yaml: str
    document: dict[str, object] = Field(description="The canonical form (defaults filled in)")
    summary: PlaybookSummary


class PlaybookVersionPage(BaseModel):
    """Stored versions, newest first; `next` is the cursor of the following page (null on the
    last)."""

    items: list[PlaybookVersionView]
    next: str | None


class StageHistoryPage(BaseModel):
    """A contact's stage changes, oldest first, each with why (`explain`'s history)."""

    items: list[StageChangeView]
    next: str | None


def _summary(playbook: Playbook) -> PlaybookSummary:
    interest = len(playbook.interest.rules) if playbook.interest else 0
    return PlaybookSummary(
        name=playbook.name,
        fingerprint=playbook.fingerprint(),
        fit_rules=len(playbook.fit),
        interest_rules=interest,
    )


def _active_id(session: Session) -> int | None:
    active = repository.active_version(session)
    return None if active is None else active.id


def _detail(version: PlaybookVersion, active_id: int | None) -> PlaybookVersionDetail:
    return PlaybookVersionDetail(
        id=version.id,
        name=version.name,
        version=version.version,
        fingerprint=version.fingerprint,
        source_name=version.source_name,
        applied_at=version.applied_at,
        activated_at=version.activated_at,
        active=version.id == active_id,
        yaml=version.source_text,
        document=version.document,
        summary=_summary(Playbook.model_validate(version.document)),
    )


def _cursor(after: str | None) -> int | None:
    return None if after is None else int(after)


@router.get("/playbooks", operation_id="list_playbooks", response_model=PlaybookVersionPage)
def list_playbooks(
    _caller: Annotated[Caller, Depends(_ADMINS)],
    session: Annotated[Session, Depends(reading_session)],
    limit: Limit = 100,
    after: After = None,
) -> PlaybookVersionPage:
    """Every playbook version ever applied, newest first; the active one is marked."""
    rows = version_repository.versions_page(session, before_id=_cursor(after), limit=limit + 1)
    active_id = _active_id(session)
    items = [PlaybookVersionView(**asdict(row), active=row.id == active_id) for row in rows[:limit]]
    more = len(rows) > limit
    return PlaybookVersionPage(items=items, next=str(items[-1].id) if more else None)


@router.get(
    "/playbooks/active",
    operation_id="get_active_playbook",
    response_model=PlaybookVersionDetail,
    responses=error_responses(described={404: "No playbook was applied yet."}),
)
def get_active_playbook(
    _caller: Annotated[Caller, Depends(_ADMINS)],
    session: Annotated[Session, Depends(reading_session)],
) -> PlaybookVersionDetail:
    """The playbook applied last (the one scoring events in real time): its YAML and what it
    holds."""
    active = repository.active_version(session)
    if active is None:
        raise NotFoundError(
            "no playbook was applied yet: apply one with POST /api/v1/qualification-runs "
            "(or `leadsift qualify --playbook FILE`)"
        )
    return _detail(active, active.id)


@router.get(
    "/playbooks/{version_id:int}",
    operation_id="get_playbook_version",
    response_model=PlaybookVersionDetail,
    responses=error_responses(422, described={404: "No such playbook version."}),
)
def get_playbook_version(
    version_id: VersionId,
    _caller: Annotated[Caller, Depends(_ADMINS)],
    session: Annotated[Session, Depends(reading_session)],
) -> PlaybookVersionDetail:
    """One stored playbook version: its YAML as applied and what it holds."""
    version = repository.get_version(session, version_id)
    if version is None:
        raise NotFoundError(f"no playbook version {version_id}; GET /api/v1/playbooks lists them")
    return _detail(version, _active_id(session))


_WITH_BODY: Final = error_responses(400, 413, 422)


@router.post(
    "/playbooks/validate",
    operation_id="validate_playbook",
    response_model=PlaybookCheck,
    responses=_WITH_BODY,
)
def validate_playbook(
    body: PlaybookText, request: Request, _caller: Annotated[Caller, Depends(_ADMINS)]
) -> PlaybookCheck:
    """Check a playbook as `leadsift playbook validate` does (its structure, and every
    expression against the workspace's fields): valid with what it holds, or every problem
    with its YAML path and line (200 either way: the check is the answer)."""
    with database_of(request).unit_of_work(read_only=True) as session:
        try:
            playbook = playbooks.load(session, body.playbook, SOURCE)
        except PlaybookError as refused:
            problems = [
                PlaybookProblemView(path=p.path, line=p.line, message=p.message)
                for p in refused.problems
            ]
            return PlaybookCheck(valid=False, problems=problems)
        except InvalidInputError as refused:
            problem = PlaybookProblemView(path="", line=None, message=refused.message)
            return PlaybookCheck(valid=False, problems=[problem])
    return PlaybookCheck(valid=True, **_summary(playbook).model_dump())


@router.post(
    "/playbooks/dry-run",
    operation_id="dry_run_playbook",
    response_model=QualifySummary,
    responses=error_responses(400, 413, 422, described={
        422: "The body, or the playbook (every problem, with its YAML path and line).",
    }),
)  # fmt: skip
def dry_run_playbook(
    body: PlaybookText, request: Request, _caller: Annotated[Caller, Depends(_ADMINS)]
) -> QualifySummary:
    """What `leadsift qualify --dry-run` reports: how many contacts the playbook would make
    leads or unqualified, and why; nothing is written. Over a large workspace this takes as
    long as the command: applying a playbook is a job, `POST /api/v1/qualification-runs`
    (with `dry_run` too, to run it in the background)."""
    with database_of(request).unit_of_work(read_only=True, dry_run=True) as session:
        return service.qualify(session, body.playbook, SOURCE, dry_run=True)


def _seen(session: Session, caller: Caller, contact_id: int) -> None:
    """The contact by id only; one the caller may not see answers as a missing one."""
    if not contact_exists(session, contact_id) or not access_repository.is_visible(
        session, caller, contact_id
    ):
        raise NotFoundError(f"no contact {contact_id}")


@router.get(
    "/contacts/{contact_id}/stage-history",
    operation_id="list_stage_history",
    response_model=StageHistoryPage,
    responses=error_responses(422, described=_NO_CONTACT),
)
def list_stage_history(
    contact_id: ContactId,
    caller: Annotated[Caller, Depends(_READ)],
    session: Annotated[Session, Depends(reading_session)],
    limit: Limit = 100,
    after: After = None,
) -> StageHistoryPage:
    """A contact's stage changes, oldest first: who or which playbook moved it, and why
    (criterion by criterion for a playbook's move), as `leadsift explain` shows them."""
    _seen(session, caller, contact_id)
    history = service.explain(session, str(contact_id)).history
    start = _cursor(after) or 0
    later = [change for change in history if change.id > start]
    items = later[:limit]
    return StageHistoryPage(items=items, next=str(items[-1].id) if len(later) > limit else None)
