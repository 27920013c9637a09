"""Contacts selected by a criteria expression over the API: what `leadsift contacts fields|count|
list|export` do, limited to the contacts the caller may see. Lists are pages in keyset order (the
id, or `order_by` then the id): `next` is the `after` of the next page.

These routes live with the commands they mirror (segments/cli.py): the criteria fields include
scores and event aggregates, which the contacts domain below cannot import. Count and export are
`/contacts:count` and `/contacts:export` (as `/contacts:batch`), never `/contacts/count`: under
`/contacts/{contact_id}` any other method of that path would reach a route of the contact whose
id is "count" (422 rather than 405), and routes would depend on the order of inclusion.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access.endpoints import RATE_LIMITED, allow
from leadsift.access.schemas import Caller, Role, Scope
from leadsift.access.service import audit
from leadsift.contacts import export
from leadsift.contacts import repository as contacts_repository
from leadsift.contacts.models import Contact
from leadsift.criteria import CriteriaError, FieldRegistry, FieldSpec, Moment
from leadsift.criteria.ast import Field as FieldName
from leadsift.criteria.evaluate import field_value
from leadsift.errors import InvalidInputError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import NO_NUL, ErrorDetail, database_of, error_responses, reading_session
from leadsift.segments import saved
from leadsift.segments import service as segments
from leadsift.segments.fields import field_registry

router = APIRouter(
    prefix="/api/v1", tags=["contacts"], responses=error_responses(401, 403, described=RATE_LIMITED)
)
_READ: Final = allow(Scope.READ)
# A bulk copy of personal data: admins and managers (their teams' contacts), as on the pages.
_EXPORT: Final = allow(Scope.READ, roles={Role.ADMIN, Role.MANAGER})
MAX_PAGE: Final = 500
# What `contacts fields --json` lists after the fields (segments/cli.py AGGREGATES).
AGGREGATES: Final = (
    ("count(TYPE [where …] [within 30d])", "integer"),
    ("last(TYPE [where …])", "datetime"),
)
# The order `contacts fields` lists them in: profile, scores, consent, attributes, the rest.
_KIND_ORDER: Final = {
    "column": 0,
    "age": 0,
    "score": 1,
    "prediction": 1,
    "consent": 2,
    "attribute": 3,
}
CURSOR_PATTERN: Final = r"^[A-Za-z0-9_-]{1,2000}$"


class CriteriaProblem(ErrorDetail):
    """What is wrong, and for an expression that does not parse, where."""

    line: int | None = Field(default=None, description="Where the expression breaks (from 1).")
    column: int | None = None
    token: str | None = Field(default=None, description="What was found there.")


class CriteriaErrorBody(BaseModel):
    """The error answer of a route taking a criteria expression."""

    error: CriteriaProblem


_INVALID: Final[dict[int | str, dict[str, Any]]] = {
    422: {
        "model": CriteriaErrorBody,
        "description": "The request is not valid, or the expression is not: the message says "
        "where (line, column) and what to write instead; an unknown field gets a suggestion.",
    }
}
Where = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=saved.MAX_EXPRESSION,
        pattern=NO_NUL,
        description='A criteria expression, e.g. `stage = "lead" and interest >= 40` '
        "(`GET /api/v1/contact-fields` lists the fields).",
    ),
]
Segment = Annotated[
    str | None,
    Query(
        max_length=saved.MAX_NAME,
        pattern=saved.NAME_PATTERN,
        description="A saved segment's name instead of `where`.",
    ),
]


def _refused(problem: CriteriaError) -> JSONResponse:
    """An expression's error with where it breaks: line, column and the token found there."""
    return JSONResponse({"error": problem.as_json()}, status_code=problem.http_status)


def _selection(
    session: Session, caller: Caller, where: str | None, segment: str | None
) -> ColumnElement[bool] | None:
    """The contacts matching the expression (or segment) that the caller may see."""
    expression = saved.chosen_expression(session, where, segment)
    found = [segments.where_condition(session, expression)]
    if not caller.sees_everything:
        found.append(access_repository.visible_filter(caller, Contact.id))
    conditions = [c for c in found if c is not None]
    return and_(*conditions) if conditions else None


class FieldInfo(BaseModel):
    """A field criteria may name."""

    name: str
    type: str
    kind: str
    choices: list[str]


class Aggregate(BaseModel):
    """An aggregate over a contact's events criteria may use."""

    syntax: str
    type: str


class FieldList(BaseModel):
    """What `leadsift contacts fields --json` prints."""

    fields: list[FieldInfo]
    aggregates: list[Aggregate]


@router.get("/contact-fields", operation_id="list_contact_fields", response_model=FieldList)
def list_fields(
    _caller: Annotated[Caller, Depends(_READ)],
    session: Annotated[Session, Depends(reading_session)],
) -> FieldList:
    """The fields criteria expressions may use, with their types, and the event aggregates."""
    registry = field_registry(session)
    specs = sorted(
        {s.name: s for s in registry.fields.values()}.values(),
        key=lambda spec: (_KIND_ORDER.get(spec.kind, 4), spec.name),
    )
    return FieldList(
        fields=[FieldInfo(name=s.name, type=s.value_type, kind=s.kind, choices=list(s.choices))
                for s in specs],
        aggregates=[Aggregate(syntax=syntax, type=kind) for syntax, kind in AGGREGATES],
    )  # fmt: skip


class ContactCount(BaseModel):
    """How many contacts match, among those the caller may see."""

    count: int


@router.get(
    "/contacts:count",
    operation_id="count_contacts",
    response_model=ContactCount,
    responses={**_INVALID, **error_responses(404, described={404: "No segment of that name."})},
)
def count_contacts(
    caller: Annotated[Caller, Depends(_READ)],
    session: Annotated[Session, Depends(reading_session)],
    where: Where = None,
    segment: Segment = None,
) -> ContactCount | JSONResponse:
    """How many contacts match `where` or a saved `segment` (all without), among those the
    caller may see (as `leadsift contacts count`)."""
    try:
        selected = _selection(session, caller, where, segment)
    except CriteriaError as problem:
        return _refused(problem)
    return ContactCount(count=contacts_repository.count_contacts(session, selected))


class ContactPage(BaseModel):
    """A page of matching contacts, each with the fields asked for; `next` is the `after` of the
    next page (null on the last)."""

    items: list[dict[str, Any]]
    next: str | None


def _encode(order_by: str | None, value: Any, last_id: int) -> str:
    if isinstance(value, date | datetime):
        value = value.isoformat()
    text = json.dumps([order_by, value, last_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _decode(cursor: str, order_by: str | None, spec: FieldSpec | None) -> tuple[Any, int]:
    """The sort value and id of the last contact shown, from a page's `next`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        given, value, last_id = json.loads(base64.urlsafe_b64decode(padded))
        if spec is not None and value is not None and spec.value_type in ("date", "datetime"):
            value = (datetime if spec.value_type == "datetime" else date).fromisoformat(value)
        if type(last_id) is not int or isinstance(value, list | dict):
            raise ValueError
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInputError(
            "after: not a cursor this API gave; pass a page's `next` as is"
        ) from None
    if given != order_by:
        raise InvalidInputError(f"after: this cursor is of a list ordered by {given or 'id'}")
    return value, last_id


def _later(
    order: ColumnElement[Any], descending: bool, value: Any, last_id: int
) -> ColumnElement[bool]:
    """Contacts after (VALUE, LAST_ID) in the order `(order, nulls last), id`."""
    if value is None:
        return and_(order.is_(None), Contact.id > last_id)
    beyond = order < value if descending else order > value
    return or_(beyond, and_(order == value, Contact.id > last_id), order.is_(None))


def _pages(  # noqa: PLR0917 — the list's own parameters
    session: Session,
    registry: FieldRegistry,
    selected: ColumnElement[bool] | None,
    order_by: str | None,
    after: str | None,
    size: int,
) -> tuple[Iterator[list[Contact]], FieldSpec | None]:
    """Pages of SIZE contacts after the cursor, and the spec of the field they are sorted by."""
    if order_by is None:
        last_id = _decode(after, None, None)[1] if after is not None else 0
        later: ColumnElement[bool] = Contact.id > last_id
        where = later if selected is None else and_(selected, later)
        return contacts_repository.contact_pages(session, size, where, size), None
    order, descending = segments.sort_key(session, order_by)
    spec = registry.resolve(FieldName(order_by.strip().partition(" ")[0]))
    if after is not None:
        later = _later(order, descending, *_decode(after, order_by, spec))
        selected = later if selected is None else and_(selected, later)
    pages = contacts_repository.ordered_contact_pages(
        session, order, descending=descending, where=selected, limit=size, page_size=size
    )
    return pages, spec


@router.get(
    "/contacts",
    operation_id="list_contacts",
    response_model=ContactPage,
    responses={**_INVALID, **error_responses(404, described={404: "No segment of that name."})},
)
def list_contacts(  # noqa: PLR0917 — one parameter per option of `contacts list`
    caller: Annotated[Caller, Depends(_READ)],
    session: Annotated[Session, Depends(reading_session)],
    where: Where = None,
    segment: Segment = None,
    fields: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=2_000,
            pattern=r"^[^\x00]*[^\s,\x00][^\x00]*$",
            description="Comma-separated fields (default id,email,phone,first_name,last_name,"
            "stage).",
        ),
    ] = None,
    order_by: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=NO_NUL,
            description="Sort by a stored field or score: `priority` (scores: highest first), "
            "`created_at`, `city desc` (unknown values last, then by id).",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Contacts per page.")] = 50,
    after: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="A page's `next`, as is.")
    ] = None,
) -> ContactPage | JSONResponse:
    """Contacts matching `where` or a saved `segment` that the caller may see, with the fields
    asked for, in id order or `order_by`'s (as `leadsift contacts list`)."""
    registry = field_registry(session)
    try:
        specs = [registry.resolve(FieldName(n)) for n in segments.parse_fields(fields)]
        selected = _selection(session, caller, where, segment)
        pages, order_spec = _pages(session, registry, selected, order_by, after, limit + 1)
    except CriteriaError as problem:
        return _refused(problem)
    found = next(pages, [])
    rows = _values(session, found, [*specs, order_spec] if order_spec else specs)
    # As `contacts list --json`: each field under its name (an attribute's bare key resolved).
    items = [dict(zip([s.name for s in specs], row, strict=False)) for row in rows[:limit]]
    cursor = None
    if len(found) > limit:
        value = rows[limit - 1][-1] if order_spec is not None else None
        cursor = _encode(order_by, value, found[limit - 1].id)
    return ContactPage(items=items, next=cursor)


def _values(session: Session, page: list[Contact], specs: list[FieldSpec]) -> list[list[Any]]:
    """Each contact's values of SPECS, as `contacts list` reads them."""
    moment = Moment(utcnow())
    ids = [c.id for c in page]
    needs_scores = any(s.kind in ("score", "prediction") for s in specs)
    scores = contacts_repository.scores_of(session, ids) if needs_scores and ids else {}
    needs_consent = any(s.kind == "consent" for s in specs)
    rows = []
    for contact in page:
        consent = contacts_repository.consent_of(session, contact.id) if needs_consent else {}
        facts = segments.facts_of(contact, consent, scores.get(contact.id))
        rows.append([field_value(spec, facts, moment) for spec in specs])
    return rows


@router.get(
    "/contacts:export",
    operation_id="export_contacts",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every matching contact the caller may see, as CSV with the import's "
            "column names (what `leadsift contacts export` writes).",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **_INVALID,
        **error_responses(404, described={404: "No segment of that name."}),
    },
)
def export_contacts(
    request: Request,
    caller: Annotated[Caller, Depends(_EXPORT)],
    where: Where = None,
    segment: Segment = None,
) -> Response:
    """Every matching contact the caller may see as CSV, streamed as it is read (no page: the
    export is one document, as the CLI's); audited with the count, never the rows."""
    database = database_of(request)
    with database.unit_of_work() as session:
        try:
            selected = _selection(session, caller, where, segment)
        except CriteriaError as problem:
            return _refused(problem)
        count = contacts_repository.count_contacts(session, selected)
        audit(session, caller, "contacts_exported", ("contacts", None), details={"count": count})
    return StreamingResponse(
        export.csv_chunks(database, selected),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
    )
