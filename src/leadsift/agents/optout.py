"""Opposition lists (Bloctel): import the list as received, keep only keyed hashes of its
numbers, and tell the call queue which phones are on it. Flushes, never commits.

The list is matched against contacts' phones with the suppression hash of their E.164 form, so
the numbers of the millions of people on it who are not our contacts are never stored.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Final, Protocol

from sqlalchemy.orm import Session

from leadsift.access.schemas import Caller
from leadsift.access.service import audit
from leadsift.agents import optout_repository as repository
from leadsift.agents.calling import FRENCH_DEFAULTS
from leadsift.agents.models import OppositionImport
from leadsift.errors import ImportFileError, InvalidInputError, NotFoundError
from leadsift.outreach.consent import suppression_secret
from leadsift.outreach.identifiers import identifier_hash, normalise_phone

# The age beyond which calls may not rely on a list (the calling rules' own limit).
MAX_AGE_DAYS: Final = FRENCH_DEFAULTS.opposition_max_age.days
CHUNK_SIZE: Final = 10_000
HEADER_NAMES: Final = frozenset({"phone", "telephone", "téléphone", "numero", "numéro", "number"})
_LIST_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_BLOCK: Final = 1 << 20
_MAX_LINE: Final = 10_000
_SHOWN_BAD_LINES: Final = 10
_FIRST_COLUMN: Final = re.compile(r"[;,\t]")
_BLANK: Final = re.compile(r"[\s;,\"']*")
# National numbers of the overseas departments (0692…, 0690…) have their own country codes: a
# French list holds them in national form, which the mainland region does not parse.
_OVERSEAS_REGIONS: Final = ("RE", "GP", "GF", "MQ", "YT")
_FORMAT_HINT: Final = (
    "the file must hold one phone number per line (first column), "
    "e.g. 0612345678, 06 12 34 56 78 or +33612345678"
)


class _Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


@dataclass(frozen=True)
class ImportResult:
    """What an import did: the list, its date, its numbers, the file, the entries it replaced."""

    list_name: str
    as_of: date
    entries: int
    file_sha256: str
    import_id: int
    replaced: int


@dataclass(frozen=True)
class ListStatus:
    """An opposition list as its latest import left it, and whether calls may rely on it."""

    list_name: str
    as_of: date
    entries: int
    imported_at: datetime
    age_days: int
    outdated: bool


def check_list_name(name: str) -> str:
    """The list's handle in lower case, or a precise error."""
    handle = name.strip().lower()
    if _LIST_NAME.fullmatch(handle) is None:
        raise InvalidInputError(
            f"list name {name!r}: use lower-case letters, digits, '_' or '-' (at most 40, "
            "starting with a letter or digit), e.g. 'bloctel'"
        )
    return handle


def check_as_of(list_name: str, as_of: date, today: date, *, from_file: bool = False) -> date:
    """AS_OF when calls may rely on a list of that date today; else why not and what to do."""
    origin = (
        " (the date is the file's modification date: give the list's own with --as-of YYYY-MM-DD)"
        if from_file
        else ""
    )
    if as_of > today:
        raise InvalidInputError(
            f"the {list_name} list of {as_of.isoformat()} is dated in the future (today is "
            f"{today.isoformat()}){origin}"
        )
    age = (today - as_of).days
    if age > MAX_AGE_DAYS:
        raise InvalidInputError(
            f"the {list_name} list of {as_of.isoformat()} is {age} days old: calls may only rely "
            f"on a list at most {MAX_AGE_DAYS} days old; download a fresh one and import it"
            f"{origin}"
        )
    return as_of


def file_date(path: Path) -> date:
    """The UTC date the file was last modified (the list's date when none is given)."""
    try:
        return datetime.fromtimestamp(_stat_file(path).st_mtime, UTC).date()
    except OSError as error:
        raise ImportFileError(f"cannot read {path}: {error.strerror or error}") from None


def _stat_file(path: Path) -> os.stat_result:
    if not path.exists():
        raise NotFoundError(f"opposition file {path} does not exist")
    if path.is_dir():
        raise ImportFileError(f"{path} is a folder: give the opposition list's file")
    return path.stat()


@dataclass
class _BadLines:
    """The lines that are not phone numbers: how many, and the first few as messages."""

    count: int = 0
    shown: list[str] = field(default_factory=list)

    def add(self, line: int, message: str) -> None:
        self.count += 1
        if len(self.shown) < _SHOWN_BAD_LINES:
            self.shown.append(f"line {line}: {message}")

    def error(self, name: str) -> ImportFileError:
        if self.count == 1:
            return ImportFileError(f"{name}, {self.shown[0]}; {_FORMAT_HINT}; nothing was imported")
        first = f"first {len(self.shown)}: " if self.count > len(self.shown) else ""
        return ImportFileError(
            f"{name}: {self.count} lines are not phone numbers ({first}{'; '.join(self.shown)}); "
            f"{_FORMAT_HINT}; nothing was imported"
        )


def _quoted(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "…")


def _decode(raw: bytes) -> str | None:
    if raw.isascii():
        return raw.decode("ascii")
    for codec in ("utf-8", "cp1252"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    return None


def _check_block(name: str, block: bytes, first: bool) -> bytes:
    if first and block.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(f"{name} is UTF-16 text: save it as UTF-8 (or CSV) and import it")
    if b"\x00" in block:
        raise ImportFileError(
            f"{name} is not a text file (it holds binary data): save the list as text or CSV, "
            "one phone number per line"
        )
    return block.removeprefix(codecs.BOM_UTF8) if first else block


def _raw_lines(name: str, file: IO[bytes], digest: _Digest) -> Iterator[bytes]:
    """The file's lines without their ends (\\n, \\r\\n or \\r), read a block at a time."""
    carry, first = b"", True
    while block := file.read(_BLOCK):
        digest.update(block)
        lines = (carry + _check_block(name, block, first)).splitlines(keepends=True)
        first = False
        # An unfinished last line (or one ending in \r, maybe the half of \r\n) waits for more.
        carry = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        if len(carry) > _MAX_LINE:
            raise ImportFileError(
                f"{name} has a line longer than {_MAX_LINE} characters: it is not a list of "
                "phone numbers (one per line)"
            )
        yield from (line.rstrip(b"\r\n") for line in lines)
    if carry:
        yield carry.rstrip(b"\r\n")


def _text_lines(path: Path, digest: _Digest) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line of the file at PATH, decoded."""
    _stat_file(path)
    try:
        with path.open("rb") as file:
            for number, raw in enumerate(_raw_lines(path.name, file, digest), 1):
                text = _decode(raw)
                if text is None:
                    raise ImportFileError(
                        f"{path.name}, line {number}: neither UTF-8 nor Windows-1252 text; "
                        "save the file as UTF-8 text"
                    )
                yield number, text
    except OSError as error:
        raise ImportFileError(f"cannot read {path}: {error.strerror or error}") from None


def _first_column(text: str) -> str:
    return _FIRST_COLUMN.split(text, maxsplit=1)[0].strip().strip("\"'").strip()


def _normalise(value: str, default_region: str) -> str | None:
    phone = normalise_phone(value, default_region)
    if phone is not None or default_region != "FR":
        return phone
    overseas = (normalise_phone(value, region) for region in _OVERSEAS_REGIONS)
    return next((found for found in overseas if found is not None), None)


def _bad_value(value: str, seen_any: bool) -> str:
    if not value:
        return "the first column is empty"
    if not seen_any:  # the first line may be a header with an unknown name
        known = ", ".join(sorted(HEADER_NAMES))
        return f"{_quoted(value)} is not a phone number nor a known header ({known})"
    return f"{_quoted(value)} is not a phone number"


def phone_numbers(path: Path, default_region: str, digest: _Digest) -> Iterator[str]:
    """The E.164 numbers of the list file, in order (DIGEST sees every byte); once a line is
    bad none is given any more, and after the last line the bad ones are raised together, as is
    a file without any number."""
    bad, found, seen_any = _BadLines(), 0, False
    for number, text in _text_lines(path, digest):
        if _BLANK.fullmatch(text):
            continue
        value = _first_column(text)
        if not seen_any and value.lower() in HEADER_NAMES:
            seen_any = True
            continue
        phone = _normalise(value, default_region) if value else None
        if phone is None:
            bad.add(number, _bad_value(value, seen_any))
        elif not bad.count:
            found += 1
            yield phone
        seen_any = True
    if bad.count:
        raise bad.error(path.name)
    if not found:
        raise ImportFileError(
            f"{path.name} holds no phone number; {_FORMAT_HINT}; nothing was imported"
        )


def _chunks(values: Iterator[str], size: int = CHUNK_SIZE) -> Iterator[set[str]]:
    chunk: set[str] = set()
    for value in values:
        chunk.add(value)
        if len(chunk) >= size:
            yield chunk
            chunk = set()
    if chunk:
        yield chunk


def _replace_entries(session: Session, list_name: str, phone_hashes: Iterator[str]) -> int:
    """Put the hashes in place of the list's entries; returns how many entries were replaced."""
    replaced: int | None = None
    for chunk in _chunks(phone_hashes):
        # Deleted only once a first chunk is good: a file refused early costs no rewrite.
        if replaced is None:
            replaced = repository.delete_entries(session, list_name)
        repository.add_entries(session, list_name, chunk)
    return replaced or 0


def import_list(
    session: Session,
    path: Path,
    list_name: str,
    *,
    default_region: str,
    now: datetime,
    as_of: date | None = None,
    caller: Caller | None = None,
) -> ImportResult:
    """Replace the list's entries with the numbers of the file at PATH (hashed); a bad line or
    a list too old or from the future is refused and nothing changes."""
    name = check_list_name(list_name)
    today = now.astimezone(UTC).date()
    day = check_as_of(name, as_of or file_date(path), today, from_file=as_of is None)
    secret = suppression_secret(session)
    digest = hashlib.sha256()
    numbers = phone_numbers(path, default_region, digest)
    hashes = (identifier_hash(secret, "phone", phone) for phone in numbers)
    # A savepoint: a bad line found after the first chunks undoes them and the deletion.
    with session.begin_nested():
        replaced = _replace_entries(session, name, hashes)
        record = OppositionImport(
            list_name=name,
            as_of=day,
            file_sha256=digest.hexdigest(),
            entries=repository.count_entries(session, name),
            actor=caller.actor if caller is not None else "cli",
            imported_at=now,
        )
        repository.add_import(session, record)
        details = {"list": name, "entries": record.entries}
        audit(session, caller, "optout_imported", ("opposition_list", record.id), details=details)
    return ImportResult(name, day, record.entries, record.file_sha256, record.id, replaced)


def latest_imports(session: Session) -> dict[str, OppositionImport]:
    """The latest import of each opposition list, by list name."""
    return {record.list_name: record for record in repository.latest_imports(session)}


def listed_phones(
    session: Session, list_names: Collection[str], phone_hashes: Collection[str]
) -> set[str]:
    """Which of PHONE_HASHES (suppression hashes of E.164 phones) are on any of LIST_NAMES."""
    if not list_names or not phone_hashes:
        return set()
    return repository.listed_hashes(session, list_names, phone_hashes)


def list_statuses(session: Session, today: date) -> list[ListStatus]:
    """Every opposition list with its latest import, its age today and whether it is outdated."""
    statuses = []
    for record in latest_imports(session).values():
        age = (today - record.as_of).days
        outdated = age > MAX_AGE_DAYS
        statuses.append(
            ListStatus(
                record.list_name, record.as_of, record.entries, record.imported_at, age, outdated
            )
        )
    return statuses
