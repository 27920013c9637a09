"""Promo programs and codes over the API: what `leadsift promo program create|list` do, calling
the same services (admins and managers, as on the promo codes page), personal codes issued to
contacts (per item: 207) and listed; and what the campaign routes share (who may call them,
pages, times). Redeeming a code is `POST /api/v1/promo/redeem` (outreach.endpoints)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

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

from leadsift.access.endpoints import RATE_LIMITED, allow
from leadsift.access.schemas import Caller, Role, Scope
from leadsift.kit.clock import utcnow
from leadsift.kit.query import strict_query
from leadsift.kit.web import NO_NUL, ErrorDetail, database_of, error_responses, reading_session
from leadsift.outreach import promo, promo_repository
from leadsift.outreach.models import PromoProgram
from leadsift.outreach.promo_codes import MAX_PREFIX_LENGTH

router = APIRouter(
    prefix="/api/v1",
    tags=["promo codes"],
    responses=error_responses(401, 403, described=RATE_LIMITED),
)
# Campaigns and codes concern the whole workspace: admins and managers run them (as on the web
# pages), agents do not. The key is checked first, then the query string: a parameter a route
# does not take is refused. (campaign_endpoints uses what this module's head defines.)
RUNNING: Final = frozenset({Role.ADMIN, Role.MANAGER})
Reading = Annotated[Caller, Depends(strict_query(allow(Scope.READ, roles=RUNNING)))]
Changing = Annotated[Caller, Depends(strict_query(allow(Scope.ADMIN, roles=RUNNING)))]
MAX_PAGE: Final = 500
# A page's `next`: the id of the last item, as text (ids are positive integers).
CURSOR_PATTERN: Final = r"^[1-9][0-9]{0,17}$"
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")]
After = Annotated[str | None, Query(pattern=CURSOR_PATTERN, description="A page's `next`, as is.")]
# What an integer column holds on PostgreSQL.
MAX_INT32: Final = 2**31 - 1


def whole_number(value: Any) -> Any:
    """A JSON integer (2.0 included, as JSON Schema has it), never text nor a boolean."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("give a whole number")
    return value


# The bounds before the validator, so the OpenAPI document states them.
Count = Annotated[int, Field(ge=1, le=MAX_INT32), BeforeValidator(whole_number)]
Seconds = Annotated[int, Field(ge=0, le=MAX_INT32), BeforeValidator(whole_number)]
# A program's key goes in URLs (/promo-programs/{key}/codes): letters, digits, '_', '.', '-'.
PROGRAM_KEY_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
# Times a person means: a year from 1970 to 2999 as written (so its UTC time always exists, and
# a start or an end that far is a typo, refused rather than stored).
_YEARS: Final = r"^(19[7-9][0-9]|2[0-9]{3})-"


def _written(value: Any) -> Any:
    # JSON has no time type: a number is not read as seconds since 1970.
    if not isinstance(value, str):
        raise ValueError("give a date-time as text, e.g. 2026-12-01T09:00:00+01:00")
    return value


def _plausible(moment: datetime) -> datetime:
    if not 1970 <= moment.year <= 2999:
        raise ValueError(f"the year {moment.year} is out of range: give one from 1970 to 2999")
    return moment


Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_written),
    AfterValidator(_plausible),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": _YEARS}),
]


class ProgramCreate(BaseModel):
    """What `promo program create` takes."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(
        min_length=1,
        max_length=100,
        pattern=PROGRAM_KEY_PATTERN,
        description="1 to 100 letters, digits, '_', '.' or '-', starting with a letter or digit.",
    )
    discount: str = Field(
        min_length=1,
        max_length=100,
        pattern=NO_NUL,
        description="What a code gives, e.g. `20%` or `10 EUR`.",
    )
    valid_from: Moment | None = None
    valid_until: Moment | None = Field(default=None, description="Later than valid_from.")
    max_redemptions: Count | None = Field(
        default=None, description="At most this many redemptions in all."
    )
    one_per_customer: StrictBool = Field(
        default=True, description="A person redeems at most one code of the program."
    )
    prefix: str = Field(
        default="",
        max_length=MAX_PREFIX_LENGTH,
        pattern=NO_NUL,
        description="Codes start with this (capital letters A-Z and digits).",
    )


class ProgramOut(BaseModel):
    """A promo program, as `promo program list --json` shows it."""

    model_config = ConfigDict(from_attributes=True)

    key: str
    discount: str
    valid_from: datetime | None
    valid_until: datetime | None
    max_redemptions: int | None
    one_per_customer: bool
    redemptions: int = Field(description="Codes of the program redeemed so far.")


class ProgramPage(BaseModel):
    """Programs oldest first; `next` is the cursor of the following page (null on the last)."""

    items: list[ProgramOut]
    next: str | None


def _out(program: PromoProgram) -> ProgramOut:
    return ProgramOut.model_validate(program)


@router.get(
    "/promo-programs",
    operation_id="list_promo_programs",
    response_model=ProgramPage,
    responses=error_responses(422),
)
def list_promo_programs(
    _caller: Reading,
    session: Annotated[Session, Depends(reading_session)],
    limit: Limit = 50,
    after: After = None,
) -> ProgramPage:
    """Every promo program with its redemptions (as `promo program list --json`), oldest
    first, a page at a time."""
    since = int(after) if after is not None else 0
    rows = [p for p in promo_repository.programs(session) if p.id > since]
    page = rows[:limit]
    following = str(page[-1].id) if len(rows) > limit else None
    return ProgramPage(items=[_out(p) for p in page], next=following)


@router.post(
    "/promo-programs",
    operation_id="create_promo_program",
    status_code=status.HTTP_201_CREATED,
    response_model=ProgramOut,
    responses=error_responses(
        400,
        409,
        413,
        422,
        described={
            409: "A program of that key exists.",
            422: "The request is not valid, or the program is not: a blank discount, "
            "valid_until not after valid_from, or a prefix other than A-Z and digits.",
        },
    ),
)
def create_promo_program(request: Request, body: ProgramCreate, _caller: Changing) -> ProgramOut:
    """Create a promo program (as `promo program create`); campaigns created with its key as
    `promo` give each message a personal code of it."""
    with database_of(request).unit_of_work() as session:
        program = promo.create_program(
            session,
            body.key,
            discount=body.discount,
            now=utcnow(),
            valid_from=body.valid_from,
            valid_until=body.valid_until,
            max_redemptions=body.max_redemptions,
            one_per_customer=body.one_per_customer,
            prefix=body.prefix,
        )
        return _out(program)


ProgramKey = Annotated[
    str, ApiPath(min_length=1, max_length=100, pattern=NO_NUL, description="The program's key.")
]
MAX_ISSUED: Final = 1_000


class IssueRequest(BaseModel):
    """Who gets a new personal code."""

    model_config = ConfigDict(extra="forbid")

    contacts: list[Annotated[int, Field(ge=1, le=2**53), BeforeValidator(whole_number)]] = Field(
        min_length=1,
        max_length=MAX_ISSUED,
        description="Contact ids: a new code for each (once per contact however often given).",
    )


class IssuedCode(BaseModel):
    """What one contact of the request got."""

    contact_id: int
    status: int = Field(description="201: a code was issued; 404: no such contact among yours.")
    code: str | None = None
    error: ErrorDetail | None = None


class IssueResult(BaseModel):
    """Each contact of the request, in its order, with its own status."""

    program: str
    items: list[IssuedCode]


@router.post(
    "/promo-programs/{key}/codes",
    operation_id="issue_promo_codes",
    status_code=status.HTTP_207_MULTI_STATUS,
    response_model=IssueResult,
    responses=error_responses(400, 404, 409, 413, 422, described={
        404: "No promo program of that key.",
        409: "The program ended, or reached its redemptions: it gives no more codes.",
    }),
)  # fmt: skip
def issue_promo_codes(
    request: Request, key: ProgramKey, body: IssueRequest, caller: Changing
) -> IssueResult:
    """Issue a new personal code of the program to each contact, outside any campaign (207:
    each contact with its status; one that does not exist or is not among the caller's gets
    404 and no code, the others get theirs)."""
    with database_of(request).unit_of_work() as session:
        issued = promo.issue_to_contacts(session, key, body.contacts, caller, utcnow())
    items = [
        IssuedCode(contact_id=c, status=201, code=code)
        if (code := issued[c]) is not None
        else IssuedCode(contact_id=c, status=404,
                        error=ErrorDetail(code="not_found", message=f"no contact {c}"))
        for c in body.contacts
    ]  # fmt: skip
    return IssueResult(program=key, items=items)


class CodeOut(BaseModel):
    """A personal code: its program and campaign, its owner, when issued and redeemed."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    program: str
    campaign: str | None = Field(description="The campaign whose message carried it, if any.")
    contact_id: int | None = Field(description="Its owner (null once the person is erased).")
    issued_at: datetime
    redeemed_at: datetime | None
    redeemed_amount: float | None


class CodePage(BaseModel):
    """Codes in the order issued; `next` is the cursor of the following page (null on the
    last)."""

    items: list[CodeOut]
    next: str | None


KeyFilter = Annotated[str | None, Query(min_length=1, max_length=100, pattern=NO_NUL)]


@router.get(
    "/promo-codes",
    operation_id="list_promo_codes",
    response_model=CodePage,
    responses=error_responses(422, described={404: "No program or campaign of that key."}),
)
def list_promo_codes(  # noqa: PLR0917 — the caller, the session, the filters, the page
    # Admin scope: unredeemed codes are worth money; a read-only integration key sees none.
    caller: Changing,
    session: Annotated[Session, Depends(reading_session)],
    program: KeyFilter = None,
    campaign: KeyFilter = None,
    redeemed: Annotated[bool | None, Query(description="Only (not) redeemed codes.")] = None,
    limit: Limit = 50,
    after: After = None,
) -> CodePage:
    """The personal codes of the contacts the caller may see, of a program, a campaign, (not)
    redeemed, a page at a time."""
    rows = promo.list_codes(
        session, caller, program=program, campaign=campaign, redeemed=redeemed,
        after=int(after) if after else None, limit=limit + 1,
    )  # fmt: skip
    following = str(rows[limit - 1].id) if len(rows) > limit else None
    return CodePage(items=[CodeOut.model_validate(c) for c in rows[:limit]], next=following)
