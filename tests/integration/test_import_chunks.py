"""Chunk boundaries change nothing: a chunk is planned while the previous one is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadsift.config import Settings
from leadsift.contacts import service
from leadsift.contacts.models import ConsentRecord, Contact, ContactChange, ImportRejection
from leadsift.contacts.schemas import ImportOptions
from tests.files import write_csv

HEADER = ["email", "phone", "first_name", "last_name", "consent_email", "consent_sms"]
BASE = [
    ["ann@x.fr", "+33611111111", "Ann", "", "oui", ""],
    ["bob@x.fr", "+33622222222", "Bob", "Roe", "", ""],
    ["cy@x.fr", "", "Cy", "", "non", ""],
]
# Rows whose contacts meet again in later rows: with chunks of 1 to 4 rows, every merge, update,
# conflict and consent change crosses a chunk boundary for some chunk size.
ROWS = [
    ["new1@x.fr", "+33633333333", "Neo", "", "oui", ""],
    ["", "06 33 33 33 33", "", "One", "", "non"],
    ["NEW1@x.fr", "+33644444444", "Neon", "", "", ""],
    ["new3@x.fr", "+33644444444", "Tri", "", "", ""],
    ["ann@x.fr", "+33655555555", "Anna", "Lee", "non", ""],
    ["", "+33655555555", "", "Leigh", "oui", "oui"],
    ["bob@x.fr", "+33633333333", "", "", "", ""],
    ["cy@x.fr", "+33666666666", "", "", "", ""],
    ["", "+33666666666", "", "Sea", "oui", ""],
    ["new1@x.fr", "", "", "", "non", ""],
    ["new4@x.fr", "+33677777777", "Quad", "", "", "oui"],
    ["new1@x.fr", "", "", "", "oui", ""],
    ["new4@x.fr", "", "", "Four", "", "non"],
    ["", "+33666666666", "", "", "non", ""],
    ["ann@x.fr", "", "", "", "", "oui"],
    ["new3@x.fr", "+33688888888", "", "Three", "", ""],
    ["", "+33688888888", "", "", "oui", ""],
]


def _state(session: Session, summary: Any) -> dict[str, Any]:
    """Everything an import leaves, named by email rather than by id (ids come from sequences)."""
    emails = {
        contact_id: email or phone
        for contact_id, email, phone in session.execute(
            select(Contact.id, Contact.email, Contact.phone)
        )
    }
    ledger: dict[str, list[tuple[str, bool]]] = {}
    for contact_id, channel, granted in session.execute(
        select(ConsentRecord.contact_id, ConsentRecord.channel, ConsentRecord.granted).order_by(
            ConsentRecord.id
        )
    ):
        ledger.setdefault(emails[contact_id], []).append((channel, granted))
    columns = (Contact.email, Contact.phone, Contact.first_name, Contact.last_name)
    return {
        "counts": (summary.created, summary.merged, summary.updated, summary.unchanged),
        "rejected": summary.rejected_by_reason,
        "contacts": sorted(repr(tuple(row)) for row in session.execute(select(*columns))),
        "ledger": ledger,
        "changes": sorted(
            (emails[cid], sorted(before.items()))
            for cid, before in session.execute(
                select(ContactChange.contact_id, ContactChange.before)
            )
        ),
        "rejections": sorted(
            session.execute(select(ImportRejection.row_number, ImportRejection.reason)).all()
        ),
    }


def _import_in_chunks(
    session: Session, tmp_path: Path, chunk_rows: int, update: bool
) -> dict[str, Any]:
    base = write_csv(tmp_path / "base.csv", HEADER, BASE)
    path = write_csv(tmp_path / "file.csv", HEADER, ROWS)
    settings = Settings(import_chunk_rows=chunk_rows)
    service.import_contacts(session, base, ImportOptions(workers=1), settings=settings)
    options = ImportOptions(workers=1, update=update)
    summary = service.import_contacts(session, path, options, settings=settings)
    return _state(session, summary)


@pytest.mark.parametrize("update", [False, True])
def test_any_chunk_size_gives_the_result_of_one_chunk(
    session: Session, tmp_path: Path, update: bool
) -> None:
    states = {}
    for chunk_rows in (1_000, 1, 2, 3, 4):
        nested = session.begin_nested()
        states[chunk_rows] = _import_in_chunks(session, tmp_path, chunk_rows, update)
        nested.rollback()
    whole = states.pop(1_000)
    assert whole["counts"][0] > 0 and whole["changes"] and (update or whole["rejections"])
    for chunk_rows, state in states.items():
        assert state == whole, f"chunks of {chunk_rows} rows"


def test_reimport_in_chunks_changes_nothing(session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "file.csv", HEADER, ROWS)
    settings = Settings(import_chunk_rows=2)
    service.import_contacts(session, path, ImportOptions(workers=1), settings=settings)
    before = _state(session, service.import_contacts(session, path, ImportOptions(workers=1)))
    again = service.import_contacts(session, path, ImportOptions(workers=1), settings=settings)
    assert (again.created, again.merged, again.updated) == (0, 0, 0)
    # Rejections are kept per batch: each import reports its own.
    same = ("contacts", "ledger", "changes")
    assert {k: _state(session, again)[k] for k in same} == {k: before[k] for k in same}
