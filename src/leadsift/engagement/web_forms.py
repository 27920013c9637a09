"""Web forms, the request side: reading a posted form, and the one transaction that records it
(the contact, its consent, the visitor linked and its past events stitched)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime
from typing import Final, TypeVar

import pydantic_core
from fastapi import Request
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from leadsift.contacts.forms import FormOutcome, FormSubmission, record_submission
from leadsift.db import Database
from leadsift.engagement import service
from leadsift.errors import InvalidInputError, MalformedJsonError

MAX_FIELDS: Final = 200
# A transaction that lost a race (the same new email submitted twice at once, or a deadlock
# with the event writer on PostgreSQL) is run again.
ATTEMPTS: Final = 8
FIRST_PAUSE: Final = 0.005
MAX_PAUSE: Final = 0.25
_FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")

T = TypeVar("T")


def _scalar(name: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str | int | float):
        return str(value)
    raise InvalidInputError(f"{name}: expected a text, number or yes/no value")


def _json_fields(body: bytes) -> dict[str, str]:
    try:
        document = pydantic_core.from_json(body)
    except ValueError as exc:
        raise MalformedJsonError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidInputError("expected the form's fields as one JSON object")
    fields = {}
    for name, value in document.items():
        text = _scalar(name, value)
        if text is not None:
            fields[name] = text
    return fields


async def read_fields(request: Request) -> dict[str, str]:
    """A posted form's fields (urlencoded, multipart or a JSON object); a field given several
    times keeps its last value (a hidden "no" before a checkbox's "yes")."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type == "application/json":
        return _json_fields(await request.body())
    if content_type not in _FORM_TYPES:
        raise InvalidInputError(
            f"content type {content_type or 'none'!r}: post the form urlencoded, as "
            "multipart/form-data or as a JSON object",
            code="unsupported_content_type",
        )
    form = await request.form(max_fields=MAX_FIELDS)
    fields = {}
    for name, value in form.multi_items():
        if not isinstance(value, str):
            raise InvalidInputError(f"{name}: files are not accepted", code="invalid_field")
        fields[name] = value
    return fields


def retrying(database: Database, work: Callable[[Session], T]) -> T:
    """Run WORK in a unit of work, again (after a short, growing, jittered pause) when it lost
    a race with another writer."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with database.unit_of_work() as session:
                return work(session)
        except (IntegrityError, OperationalError):
            if attempt == ATTEMPTS:
                raise
        pause = min(MAX_PAUSE, FIRST_PAUSE * 2**attempt)
        time.sleep(pause * random.uniform(0.5, 1.5))  # noqa: S311 — jitter, not a secret
    raise AssertionError("unreachable")  # pragma: no cover


def record_form(
    database: Database, submission: FormSubmission, visitor: str | None, now: datetime
) -> FormOutcome:
    """In one transaction: the contact created or completed, its consent, and the visitor linked
    to it with its anonymous events (events already another contact's stay theirs)."""

    def work(session: Session) -> FormOutcome:
        outcome = record_submission(session, submission, now)
        if visitor is not None:
            service.identify_visitor(session, visitor, outcome.contact_id, via="web_form", now=now)
        return outcome

    return retrying(database, work)


def link_visitor(
    database: Database, visitor: str, contact_id: int, via: str, now: datetime
) -> bool:
    """Link a visitor to a contact that still exists (stitching its past events); whether it
    was linked."""

    def work(session: Session) -> bool:
        if not service.contact_exists(session, contact_id):
            return False
        service.identify_visitor(session, visitor, contact_id, via=via, now=now)
        return True

    return retrying(database, work)


def stitch_stragglers(database: Database, visitor: str, contact_id: int) -> int:
    """Stitch the visitor's events recorded while it was being linked (see tracking.py)."""
    return retrying(
        database, lambda session: service.stitch_stragglers(session, visitor, contact_id)
    )
