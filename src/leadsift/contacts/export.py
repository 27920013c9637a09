"""Contacts as a table with the import's column names, so an export re-imports as unchanged."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from leadsift.contacts import bulk_repository, repository
from leadsift.contacts.fields import CONSENT_FIELDS, STANDARD_FIELDS
from leadsift.contacts.mapping import headers_by_target
from leadsift.contacts.values import to_text
from leadsift.db import Database


def export_table(
    session: Session, where: ColumnElement[bool] | None = None
) -> tuple[list[str], Iterator[list[str]]]:
    """Headers (the import's column names) and rows of contacts (matching WHERE), for CSV."""
    definitions = repository.attribute_definitions(session)
    names = _export_names(session)
    columns: list[tuple[str, str]] = [("field", f) for f in STANDARD_FIELDS]
    columns += [("consent", f) for f in CONSENT_FIELDS]
    columns += [("attr", key) for key in sorted(definitions)]
    headers, taken = [], set()
    for kind, name in columns:
        preferred = definitions[name].label if kind == "attr" else names.get(name, name)
        header = preferred if preferred not in taken else name
        taken.add(header)
        headers.append(header)

    def rows() -> Iterator[list[str]]:
        for page in repository.contact_pages(session, where=where):
            consent = bulk_repository.current_consent(session, [c.id for c in page])
            for contact in page:
                out = []
                for kind, name in columns:
                    if kind == "field":
                        value: object = getattr(contact, name)
                    elif kind == "consent":
                        value = consent.get((contact.id, CONSENT_FIELDS[name]))
                    else:
                        value = contact.attrs.get(name)
                    out.append(to_text(value))
                yield out

    return headers, rows()


def _export_names(session: Session) -> dict[str, str]:
    """The header each standard field had in the most recent import that mapped it."""
    names: dict[str, str] = {}
    for mapping in repository.latest_import_mappings(session):
        for target, header in headers_by_target(mapping).items():
            names.setdefault(target, header)
    return names


def csv_chunks(database: Database, where: ColumnElement[bool] | None) -> Iterator[str]:
    """The export's CSV (the CLI's columns and bytes), a thousand rows at a time, read in its
    own read-only unit of work (a streamed answer outlives the request's)."""
    with database.unit_of_work(read_only=True) as session:
        headers, rows = export_table(session, where)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(headers)
        for number, row in enumerate(rows, 1):
            writer.writerow(row)
            if number % 1_000 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()
