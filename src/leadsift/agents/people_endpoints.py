"""Users, teams, assignment runs and speed to lead over the API: what `leadsift user add|update|
disable`, `team add|list`, `assign [--dry-run]` and `speed report|waiting` do, through the same
services. Admins change people and run assignment (each change audited with the key's actor);
managers read the teams and the speed report; anyone reads the prospects waiting they may see."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi import Path as ApiPath
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
)
from sqlalchemy.orm import Session

from leadsift.access import service as access
from leadsift.access.endpoints import RATE_LIMITED, allow
from leadsift.access.schemas import Caller, Role, Scope, TeamView, UserView
from leadsift.agents import service, speed_service
from leadsift.agents.schemas import AssignmentSummary, SpeedReport, WaitingProspect
from leadsift.errors import InvalidInputError
from leadsift.kit.clock import utcnow
from leadsift.kit.durations import parse_duration
from leadsift.kit.query import strict_query
from leadsift.kit.web import database_of, error_responses, reading_session

router = APIRouter(
    prefix="/api/v1", tags=["people"], responses=error_responses(401, 403, described=RATE_LIMITED)
)
# People and assignment are the workspace's: admins change them (the audit log names them).
# Query strings as declared: a misspelt option is an error, not silently ignored.
_ADMIN: Final = strict_query(allow(Scope.ADMIN, roles={Role.ADMIN}))
_MANAGERS: Final = strict_query(allow(Scope.READ, roles={Role.ADMIN, Role.MANAGER}))
_ANYONE: Final = strict_query(allow(Scope.READ))
MAX_PAGE: Final = 500
# What `user add` and `team add` accept (the services lower-case and check them again).
HANDLE: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
# Up to 999 of a unit (999w is 19 years): never a cut-off before the calendar starts.
_SLA_PATTERN: Final = r"^[0-9]{1,3}(s|m|h|d|w)$"
_YEARS: Final = r"^(19[7-9][0-9]|2[0-9]{3})-"
Handle = Annotated[str, Field(min_length=1, max_length=100, pattern=HANDLE)]


def _distinct(names: list[str]) -> list[str]:
    """NAMES once each, as the services store them (lower case), in their order."""
    if len(set(names)) < len(names):
        raise ValueError("a name is given twice")
    return list(dict.fromkeys(name.lower() for name in names))


# Names of users or teams, each once (the services lower-case them).
Names = Annotated[
    list[Handle], AfterValidator(_distinct), WithJsonSchema({
        "type": "array", "uniqueItems": True,
        "items": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": HANDLE},
    }),
]  # fmt: skip
UserName = Annotated[
    str, ApiPath(min_length=1, max_length=100, pattern=HANDLE, description="The user's name.")
]
_NO_USER: Final = {404: "No user of that name (or a team named in the body does not exist)."}


def _written(value: object) -> object:
    """ISO 8601 text only: pydantic would also read a number as seconds since 1970."""
    if not isinstance(value, str) or re.match(_YEARS, value) is None:
        raise ValueError(
            "give an ISO 8601 date-time from 1970 to 2999, e.g. 2027-01-04T09:00+01:00"
        )
    return value


def _whole(value: object) -> object:
    """A number only: pydantic would also read true as 1 and "7" as 7."""
    if isinstance(value, bool | str):
        raise ValueError("give a whole number")
    return value


# A time a person means: a year from 1970 to 2999 (so its UTC time always exists).
Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_written),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": _YEARS}),
]
# Bounds before the check: after it, pydantic leaves them out of an optional field's schema.
Weight = Annotated[int, Field(ge=1, le=100), BeforeValidator(_whole)]
Capacity = Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(_whole)]


class NewUser(BaseModel):
    """A user to add, as `leadsift user add`."""

    model_config = ConfigDict(extra="forbid")

    name: Handle = Field(description="A short handle, e.g. alice (stored in lower case).")
    role: Role = Role.AGENT
    teams: Names = Field(default_factory=list, max_length=100)
    weight: Weight = Field(default=1, description="Round-robin weight.")
    capacity: Capacity | None = Field(
        default=None, description="The most open prospects they may hold."
    )


class UserChange(BaseModel):
    """What `leadsift user update` changes; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    weight: Weight | None = None
    capacity: Capacity | None = None
    away_until: Moment | None = Field(default=None, description="Assignment skips them until.")
    back: StrictBool = Field(
        default=False, description="Back from an absence (clears away_until; wins over it)."
    )


class DisabledUser(UserView):
    """A disabled user, and how their open prospects were dealt again."""

    prospects_dealt_again: AssignmentSummary


class TeamBody(BaseModel):
    """A team to add, or members to add to an existing team (`leadsift team add`)."""

    model_config = ConfigDict(extra="forbid")

    name: Handle
    members: Names = Field(default_factory=list, max_length=1_000)


class TeamPage(BaseModel):
    """Teams by name, a page at a time; `next` is the `after` of the next page (null: none)."""

    items: list[TeamView]
    next: str | None


class AssignmentRun(BaseModel):
    """`leadsift assign`: give every qualified prospect without an owner to one."""

    model_config = ConfigDict(extra="forbid")

    dry_run: StrictBool = Field(
        default=False, description="Say who would get what; change nothing."
    )


class WaitingList(BaseModel):
    """Qualified prospects nobody has touched yet, beyond the SLA, longest waiting first."""

    waiting: list[WaitingProspect]


def _sla(text: str | None) -> timedelta | None:
    if text is None:
        return None
    parsed = parse_duration(text)
    if parsed is None:
        raise InvalidInputError(f"sla {text!r}: give a duration such as 1h, 30m or 2d")
    return parsed


Sla = Annotated[
    str | None,
    Query(
        max_length=12,
        pattern=_SLA_PATTERN,
        description="Override the playbook's SLA (e.g. 1h, 30m, 2d).",
    ),
]


@router.post(
    "/users",
    operation_id="add_user",
    response_model=UserView,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 404, 409, 413, 422, described=_NO_USER),
)
def add_user(
    request: Request, body: NewUser, caller: Annotated[Caller, Depends(_ADMIN)]
) -> UserView:
    """Add a user with a role, teams, round-robin weight and capacity (409 when the name is
    taken; 404 when a team does not exist)."""
    with database_of(request).unit_of_work() as session:
        return access.add_user(
            session, body.name, body.role, teams=body.teams, weight=body.weight,
            capacity=body.capacity, caller=caller,
        )  # fmt: skip


@router.patch(
    "/users/{name}",
    operation_id="update_user",
    response_model=UserView,
    responses=error_responses(400, 404, 413, 422, described=_NO_USER),
)
def update_user(
    request: Request, name: UserName, body: UserChange, caller: Annotated[Caller, Depends(_ADMIN)]
) -> UserView:
    """Change a user's role, weight, capacity or absence (role changes and absences audited)."""
    with database_of(request).unit_of_work() as session:
        return access.update_user(
            session, name, role=body.role, weight=body.weight, capacity=body.capacity,
            away_until=body.away_until.astimezone(UTC) if body.away_until else None,
            back=body.back, caller=caller,
        )  # fmt: skip


@router.post(
    "/users/{name}/disable",
    operation_id="disable_user",
    response_model=DisabledUser,
    responses=error_responses(404, 422, described=_NO_USER),
)
def disable_user(
    request: Request, name: UserName, caller: Annotated[Caller, Depends(_ADMIN)]
) -> DisabledUser:
    """Disable a user: their keys stop working, assignment skips them, and their open prospects
    are dealt again by the playbook's rules (disabling twice changes nothing more)."""
    with database_of(request).unit_of_work() as session:
        user, dealt = service.disable_user(session, name, caller=caller)
    return DisabledUser(**user.model_dump(), prospects_dealt_again=dealt)


@router.get(
    "/teams", operation_id="list_teams", response_model=TeamPage, responses=error_responses(422)
)
def list_teams(
    _caller: Annotated[Caller, Depends(_MANAGERS)],
    session: Annotated[Session, Depends(reading_session)],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Teams per page.")] = 100,
    after: Annotated[
        str | None,
        Query(max_length=100, pattern=HANDLE, description="A page's `next`, as is."),
    ] = None,
) -> TeamPage:
    """Teams and their members, by name."""
    # Sorted here, by code point: the database's collation may order '-' and '.' otherwise.
    everyone = sorted(access.list_teams(session), key=lambda team: team.name)
    teams = [t for t in everyone if after is None or t.name > after.lower()]
    page = teams[:limit]
    return TeamPage(items=page, next=page[-1].name if len(teams) > limit else None)


@router.post(
    "/teams",
    operation_id="add_team",
    response_model=TeamView,
    responses=error_responses(400, 404, 413, 422, described={404: "A member does not exist."}),
)
def add_team(
    request: Request, body: TeamBody, caller: Annotated[Caller, Depends(_ADMIN)]
) -> TeamView:
    """Add a team, or add members to an existing one (each addition audited)."""
    with database_of(request).unit_of_work() as session:
        return access.add_team(session, body.name, body.members, caller=caller)


@router.post(
    "/assignment-runs",
    operation_id="run_assignment",
    response_model=AssignmentSummary,
    responses=error_responses(400, 413, 422),
)
def run_assignment(
    request: Request, body: AssignmentRun, _caller: Annotated[Caller, Depends(_ADMIN)]
) -> AssignmentSummary:
    """Give the qualified prospects without an owner to one by the active playbook's rules, as
    `leadsift assign` (fast: answered at once, not a job); a dry run writes nothing."""
    with database_of(request).unit_of_work(dry_run=body.dry_run) as session:
        return service.assign(session, dry_run=body.dry_run)


@router.get(
    "/speed-to-lead",
    operation_id="speed_to_lead_report",
    response_model=SpeedReport,
    responses=error_responses(422),
)
def speed_report(
    _caller: Annotated[Caller, Depends(_MANAGERS)],
    session: Annotated[Session, Depends(reading_session)],
    by: Annotated[Literal["agent", "source", "team"], Query()] = "agent",
    since: Annotated[
        Moment | None, Query(alias="from", description="Qualified from (default: 30 days ago).")
    ] = None,
    until: Annotated[
        Moment | None, Query(alias="to", description="Qualified before (default: now).")
    ] = None,
    sla: Sla = None,
) -> SpeedReport:
    """Time from qualification to the first touch by a person, per agent, source or team, as
    `leadsift speed report`."""
    now = utcnow()
    return speed_service.report(
        session, by=by, since=since or now - timedelta(days=30), until=until or now, now=now,
        sla=_sla(sla),
    )  # fmt: skip


@router.get(
    "/speed-to-lead/waiting",
    operation_id="speed_to_lead_waiting",
    response_model=WaitingList,
    responses=error_responses(422),
)
def speed_waiting(
    caller: Annotated[Caller, Depends(_ANYONE)],
    session: Annotated[Session, Depends(reading_session)],
    sla: Sla = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> WaitingList:
    """Qualified prospects nobody has touched yet beyond the SLA, longest waiting first, among
    those the caller may see (as `leadsift speed waiting`)."""
    found = speed_service.waiting(session, now=utcnow(), sla=_sla(sla), limit=limit, caller=caller)
    return WaitingList(waiting=found)
