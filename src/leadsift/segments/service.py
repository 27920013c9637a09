"""Contacts selected by a criteria expression: count, list, export (one SQL query each)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from leadsift.contacts import repository
from leadsift.contacts.models import Contact
from leadsift.criteria import Moment, compile_criteria
from leadsift.criteria.ast import Field
from leadsift.criteria.evaluate import field_value
from leadsift.criteria.sql import to_sql
from leadsift.errors import InvalidInputError
from leadsift.kit.clock import utcnow
from leadsift.segments.fields import field_registry
from leadsift.segments.repository import WorkspaceSqlFields

DEFAULT_LIST_FIELDS = ("id", "email", "phone", "first_name", "last_name", "stage")


def where_condition(
    session: Session, expression: str | None, now: datetime | None = None
) -> ColumnElement[bool] | None:
    """The SQL condition of a --where expression as of NOW (None selects every contact)."""
    if expression is None:
        return None
    criteria = compile_criteria(expression, field_registry(session))
    return to_sql(criteria, WorkspaceSqlFields(), Moment(now or utcnow()))


def count(session: Session, expression: str | None) -> int:
    """How many contacts match the expression."""
    return repository.count_contacts(session, where_condition(session, expression))


def facts_of(
    contact: Contact,
    consent: Mapping[str, bool],
    scores: Mapping[str, Any] | None = None,
    events: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A contact as the plain values the Python criteria evaluator reads."""
    facts = {column.key: getattr(contact, column.key) for column in Contact.__table__.columns}
    facts["attrs"] = contact.attrs or {}
    facts["consent"] = dict(consent)
    facts.update(scores or {})
    if events is not None:
        facts["events"] = list(events)
    return facts


def rows(
    session: Session,
    expression: str | None,
    fields: Sequence[str],
    limit: int | None,
    order_by: str | None = None,
) -> tuple[list[str], Iterator[list[Any]]]:
    """The named fields of matching contacts, in id order or ORDER_BY's."""
    registry = field_registry(session)
    specs = [registry.resolve(Field(name)) for name in fields]  # unknown names get suggestions
    needs_consent = any(spec.kind == "consent" for spec in specs)
    needs_scores = any(spec.kind in ("score", "prediction") for spec in specs)
    where = where_condition(session, expression)
    moment = Moment(utcnow())
    if order_by is None:
        pages = repository.contact_pages(session, where=where, limit=limit)
    else:
        order, descending = sort_key(session, order_by)
        pages = repository.ordered_contact_pages(
            session, order, descending=descending, where=where, limit=limit
        )

    def produce() -> Iterator[list[Any]]:
        for page in pages:
            scores = repository.scores_of(session, [c.id for c in page]) if needs_scores else {}
            for contact in page:
                consent = repository.consent_of(session, contact.id) if needs_consent else {}
                facts = facts_of(contact, consent, scores.get(contact.id))
                yield [field_value(spec, facts, moment) for spec in specs]

    return [spec.name for spec in specs], produce()


# Fields whose natural order is "most first": scores and points.
_DESCENDING_KINDS = ("score", "prediction")


def sort_key(session: Session, text: str) -> tuple[ColumnElement[Any], bool]:
    """The SQL value and direction of --order-by: `FIELD`, `FIELD asc` or `FIELD desc`.

    Scores (`fit`, `interest`, `probability`, `priority`) sort highest first unless `asc` is
    given; other fields lowest first. Unknown values always come last.
    """
    name, _, direction = text.strip().partition(" ")
    direction = direction.strip().lower()
    if direction not in ("", "asc", "desc"):
        raise InvalidInputError(
            f"--order-by {text!r}: write a field name, optionally followed by asc or desc"
        )
    spec = field_registry(session).resolve(Field(name))
    if spec.kind not in ("column", "attribute", "score", "prediction"):
        raise InvalidInputError(
            f"--order-by {name}: contacts can be sorted by a stored field or score, not by "
            f"{'age (sort by birth_date)' if spec.kind == 'age' else spec.kind + ' fields'}"
        )
    descending = direction == "desc" or (
        not direction and (spec.kind in _DESCENDING_KINDS or spec.name == "fit")
    )
    return WorkspaceSqlFields().value(spec), descending


def parse_fields(text: str | None) -> list[str]:
    """The --fields option: comma-separated field names."""
    if text is None:
        return list(DEFAULT_LIST_FIELDS)
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise InvalidInputError("--fields: give field names separated by commas, e.g. email,age")
    return names
