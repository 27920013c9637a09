"""Saved segments: criteria expressions kept under a name, checked when saved, audited.

Every face (CLI, API, pages) calls these functions; they flush, the entrypoint commits.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_
from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access.schemas import Caller
from leadsift.access.service import audit
from leadsift.contacts import repository as contacts_repository
from leadsift.contacts.models import Contact
from leadsift.criteria import CriteriaError, compile_criteria
from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.segments import saved_repository as repository
from leadsift.segments.fields import field_registry
from leadsift.segments.models import SavedSegment
from leadsift.segments.service import where_condition

MAX_NAME: Final = 100
MAX_EXPRESSION: Final = 2000
MAX_DESCRIPTION: Final = 300
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
_NAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


class SegmentView(BaseModel):
    """A saved segment as every face shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    expression: str
    description: str | None = None
    created_by: str
    created_at: datetime
    updated_at: datetime


class SavedView(SegmentView):
    """A segment just saved: whether it is new, and whether anything changed."""

    created: bool
    changed: bool


def segment_name(text: str) -> str:
    """NAME as stored: a lower-case handle (letters, digits, '.', '_', '-'), or a clear error."""
    name = text.strip().lower()
    if _NAME.fullmatch(name) is None:
        raise InvalidInputError(
            f"segment name {text!r}: use letters, digits, '.', '_' or '-' (at most {MAX_NAME}, "
            "starting with a letter or digit), e.g. 'hot-leads-lyon'; names ignore case"
        )
    return name


def _text(value: str, what: str, limit: int) -> str:
    if "\x00" in value:
        raise InvalidInputError(f"{what}: remove the NUL character")
    if len(value) > limit:
        raise InvalidInputError(f"{what}: at most {limit} characters (this one has {len(value)})")
    return value


def clean_expression(text: str) -> str:
    """The expression as stored: trimmed, not empty, within the size limit."""
    expression = _text(text.strip(), "segment expression", MAX_EXPRESSION)
    if not expression:
        raise InvalidInputError(
            'a segment needs a criteria expression, e.g. stage = "qualified" and interest >= 40'
        )
    return expression


def clean_description(text: str | None) -> str | None:
    """The description as stored: trimmed, None when empty."""
    description = _text((text or "").strip(), "segment description", MAX_DESCRIPTION)
    return description or None


def list_segments(session: Session) -> list[SegmentView]:
    """Every saved segment, by name."""
    return [SegmentView.model_validate(row) for row in repository.segments(session)]


def _find(session: Session, name: str, *, lock: bool = False) -> SavedSegment:
    handle = segment_name(name)
    found = repository.segment_by_name(session, handle, lock=lock)
    if found is None:
        raise NotFoundError(f"no saved segment {handle!r}; `leadsift segment list` shows them")
    return found


def get_segment(session: Session, name: str) -> SegmentView:
    """The segment called NAME (any case), or NotFoundError."""
    return SegmentView.model_validate(_find(session, name))


def save_segment(
    session: Session,
    name: str,
    expression: str,
    description: str | None = None,
    *,
    caller: Caller | None = None,
    now: datetime | None = None,
) -> SavedView:
    """Save EXPRESSION as NAME (checked against the workspace's fields first); saving a name
    again replaces its expression and description (nothing is written when both are equal)."""
    handle = segment_name(name)
    text = clean_expression(expression)
    described = clean_description(description)
    # Refused with the checker's own message (line, column, token, hint), positions in the
    # text as the user wrote it (not the trimmed one stored): nothing is stored.
    compile_criteria(expression, field_registry(session))
    moment = now or utcnow()
    actor = caller.actor if caller is not None else "cli"
    new_id = repository.insert_new(
        session, name=handle, expression=text, description=described, actor=actor, now=moment
    )
    if new_id is not None:
        audit(session, caller, "segment_saved", ("segment", new_id),
              details={"name": handle, "created": True}, at=moment)  # fmt: skip
        return SavedView(**get_segment(session, handle).model_dump(), created=True, changed=True)
    segment = _find(session, handle, lock=True)
    changed = (segment.expression, segment.description) != (text, described)
    if changed:
        segment.expression, segment.description, segment.updated_at = text, described, moment
        session.flush()
        audit(session, caller, "segment_saved", ("segment", segment.id),
              details={"name": handle, "created": False}, at=moment)  # fmt: skip
    view = SegmentView.model_validate(segment)
    return SavedView(**view.model_dump(), created=False, changed=changed)


def delete_segment(session: Session, name: str, *, caller: Caller | None = None) -> SegmentView:
    """Delete the segment called NAME (audited); what it was."""
    segment = _find(session, name, lock=True)
    view = SegmentView.model_validate(segment)
    repository.remove(session, segment)
    audit(session, caller, "segment_deleted", ("segment", view.id), details={"name": view.name})
    return view


def expression_of(session: Session, name: str) -> str:
    """The stored expression of segment NAME."""
    return _find(session, name).expression


def chosen_expression(session: Session, where: str | None, segment: str | None) -> str | None:
    """What a command's `--where EXPR` or `--segment NAME` selects (None: every contact)."""
    if where is not None and segment is not None:
        raise InvalidInputError("give --where or --segment, not both")
    return expression_of(session, segment) if segment is not None else where


def visible_count(session: Session, name: str, caller: Caller | None = None) -> int:
    """How many contacts of segment NAME the caller may see (everyone's for None)."""
    segment = _find(session, name)
    try:
        matching = where_condition(session, segment.expression)
    except CriteriaError as problem:
        # A custom attribute the expression reads may have gone since it was saved.
        raise InvalidInputError(
            f"saved segment {segment.name!r} no longer fits the workspace's fields "
            f"({problem.message}): save it again with a corrected expression",
            code=problem.code,
        ) from None
    conditions = [matching] if matching is not None else []
    if caller is not None and not caller.sees_everything:
        conditions.append(access_repository.visible_filter(caller, Contact.id))
    return contacts_repository.count_contacts(session, and_(*conditions) if conditions else None)
