"""Contacts over the API: one contact with its stage, consent and scores; creating or updating
contacts as an import does (one row, or up to 1,000 in a batch answered per item); changing one
contact's fields.

Writes go through the import itself (`service.import_contacts` on a JSON Lines file of the
rows): the same normalisation, de-duplication on email, phone and external id, merge rules,
consent ledger and undo data (`leadsift import undo BATCH`) as `leadsift import contacts`, and
the same hooks after it (the active model scores the contacts).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from sqlalchemy.orm import Session

from leadsift.access.endpoints import RATE_LIMITED, allow
from leadsift.access.repository import is_visible
from leadsift.access.schemas import Caller, Role, Scope
from leadsift.contacts import lookup, repository, service
from leadsift.contacts.fields import RESERVED_KEYS
from leadsift.contacts.normalise import Rejection
from leadsift.contacts.schemas import ContactView, ImportOptions, ImportSummary
from leadsift.contacts.validators import normalise_email, normalise_phone
from leadsift.errors import ConflictError, InvalidInputError, LeadsiftError, NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import (
    NO_NUL,
    ContactId,
    ErrorDetail,
    FieldProblem,
    database_of,
    error_responses,
    reading_session,
    settings_of,
)

router = APIRouter(
    prefix="/api/v1", tags=["contacts"], responses=error_responses(401, 403, described=RATE_LIMITED)
)
# Contacts coming in (a CRM sync, a site's back end): the ingest scope, as events; people keys
# only of admins, since a create-or-update reaches contacts by their identifiers, not by who
# may see them.
_WRITE: Final = allow(Scope.INGEST, roles={Role.ADMIN})
# Changing one contact: admins, and managers for the contacts they see.
_CHANGE: Final = allow(Scope.ADMIN, roles={Role.ADMIN, Role.MANAGER})
MAX_BATCH: Final = 1_000
Channel = Literal["email", "sms", "phone", "ad_audience"]
AttributeKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,99}$")]


def _whole(value: object) -> object:
    """A number only: pydantic would also read true as 1 and "7" as 7 (bounds go before this
    check in `Annotated`, or pydantic leaves them out of the schema of an optional field)."""
    if isinstance(value, bool | str):
        raise ValueError("give a whole number")
    return value


Age = Annotated[int, Field(ge=0, le=150), BeforeValidator(_whole)]
# Each kind as sent: text stays text ("7" is not read as 7), as a JSON Lines file's cells.
AttributeValue = (
    Annotated[StrictStr, StringConstraints(max_length=2_000, pattern=NO_NUL)]
    | Annotated[StrictInt, Field(ge=-(2**53), le=2**53)]
    | Annotated[StrictFloat, Field(allow_inf_nan=False)]
    | StrictBool
)


def _text(limit: int) -> Any:
    return Field(default=None, max_length=limit, pattern=NO_NUL)


class ContactFields(BaseModel):
    """A contact's fields as an import reads them (absent: left as stored). Phones in any
    notation (+code outside the workspace's LEADSIFT_DEFAULT_REGION), birth dates as YYYY-MM-DD
    or DD/MM/YYYY."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = _text(320)
    phone: str | None = _text(64)
    external_id: str | None = _text(200)
    first_name: str | None = _text(200)
    last_name: str | None = _text(200)
    birth_date: str | None = _text(40)
    age: Age | None = None
    postal_code: str | None = _text(20)
    city: str | None = _text(200)
    region: str | None = _text(200)
    country: str | None = _text(100)
    company: str | None = _text(300)
    job_title: str | None = _text(300)
    source: str | None = _text(200)
    consent: dict[Channel, StrictBool] = Field(
        default_factory=dict, description="Consent per channel, as an import's consent columns."
    )
    attributes: dict[AttributeKey, AttributeValue] = Field(
        default_factory=dict, max_length=100, description="Custom attributes by key."
    )

    @field_validator("attributes")
    @classmethod
    def _not_standard(cls, value: dict[str, Any]) -> dict[str, Any]:
        taken = sorted(set(value) & RESERVED_KEYS)
        if taken:
            raise ValueError(f"{', '.join(taken)}: a standard name, not a custom attribute")
        return value


def _row(fields: ContactFields) -> dict[str, Any]:
    """The contact as a JSON Lines object whose keys map to themselves (`--map key=key`)."""
    values = fields.model_dump(exclude={"consent", "attributes"})
    row: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
    row.update(
        {f"consent_{ch}": "yes" if granted else "no" for ch, granted in fields.consent.items()}
    )
    row.update({f"attrs.{key}": value for key, value in fields.attributes.items()})
    # Every row names the identifiers, so even one without any is a row (refused as such).
    return {"email": None, "phone": None, "external_id": None, **row}


def _import(
    request: Request, session: Session, rows: Sequence[dict[str, Any]], *, update: bool,
    region: str, name: str,
) -> tuple[ImportSummary, dict[int, Rejection]]:  # fmt: skip
    """Import ROWS as `leadsift import contacts` would a file of them; the refused rows by index."""
    headers = dict.fromkeys(key for row in rows for key in row)
    options = ImportOptions(
        mapping=tuple(f"{key}={key}" for key in headers), default_region=region, update=update,
        workers=1,
    )  # fmt: skip
    # Every key looked up in the database: the in-memory pre-filter is for files of millions.
    settings = settings_of(request).model_copy(update={"import_key_filter_max": -1})
    rejected: dict[int, Rejection] = {}
    with tempfile.TemporaryDirectory(prefix="leadsift-api-") as folder:
        file = Path(folder) / name
        lines = (json.dumps(row, ensure_ascii=False) for row in rows)
        file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        summary = service.import_contacts(
            session, file, options, settings=settings,
            # Rows are numbered as in a file with a header line: the first is row 2.
            on_rejections=lambda found: rejected.update({r.row_number - 2: r for r in found}),
        )  # fmt: skip
    if summary.batch_id is not None:
        touched = service.contacts_of_batch(session, summary.batch_id)
        for hook in getattr(request.app.state, "after_import", ()):
            hook(session, touched, utcnow())
    return summary, rejected


def _landed(session: Session, row: dict[str, Any], region: str) -> int | None:
    """The contact a row went to: the one its email, else phone, else external id now names."""
    found = None
    if row["email"]:
        found = repository.find_contact(session, email=normalise_email(str(row["email"])))
    if found is None and row["phone"]:
        found = repository.find_contact(session, phone=normalise_phone(str(row["phone"]), region))
    if found is None and row["external_id"] and str(row["external_id"]).strip():
        found = repository.find_contact(session, external_id=str(row["external_id"]).strip())
    return found.id if found is not None else None


def _refusal(rejection: Rejection, sees_everything: bool = True) -> LeadsiftError:
    """A refused row as the error the API answers with (an identity conflict is a 409)."""
    column = f"{rejection.column}: " if rejection.column else ""
    if rejection.reason == "identity_conflict":
        # Which contact holds the identifier is for those who see every contact.
        message = rejection.message if sees_everything else "it belongs to another contact"
        return ConflictError(f"{column}{message}", code=rejection.reason)
    return InvalidInputError(f"{column}{rejection.message}", code=rejection.reason)


Update = Annotated[
    bool, Query(description="Overwrite stored fields (as `--update`); else fill empty ones only.")
]


class Written(BaseModel):
    """The contact a write created or updated, and the import batch it belongs to."""

    id: int
    created: bool
    batch_id: int | None = Field(description="`leadsift import undo BATCH` undoes it.")


@router.post(
    "/contacts",
    operation_id="upsert_contact",
    response_model=Written,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": Written, "description": "An existing contact (found by email, phone or "
              "external id) was updated, or already held these values."},
        **error_responses(400, 409, 413, 422, described={
            409: "The email, phone or external id belong to different contacts.",
            422: "The request is not valid, or a value is not (an email, a phone number, a date) "
            "or the contact has no email, phone nor external id: the code says which.",
        }),
    },
)  # fmt: skip
def upsert_contact(
    request: Request,
    response: Response,
    body: ContactFields,
    _caller: Annotated[Caller, Depends(_WRITE)],
    update: Update = False,
) -> Written:
    """Create a contact, or update the one its email, phone or external id already names, as a
    one-row `leadsift import contacts` (201 when created, 200 otherwise)."""
    region = settings_of(request).default_region.upper()  # phones without +code
    row = _row(body)
    with database_of(request).unit_of_work() as session:
        summary, rejected = _import(
            request, session, [row], update=update, region=region, name="api-contact.jsonl"
        )
        if rejected:
            raise _refusal(rejected[0])
        contact_id = _landed(session, row, region)
        assert contact_id is not None  # noqa: S101 — a row not refused has its contact
    created = summary.created == 1
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return Written(id=contact_id, created=created, batch_id=summary.batch_id)


@router.patch(
    "/contacts/{contact_id}",
    operation_id="update_contact",
    response_model=ContactView,
    responses=error_responses(400, 404, 409, 413, 422, described={
        404: "No such contact among those the caller may see.",
        409: "A new email, phone or external id belongs to another contact.",
    }),
)  # fmt: skip
def update_contact(
    request: Request,
    contact_id: ContactId,
    body: ContactFields,
    caller: Annotated[Caller, Depends(_CHANGE)],
) -> ContactView:
    """Change a contact's fields, consent or attributes, as a one-row `import contacts
    --update` keyed on the contact's identifiers (fields absent stay as they are)."""
    region = settings_of(request).default_region.upper()  # phones without +code
    with database_of(request).unit_of_work() as session:
        if not is_visible(session, caller, contact_id):
            raise NotFoundError(f"no contact {contact_id}")
        stored = lookup.get_contact(session, contact_id)
        row = _row(body)
        kept = {k: getattr(stored, k) for k in ("email", "phone", "external_id") if not row[k]}
        if not any(kept.values()):
            raise InvalidInputError(
                "this would replace every identifier the contact has: keep one of its email, "
                "phone or external id (send it unchanged) so the change finds the contact"
            )
        row.update({k: v for k, v in kept.items() if v})
        name = f"api-contact-{contact_id}.jsonl"
        _, rejected = _import(request, session, [row], update=True, region=region, name=name)
        if rejected:
            raise _refusal(rejected[0], caller.sees_everything)
        if _landed(session, row, region) != contact_id:
            raise ConflictError("the new identifiers name another contact: nothing was changed")
        return lookup.get_contact(session, contact_id)


class ItemOutcome(BaseModel):
    """One contact of a batch: 201 created, 200 updated (or unchanged), else its error."""

    index: int = Field(description="Its position in the request, from 0.")
    status: int
    id: int | None = None
    error: ErrorDetail | None = None


class BatchOutcome(BaseModel):
    """Each contact's outcome, in request order, and the import batch of those written."""

    batch_id: int | None
    items: list[ItemOutcome]


class ContactBatch(BaseModel):
    """Up to 1,000 contacts; each is checked on its own (one refused never spoils the rest)."""

    model_config = ConfigDict(extra="forbid")

    contacts: list[Annotated[dict[str, Any], WithJsonSchema(ContactFields.model_json_schema())]] = (
        Field(min_length=1, max_length=MAX_BATCH)
    )


def _checked(items: Sequence[dict[str, Any]]) -> tuple[dict[int, ContactFields], list[ItemOutcome]]:
    valid: dict[int, ContactFields] = {}
    refused: list[ItemOutcome] = []
    for index, item in enumerate(items):
        try:
            valid[index] = ContactFields.model_validate(item)
        except ValidationError as problem:
            details = [
                FieldProblem(field=".".join(map(str, e["loc"])) or "contact", message=e["msg"])
                for e in problem.errors()
            ]
            message = "; ".join(f"{d.field}: {d.message}" for d in details[:3])
            error = ErrorDetail(code="invalid_request", message=message, details=details)
            refused.append(ItemOutcome(index=index, status=422, error=error))
    return valid, refused


@router.post(
    "/contacts:batch",
    operation_id="batch_upsert_contacts",
    response_model=BatchOutcome,
    status_code=status.HTTP_207_MULTI_STATUS,
    responses=error_responses(400, 413, 422),
)
def batch_upsert_contacts(
    request: Request,
    body: ContactBatch,
    _caller: Annotated[Caller, Depends(_WRITE)],
    update: Update = False,
) -> BatchOutcome:
    """Create or update up to 1,000 contacts as one import batch; each gets its own status: 201
    created, 200 updated or unchanged (a later duplicate of an earlier one: 200, same id), 409
    or 422 with its error."""
    region = settings_of(request).default_region.upper()  # phones without +code
    valid, outcomes = _checked(body.contacts)
    batch_id = None
    if valid:
        indexes = list(valid)
        rows = [_row(valid[i]) for i in indexes]
        with database_of(request).unit_of_work() as session:
            summary, rejected = _import(
                request, session, rows, update=update, region=region, name="api-batch.jsonl"
            )
            batch_id = summary.batch_id
            outcomes += _outcomes(session, indexes, rows, rejected, region, batch_id)
    return BatchOutcome(batch_id=batch_id, items=sorted(outcomes, key=lambda o: o.index))


def _outcomes(  # noqa: PLR0917 — what one batch's rows became
    session: Session,
    indexes: list[int],
    rows: list[dict[str, Any]],
    rejected: dict[int, Rejection],
    region: str,
    batch_id: int | None,
) -> list[ItemOutcome]:
    outcomes, seen = [], set()
    for position, (index, row) in enumerate(zip(indexes, rows, strict=True)):
        if position in rejected:
            error = _refusal(rejected[position])
            detail = ErrorDetail(code=error.code, message=error.message)
            outcomes.append(ItemOutcome(index=index, status=error.http_status, error=detail))
            continue
        contact_id = _landed(session, row, region)
        assert contact_id is not None  # noqa: S101 — a row not refused has its contact
        contact = repository.find_contact(session, contact_id=contact_id)
        new = (
            contact is not None and contact.created_batch_id == batch_id and contact_id not in seen
        )
        seen.add(contact_id)
        outcomes.append(ItemOutcome(index=index, status=201 if new else 200, id=contact_id))
    return outcomes


@router.get(
    "/contacts/{contact_id}",
    operation_id="get_contact",
    response_model=ContactView,
    responses=error_responses(404, 422),
)
def get_contact(
    contact_id: ContactId,
    db: Annotated[Session, Depends(reading_session)],
    caller: Annotated[Caller, Depends(allow(Scope.READ))],
) -> ContactView:
    """One contact: identity, stage and reason, consent per channel, fit and interest (404
    for a contact the key's user may not see, exactly as for one that does not exist)."""
    if not is_visible(db, caller, contact_id):
        raise NotFoundError(f"no contact {contact_id}")
    return lookup.get_contact(db, contact_id)
