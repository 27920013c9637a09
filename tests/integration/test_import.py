"""The import service against real databases (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadsift.contacts import lookup, service
from leadsift.contacts.models import AttributeDefinition, ConsentRecord, Contact, ImportRejection
from leadsift.contacts.schemas import ImportOptions
from leadsift.errors import ConflictError, NotFoundError
from tests.conftest import shared_data
from tests.files import FRENCH_CRM_EXPECTED, synthetic_contacts, write_csv, write_french_crm


def _counts(summary: object) -> dict[str, object]:
    keys = ("rows", "created", "merged", "updated", "unchanged", "rejected", "rejected_by_reason")
    return {k: getattr(summary, k) for k in keys}


def _contacts(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Contact)).scalar_one()


def test_french_crm_export_imports_with_exact_counts(session: Session, tmp_path: Path) -> None:
    path = write_french_crm(tmp_path / "export_crm.csv")
    summary = service.import_contacts(session, path, ImportOptions())
    assert _counts(summary) == FRENCH_CRM_EXPECTED
    assert (summary.encoding, summary.delimiter) == ("cp1252", ";")
    assert summary.mapping["Courriel"] == "email" and summary.mapping["Téléphone"] == "phone"
    assert summary.mapping["Civilité"] == "attrs.civilite"
    phones = sorted(session.scalars(select(Contact.phone)))
    assert phones == ["+33612345678", "+33623456789", "+33734567890", "+33951234567"]
    helene = lookup.find_contact(session, "helene.dupre@exemple.fr")
    assert (helene.first_name, helene.last_name, helene.birth_date) == (
        "Hélène",
        "Dupré",
        date(1992, 11, 2),
    )
    assert helene.consent == {"email": False}
    assert helene.attrs == {"civilite": "Mme"}
    reasons = dict(
        session.execute(select(ImportRejection.row_number, ImportRejection.reason)).all()
    )
    assert reasons == {
        5: "invalid_email",
        6: "invalid_phone",
        8: "no_identifier",
        10: "identity_conflict",
        11: "invalid_birth_date",
    }


def test_reimporting_the_same_file_creates_nothing(session: Session, tmp_path: Path) -> None:
    path = write_french_crm(tmp_path / "crm.csv")
    service.import_contacts(session, path, ImportOptions())
    again = service.import_contacts(session, path, ImportOptions())
    assert (again.created, again.merged, again.updated, again.unchanged, again.rejected) == (
        0,
        0,
        0,
        6,
        5,
    )
    assert _contacts(session) == 4
    assert session.execute(select(func.count()).select_from(ConsentRecord)).scalar_one() == 4


def test_merge_across_imports_fills_and_update_overwrites(session: Session, tmp_path: Path) -> None:
    first = write_csv(tmp_path / "a.csv", ["email", "first_name", "city"], [["a@x.fr", "Ann", ""]])
    second = write_csv(
        tmp_path / "b.csv",
        ["E-mail", "Prénom", "Ville", "job"],
        [["A@X.FR", "Anne", "Lyon", "admin."]],
    )
    service.import_contacts(session, first, ImportOptions())
    filled = service.import_contacts(session, second, ImportOptions())
    assert (filled.created, filled.updated) == (0, 1)
    contact = lookup.find_contact(session, "a@x.fr")
    assert (contact.first_name, contact.city, contact.attrs) == ("Ann", "Lyon", {"job": "admin."})
    overwritten = service.import_contacts(session, second, ImportOptions(update=True))
    assert overwritten.updated == 1
    assert lookup.find_contact(session, "a@x.fr").first_name == "Anne"


def test_undo_restores_overwritten_values_and_removes_created(
    session: Session, tmp_path: Path
) -> None:
    base = write_csv(tmp_path / "a.csv", ["email", "first_name"], [["a@x.fr", "Ann"]])
    service.import_contacts(session, base, ImportOptions())
    change = write_csv(
        tmp_path / "b.csv",
        ["email", "first_name", "consent_email"],
        [["a@x.fr", "Anne", "yes"], ["b@x.fr", "Bob", "no"]],
    )
    batch = service.import_contacts(session, change, ImportOptions(update=True))
    undo = service.undo_import(session, batch.batch_id or 0)
    assert (undo.contacts_deleted, undo.contacts_restored) == (1, 1)
    assert _contacts(session) == 1
    assert lookup.find_contact(session, "a@x.fr").first_name == "Ann"
    assert lookup.find_contact(session, "a@x.fr").consent == {}
    with pytest.raises(ConflictError, match="already undone"):
        service.undo_import(session, batch.batch_id or 0)
    with pytest.raises(NotFoundError):
        service.undo_import(session, 999_999)


def test_only_the_latest_batch_can_be_undone(session: Session, tmp_path: Path) -> None:
    first = service.import_contacts(
        session, write_csv(tmp_path / "a.csv", ["email"], [["a@x.fr"]]), ImportOptions()
    )
    service.import_contacts(
        session, write_csv(tmp_path / "b.csv", ["email"], [["b@x.fr"]]), ImportOptions()
    )
    with pytest.raises(ConflictError, match="not the latest"):
        service.undo_import(session, first.batch_id or 0)


def test_attribute_types_are_inferred_from_the_whole_file(session: Session, tmp_path: Path) -> None:
    rows = [
        [
            f"p{i}@x.fr",
            str(i),
            "yes" if i % 2 else "no",
            "1.5",
            "2024-01-0" + str(1 + i % 9),
            "A" if i < 50 else "0123",
        ]
        for i in range(60)
    ]
    path = write_csv(tmp_path / "t.csv", ["email", "visits", "vip", "score", "since", "code"], rows)
    summary = service.import_contacts(session, path, ImportOptions())
    assert summary.attribute_types == {
        "visits": "integer",
        "vip": "boolean",
        "score": "number",
        "since": "date",
        "code": "text",
    }
    contact = lookup.find_contact(session, "p1@x.fr")
    assert contact.attrs == {
        "visits": 1,
        "vip": True,
        "score": 1.5,
        "since": "2024-01-02",
        "code": "A",
    }
    labels = dict(
        session.execute(select(AttributeDefinition.key, AttributeDefinition.value_type)).all()
    )
    assert labels["visits"] == "integer"


def test_chunks_and_worker_processes_give_the_same_result(session: Session, tmp_path: Path) -> None:
    header, rows = synthetic_contacts(3_000)
    rows += [[r[0].upper(), r[1].replace("+33", "0"), "", "", ""] for r in rows[:300]]
    path = write_csv(tmp_path / "many.csv", header, rows)
    from leadsift.config import Settings

    settings = Settings(import_chunk_rows=700)
    summary = service.import_contacts(session, path, ImportOptions(workers=2), settings=settings)
    assert (summary.rows, summary.created, summary.merged, summary.rejected) == (
        3_300,
        3_000,
        300,
        0,
    )
    assert _contacts(session) == 3_000


def test_bank_marketing_with_generated_ids(session: Session) -> None:
    path = shared_data("bank-marketing", "bank-additional-full.csv.gz")
    first = service.import_contacts(session, path, ImportOptions(generate_ids=True))
    assert (first.rows, first.created, first.rejected) == (41_188, 41_188, 0)
    assert first.attribute_types["emp_var_rate"] == "number"
    assert first.attribute_types["y"] == "boolean"
    again = service.import_contacts(session, path, ImportOptions(generate_ids=True))
    assert (again.created, again.unchanged) == (0, 41_188)
    assert _contacts(session) == 41_188


def test_xlsx_and_json_lines_import_like_csv(session: Session, tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Courriel", "Téléphone", "Date de naissance", "Visites"])
    sheet.append(["ana@x.fr", "06 11 22 33 44", date(1990, 5, 17), 3])
    sheet.append(["ANA@X.FR", None, None, None])
    book.save(tmp_path / "contacts.xlsx")
    xlsx = service.import_contacts(session, tmp_path / "contacts.xlsx", ImportOptions())
    assert (xlsx.format, xlsx.created, xlsx.merged) == ("xlsx", 1, 1)
    ana = lookup.find_contact(session, "+33611223344")
    assert (ana.birth_date, ana.attrs) == (date(1990, 5, 17), {"visites": 3})

    lines = tmp_path / "contacts.jsonl"
    lines.write_text(
        '{"email": "bo@x.fr", "phone": "+33 7 55 44 33 22", "vip": true}\n'
        '{"email": "cy@x.fr", "consent_sms": "non"}\n',
        encoding="utf-8",
    )
    jsonl = service.import_contacts(session, lines, ImportOptions())
    assert (jsonl.format, jsonl.created) == ("jsonl", 2)
    assert lookup.find_contact(session, "bo@x.fr").attrs == {"vip": True}
    assert lookup.find_contact(session, "cy@x.fr").consent == {"sms": False}


def test_reimporting_contradictory_consent_changes_nothing(
    session: Session, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "flip.csv",
        ["email", "consent_email"],
        [["a@x.fr", "oui"], ["A@X.FR", "non"], ["b@x.fr", "oui"]],
    )
    service.import_contacts(session, path, ImportOptions())
    assert lookup.find_contact(session, "a@x.fr").consent == {"email": False}
    ledger = select(func.count()).select_from(ConsentRecord)
    rows_after_first = session.execute(ledger).scalar_one()
    again = service.import_contacts(session, path, ImportOptions())
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert session.execute(ledger).scalar_one() == rows_after_first
    assert lookup.find_contact(session, "a@x.fr").consent == {"email": False}
    withdrawn = write_csv(tmp_path / "w.csv", ["email", "consent_email"], [["b@x.fr", "non"]])
    third = service.import_contacts(session, withdrawn, ImportOptions())
    assert (third.updated, third.unchanged) == (1, 0)
    assert lookup.find_contact(session, "b@x.fr").consent == {"email": False}


def test_worker_processes_report_bad_rows_like_the_streaming_reader(
    session: Session, tmp_path: Path
) -> None:
    from leadsift.errors import ImportFileError

    header, rows = synthetic_contacts(50)
    rows.insert(30, ["late@x.fr", "+33600000099", "extra", "cells", "here", "!"])
    path = write_csv(tmp_path / "ragged.csv", header, rows)
    with pytest.raises(ImportFileError) as error:
        service.import_contacts(session, path, ImportOptions(workers=2))
    assert str(error.value) == (
        "ragged.csv row 32: 6 cells but the header has 5 — check the delimiter or quoting"
    )
    session.rollback()  # what every entrypoint does on an error
    assert _contacts(session) == 0
