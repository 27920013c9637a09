"""Opposition lists through the service: the file as received (formats, header, extra columns,
duplicates), stored as the contacts' own phone hashes, replaced by the next import, refused
whole on a bad line or an outdated date, and the audit entry written."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadsift.access.models import AuditEntry
from leadsift.agents import optout
from leadsift.agents.models import OppositionEntry, OppositionImport
from leadsift.contacts.models import Contact
from leadsift.errors import ImportFileError, InvalidInputError, NotFoundError
from leadsift.outreach.consent import identifier_hashes, suppression_secret
from leadsift.outreach.identifiers import identifier_hash, normalise_phone

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TODAY = NOW.date()
# The list as an operator may receive it: a header, extra columns, every number format.
GOOD_LIST = (
    "Téléphone;date d'inscription\r\n"
    "0612345678;2026-01-03\r\n"
    "06 98 76 54 32;2026-02-01\r\n"
    "\r\n"
    "+33145678901;2026-03-04\r\n"
    "0033755667788;2026-03-05\r\n"
    '"0612345678";2026-04-01\r\n'
    "  +33 6 98 76 54 32  ;doublon\r\n"
    ";;\r\n"
)
GOOD_PHONES = {"+33612345678", "+33698765432", "+33145678901", "+33755667788"}


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding, newline="")
    return path


def _import(
    session: Session, path: Path, as_of: date | None = TODAY, name: str = "bloctel"
) -> optout.ImportResult:
    return optout.import_list(session, path, name, default_region="FR", now=NOW, as_of=as_of)


def _hashes(session: Session, name: str = "bloctel") -> set[str]:
    query = select(OppositionEntry.phone_hash).where(OppositionEntry.list_name == name)
    return set(session.scalars(query))


def _phone_hashes(session: Session, phones: set[str]) -> set[str]:
    secret = suppression_secret(session)
    return {identifier_hash(secret, "phone", phone) for phone in phones}


def _imports(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(OppositionImport)) or 0)


def test_every_format_is_stored_once_as_the_phone_hash(session: Session, tmp_path: Path) -> None:
    path = _write(tmp_path / "bloctel.csv", GOOD_LIST)
    result = _import(session, path)
    summary = (result.list_name, result.as_of, result.entries, result.replaced)
    assert summary == ("bloctel", TODAY, 4, 0)
    assert _hashes(session) == _phone_hashes(session, GOOD_PHONES)
    record = session.get(OppositionImport, result.import_id)
    assert record is not None
    assert (record.list_name, record.entries, record.actor) == ("bloctel", 4, "cli")
    assert record.file_sha256 == result.file_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record.imported_at == NOW


def test_plain_text_list_in_windows_1252_with_a_bom_less_header(
    session: Session, tmp_path: Path
) -> None:
    path = _write(tmp_path / "liste.txt", "Numéro\n0612345678\n0698765432\n", "cp1252")
    assert _import(session, path).entries == 2


def test_a_list_without_header_and_an_overseas_number(session: Session, tmp_path: Path) -> None:
    path = _write(tmp_path / "liste.txt", "0612345678\n0692123456\n")
    _import(session, path)
    assert _hashes(session) == _phone_hashes(session, {"+33612345678", "+262692123456"})


def test_a_contacts_phone_hash_is_found_on_the_list(session: Session, tmp_path: Path) -> None:
    # Stored as the contacts import stores phones: normalised to E.164.
    contact, other = (
        Contact(phone=normalise_phone(raw, "FR"), created_at=NOW, updated_at=NOW, attrs={})
        for raw in ("06 12 34 56 78", "06 11 22 33 44")
    )
    session.add_all([contact, other])
    session.flush()
    _import(session, _write(tmp_path / "bloctel.csv", GOOD_LIST))
    secret = suppression_secret(session)
    listed_hash = identifier_hashes(secret, None, contact.phone)["phone"]
    other_hash = identifier_hashes(secret, None, other.phone)["phone"]
    found = optout.listed_phones(session, ["bloctel"], [listed_hash, other_hash])
    assert found == {listed_hash}
    assert optout.listed_phones(session, ["another"], [listed_hash]) == set()
    assert optout.listed_phones(session, [], [listed_hash]) == set()


def test_reimport_replaces_the_entries(session: Session, tmp_path: Path) -> None:
    first = _import(session, _write(tmp_path / "old.csv", GOOD_LIST))
    again = _import(session, _write(tmp_path / "old.csv", GOOD_LIST))
    assert (again.entries, again.replaced) == (4, 4)
    assert again.import_id != first.import_id
    newer = _import(session, _write(tmp_path / "new.csv", "phone\n0612345678\n0766554433\n"))
    assert (newer.entries, newer.replaced) == (2, 4)
    assert _hashes(session) == _phone_hashes(session, {"+33612345678", "+33766554433"})
    assert optout.latest_imports(session)["bloctel"].id == newer.import_id


def test_lists_are_kept_apart(session: Session, tmp_path: Path) -> None:
    _import(session, _write(tmp_path / "a.csv", "0612345678\n"))
    _import(session, _write(tmp_path / "b.csv", "0766554433\n"), name="Own-List")
    assert _hashes(session) == _phone_hashes(session, {"+33612345678"})
    assert _hashes(session, "own-list") == _phone_hashes(session, {"+33766554433"})
    assert sorted(optout.latest_imports(session)) == ["bloctel", "own-list"]


def test_a_bad_line_refuses_the_file_and_keeps_the_list(session: Session, tmp_path: Path) -> None:
    _import(session, _write(tmp_path / "good.csv", GOOD_LIST))
    before, imports = _hashes(session), _imports(session)
    # More good numbers than a chunk: some are written before the bad line is read.
    lines = [f"06{i:08d}" for i in range(12_000)] + ["abc"] + ["0612345678"]
    bad = _write(tmp_path / "bad.csv", "\n".join(lines) + "\n")
    with pytest.raises(ImportFileError) as caught:
        _import(session, bad)
    assert caught.value.message.startswith(
        "bad.csv, line 12001: 'abc' is not a phone number; the file must hold one phone number "
        "per line (first column)"
    )
    assert _hashes(session) == before
    assert _imports(session) == imports


def test_many_bad_lines_show_the_first_ten_and_the_count(session: Session, tmp_path: Path) -> None:
    lines = ["phone", "0612345678", *(f"x{i}" for i in range(12)), "06 12"]
    with pytest.raises(ImportFileError) as caught:
        _import(session, _write(tmp_path / "bad.csv", "\n".join(lines)))
    message = caught.value.message
    assert message.startswith("bad.csv: 13 lines are not phone numbers (first 10: line 3: 'x0'")
    assert "line 12: 'x9' is not a phone number)" in message
    assert "'x10'" not in message and "'06 12'" not in message
    assert _imports(session) == 0


def test_an_unknown_header_is_named_as_such(session: Session, tmp_path: Path) -> None:
    with pytest.raises(
        ImportFileError, match=r"line 1: 'mobile' is not a phone number nor a known header"
    ):
        _import(session, _write(tmp_path / "bad.csv", "mobile\n0612345678\n"))


@pytest.mark.parametrize(
    "text",
    ["", "\n\n  \n", "téléphone;date\n", "phone\n;;\n"],
    ids=["empty", "blank", "header", "separators"],
)
def test_a_file_without_numbers_is_refused(session: Session, tmp_path: Path, text: str) -> None:
    with pytest.raises(ImportFileError, match=r"list\.csv holds no phone number"):
        _import(session, _write(tmp_path / "list.csv", text))
    assert _imports(session) == 0


def test_a_list_older_than_30_days_is_refused(session: Session, tmp_path: Path) -> None:
    path = _write(tmp_path / "bloctel.csv", GOOD_LIST)
    with pytest.raises(InvalidInputError) as caught:
        _import(session, path, as_of=date(2026, 10, 1))
    assert caught.value.message == (
        "the bloctel list of 2026-10-01 is 60 days old: calls may only rely on a list at most 30 "
        "days old; download a fresh one and import it"
    )
    assert _imports(session) == 0
    assert _import(session, path, as_of=TODAY - timedelta(days=30)).entries == 4


def test_a_list_from_the_future_is_refused(session: Session, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="2026-12-01 is dated in the future"):
        _import(session, _write(tmp_path / "b.csv", GOOD_LIST), as_of=date(2026, 12, 1))
    assert _imports(session) == 0


def test_the_date_defaults_to_the_files_modification_date(session: Session, tmp_path: Path) -> None:
    path = _write(tmp_path / "bloctel.csv", GOOD_LIST)
    recent = datetime(2026, 11, 20, 23, 30, tzinfo=UTC).timestamp()
    os.utime(path, (recent, recent))
    assert _import(session, path, as_of=None).as_of == date(2026, 11, 20)
    old = (NOW - timedelta(days=45)).timestamp()
    os.utime(path, (old, old))
    with pytest.raises(InvalidInputError, match=r"45 days old.*file's modification date"):
        _import(session, path, as_of=None)


def test_the_import_is_audited(session: Session, tmp_path: Path) -> None:
    result = _import(session, _write(tmp_path / "bloctel.csv", GOOD_LIST))
    query = select(AuditEntry).where(
        AuditEntry.target_type == "opposition_list", AuditEntry.target_id == result.import_id
    )
    entries = list(session.scalars(query))
    assert [(e.action, e.actor, e.details) for e in entries] == [
        ("optout_imported", "cli", {"list": "bloctel", "entries": 4})
    ]


def test_list_statuses_flag_an_outdated_list(session: Session, tmp_path: Path) -> None:
    _import(session, _write(tmp_path / "b.csv", GOOD_LIST), as_of=TODAY - timedelta(days=30))
    (fresh,) = optout.list_statuses(session, TODAY)
    summary = (fresh.list_name, fresh.entries, fresh.age_days, fresh.outdated)
    assert summary == ("bloctel", 4, 30, False)
    (stale,) = optout.list_statuses(session, TODAY + timedelta(days=1))
    assert (stale.age_days, stale.outdated) == (31, True)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is not a text file"),
        ("téléphone\n0612345678\n".encode("utf-16"), "is UTF-16 text"),
        (b"phone\n06123\x81\x8d45678\n", "line 2: neither UTF-8 nor Windows-1252"),
        (b"0612345678" * 2_000, "has a line longer than 10000 characters"),
    ],
    ids=["binary", "utf16", "undecodable", "one-huge-line"],
)
def test_files_that_are_not_text_lists_are_refused(
    session: Session, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        _import(session, path)
    assert _imports(session) == 0


def test_a_missing_file_or_a_folder_is_refused(session: Session, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        _import(session, tmp_path / "missing.csv")
    with pytest.raises(NotFoundError, match="does not exist"):
        _import(session, tmp_path / "missing.csv", as_of=None)
    with pytest.raises(ImportFileError, match="is a folder"):
        _import(session, tmp_path)


def test_an_unreadable_file_is_refused(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "locked.csv", GOOD_LIST)
    opened = Path.open

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        if self == path:
            raise PermissionError(13, "Permission denied", str(path))
        return opened(self, *args, **kwargs)  # type: ignore[call-overload]

    # Tests may run as root, who reads any file whatever its mode: refuse it as the OS would.
    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ImportFileError, match=r"cannot read .*locked\.csv: Permission denied"):
        _import(session, path)
    assert _imports(session) == 0


@pytest.mark.parametrize("name", ["", "Bloc tel", "-x", "a" * 41, "bloctel;"])
def test_a_bad_list_name_is_refused(session: Session, tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInputError, match="use lower-case letters"):
        _import(session, _write(tmp_path / "b.csv", GOOD_LIST), name=name)
