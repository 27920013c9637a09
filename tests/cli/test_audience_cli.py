"""`leadsift audience export|list`: only contacts whose current ad_audience consent is granted
(not withdrawn, not suppressed) are exported, their identifiers normalised per destination and
SHA-256 hashed; every export is recorded and audited; bad input writes nothing."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from leadsift.access.models import AuditEntry
from leadsift.db import Database
from leadsift.outreach import audience_cli
from leadsift.outreach.models import AudienceExport
from tests.cli.helpers import run
from tests.outreach_helpers import cli_json

# (first name, email, phone, ad_audience consent in the file, email consent, company)
PEOPLE = [
    ("Ann", "Ann.Lee@Gmail.com", "+33 6 12 34 56 78", "oui", "", "Acme"),  # in
    ("Phil", "", "06 11 22 33 44", "oui", "", "Acme"),  # in, phone only
    ("Gail", "gail@exemple.fr", "", "", "", "Acme"),  # in: granted through `consent grant`
    ("Wes", "wes@exemple.fr", "06 22 33 44 55", "oui", "", "Acme"),  # withdrawn later
    ("Nora", "nora@exemple.fr", "06 33 44 55 66", "", "", "Acme"),  # never asked
    ("Otto", "otto@exemple.fr", "06 44 55 66 77", "", "oui", "Acme"),  # email consent only
    ("Sam", "sam@exemple.fr", "", "oui", "", "Acme"),  # withdrew, then yes: still suppressed
    ("Bill", "bill@exemple.fr", "", "oui", "", "Acme"),  # bought: not selected by --where
    ("Ivan", "ivan@exemple.fr", "", "oui", "", "Other"),  # another company: not selected
]
LEFT_OUT = ("wes@exemple.fr", "nora@exemple.fr", "otto@exemple.fr", "sam@exemple.fr",
            "bill@exemple.fr", "ivan@exemple.fr")  # fmt: skip
WHERE = 'company = "Acme" and count(purchase) = 0'


def sha(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@pytest.fixture
def url(capsys: pytest.CaptureFixture[str], committed_db_url: str, tmp_path: Path) -> str:
    people = tmp_path / "people.csv"
    rows = "".join(",".join(person) + "\n" for person in PEOPLE)
    header = "first_name,email,phone,consent_ad_audience,consent_email,company\n"
    people.write_text(header + rows + ",,,oui,,Acme\n", encoding="utf-8")
    db = ("--db", committed_db_url, "--json")
    cli_json(capsys, *db, "import", "contacts", str(people), "--generate-ids",
             "--map", "consent_ad_audience=consent_ad_audience")  # fmt: skip
    events = tmp_path / "events.csv"
    events.write_text(
        "type,email,occurred_at\npurchase,bill@exemple.fr,2025-01-01T10:00:00Z\n",
        encoding="utf-8",
    )
    cli_json(capsys, *db, "import", "events", str(events))
    cli_json(capsys, *db, "consent", "grant", "gail@exemple.fr", "--channel", "ad_audience")
    cli_json(capsys, *db, "consent", "withdraw", "wes@exemple.fr", "--channel", "ad_audience")
    cli_json(capsys, *db, "consent", "withdraw", "sam@exemple.fr", "--channel", "ad_audience")
    # A new yes without lifting: the ledger says granted, the suppression still holds.
    sam = cli_json(capsys, *db, "consent", "grant", "sam@exemple.fr", "--channel", "ad_audience")
    assert sam["granted"] is True
    return committed_db_url


def _export(
    capsys: pytest.CaptureFixture[str], url: str, file: Path, destination: str, *more: str
) -> Any:
    return cli_json(capsys, "--db", url, "--json", "audience", "export", str(file),
                    "--where", WHERE, "--destination", destination, *more)  # fmt: skip


def _read(file: Path) -> tuple[list[str], set[tuple[str, ...]]]:
    with file.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return header, {tuple(row) for row in rows}


def _stored(url: str) -> tuple[int, list[tuple[Any, ...]]]:
    """How many audience exports are recorded, and the audit entries about them (action,
    target id, actor, details)."""
    database = Database(url)
    try:
        with database.unit_of_work(read_only=True) as session:
            counted = select(func.count()).select_from(AudienceExport)
            exports = int(session.execute(counted).scalar_one())
            query = select(AuditEntry).where(AuditEntry.target_type == "audience_export")
            entries = [
                (e.action, e.target_id, e.actor, e.details)
                for e in session.scalars(query.order_by(AuditEntry.id))
            ]
            return exports, entries
    finally:
        database.dispose()


def test_a_meta_audience_holds_the_consented_hashed_digits_only_and_no_one_else(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    file = tmp_path / "meta.csv"
    summary = _export(capsys, url, file, "meta")
    header, rows = _read(file)
    assert header == ["email", "phone"]
    # Meta: lower-case email (dots kept), phone digits only with the country code, no "+".
    assert rows == {
        (sha("ann.lee@gmail.com"), sha("33612345678")),
        ("", sha("33611223344")),
        (sha("gail@exemple.fr"), ""),
    }
    cells = {cell for row in rows for cell in row}
    assert hashlib.sha256(b"33612345678").hexdigest() in cells
    assert not {sha(email) for email in LEFT_OUT} & cells, "a contact without consent got in"
    text = file.read_text(encoding="utf-8")
    assert "@" not in text and "+33" not in text and "612345678" not in text
    assert summary == {
        "export_id": summary["export_id"],
        "destination": "meta",
        "file": str(file),
        "count": 3,
        "without_consent": 4,  # Wes (withdrawn), Nora (none), Otto (email only), Sam (suppressed)
        "without_identifier": 1,  # consented, but no email nor phone
        "purpose": "remarketing",
        "sha256": hashlib.sha256(file.read_bytes()).hexdigest(),
    }
    assert not list(tmp_path.glob(".partial-*"))


def test_google_and_csv_destinations_use_their_headers_and_normal_forms(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    google = _export(capsys, url, tmp_path / "google.csv", "google")
    header, rows = _read(tmp_path / "google.csv")
    assert header == ["Email", "Phone"]
    # Google: dots dropped before @gmail.com, phones in E.164 with the "+".
    assert (sha("annlee@gmail.com"), sha("+33612345678")) in rows
    assert ("", sha("+33611223344")) in rows and len(rows) == google["count"] == 3

    _export(capsys, url, tmp_path / "any.csv", "csv")
    header, rows = _read(tmp_path / "any.csv")
    assert header == ["email_sha256", "phone_sha256"]
    assert rows == {
        (sha("ann.lee@gmail.com"), sha("+33612345678")),
        ("", sha("+33611223344")),
        (sha("gail@exemple.fr"), ""),
    }


def test_each_export_is_recorded_listed_and_audited_without_personal_data(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    _, audited_before = _stored(url)
    first = _export(capsys, url, tmp_path / "a.csv", "meta")
    second = _export(capsys, url, tmp_path / "b.csv", "google", "--purpose", "spring winback")
    listed = cli_json(capsys, "--db", url, "--json", "audience", "list")["exports"]
    assert [e["id"] for e in listed] == [second["export_id"], first["export_id"]]
    newest = listed[0]
    expected = {"destination": "google", "purpose": "spring winback", "criteria": WHERE,
                "count": 3, "without_consent": 4, "actor": "cli"}  # fmt: skip
    assert {key: newest[key] for key in expected} == expected
    assert newest["file_sha256"] == hashlib.sha256((tmp_path / "b.csv").read_bytes()).hexdigest()
    assert newest["at"].endswith(("+00:00", "Z"))

    human = run(capsys, "--db", url, "audience", "list")
    assert human.code == 0
    assert [line.split()[:5] for line in human.out.splitlines() if "google" in line] == [
        [str(second["export_id"]), *newest["at"][:16].split("T"), "cli", "google"]]  # fmt: skip

    exports, audited = _stored(url)
    assert exports == 2
    new_entries = audited[len(audited_before) :]
    assert new_entries == [
        ("audience_exported", first["export_id"], "cli", {"destination": "meta", "count": 3}),
        ("audience_exported", second["export_id"], "cli", {"destination": "google", "count": 3}),
    ]


def test_the_issue_criteria_run_and_the_human_summary_is_a_table(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path
) -> None:
    file = tmp_path / "unqualified.csv"
    result = run(capsys, "--db", url, "audience", "export", str(file), "--where",
                 'stage = "unqualified" and interest >= 20 and count(purchase) = 0',
                 "--destination", "meta")  # fmt: skip
    assert result.code == 0, result.err
    assert "count" in result.out and "without_consent" in result.out
    assert _read(file) == (["email", "phone"], set())  # nobody is unqualified yet


BAD_INPUT = {
    "destination": ("out.csv", WHERE, "tiktok",
                    "unknown destination 'tiktok': use google, meta, csv"),
    "field": ("out.csv", 'compny = "Acme"', "meta", "line 1, column 1: unknown field 'compny'"),
    "syntax": ("out.csv", 'company = "Acme" and', "meta", "line 1, column"),
    "folder missing": ("missing/out.csv", WHERE, "meta", "folder"),
    "a folder": (".", WHERE, "meta", "it is a folder"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_exits_1_with_one_line_and_records_nothing(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path, case: str
) -> None:
    target, where, destination, words = BAD_INPUT[case]
    before = _stored(url)
    file = tmp_path / target
    args = ("audience", "export", str(file), "--where", where, "--destination", destination)
    result = run(capsys, "--db", url, *args)
    assert result.code == 1 and result.out == ""
    assert len(result.err.strip().splitlines()) == 1 and words in result.err, result.err
    as_json = run(capsys, "--db", url, "--json", *args)
    assert as_json.code == 1 and words in as_json.json()["error"]["message"]
    assert _stored(url) == before
    assert not list(tmp_path.rglob("out.csv")) and not list(tmp_path.rglob(".partial-*"))


def test_a_failure_after_the_file_is_placed_removes_it_and_records_nothing(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    placed = audience_cli.AudienceFile.commit

    def place_then_fail(self: audience_cli.AudienceFile) -> None:
        placed(self)
        assert self.target.exists()
        raise RuntimeError("the database went away")

    monkeypatch.setattr(audience_cli.AudienceFile, "commit", place_then_fail)
    before = _stored(url)
    file = tmp_path / "meta.csv"
    result = run(capsys, "--db", url, "audience", "export", str(file), "--where", WHERE,
                 "--destination", "meta")  # fmt: skip
    assert result.code == 1 and "the database went away" in result.err
    assert not file.exists() and not list(tmp_path.glob(".partial-*"))
    assert _stored(url) == before
