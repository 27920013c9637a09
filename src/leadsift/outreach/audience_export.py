"""Advertising audiences: the contacts a criteria expression selects, kept only when the consent
gate allows ad_audience (an opt-in on record, no withdrawal, no suppressed identifier), hashed
for the destination, written through a sink, and logged with an audit entry. Flushes, never
commits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from leadsift.access.schemas import Caller
from leadsift.access.service import audit
from leadsift.errors import InvalidInputError
from leadsift.outreach import audience_repository as store
from leadsift.outreach import repository
from leadsift.outreach.audiences import COLUMNS, DESTINATIONS, audience_row
from leadsift.outreach.consent import suppression_secret
from leadsift.outreach.gate import Recipient, decide
from leadsift.outreach.models import AudienceExport
from leadsift.outreach.preparation import Suppressed
from leadsift.segments.service import where_condition

CHANNEL = store.AD_AUDIENCE
DEFAULT_PURPOSE = "remarketing"
MAX_PURPOSE_LENGTH = 200
# Ad platforms match people, not firms: the stricter consumer rules apply (opt-in required).
GATE_AUDIENCE = "b2c"


class AudienceSink(Protocol):
    """Where the rows go: a file that is only kept once the export is recorded."""

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Append rows."""

    def finish(self) -> str:
        """End writing; the SHA-256 (hex) of everything written, header included."""


@dataclass
class AudienceCounts:
    """What the selection found: matched = written + without_consent + without_identifier."""

    matched: int = 0
    written: int = 0
    # Matched but not allowed for ad_audience: no opt-in, withdrawn, or suppressed.
    without_consent: int = 0
    # Allowed, but with no email or phone usable by the destination.
    without_identifier: int = 0

    def left_out(self, why: str) -> None:
        """Count one contact left out, under WHY: without_consent or without_identifier."""
        if why == "without_consent":
            self.without_consent += 1
        else:
            self.without_identifier += 1


@dataclass(frozen=True)
class ExportSummary:
    """One audience export as reported: the stored record and what was left out."""

    export_id: int
    destination: str
    purpose: str
    count: int
    without_consent: int
    without_identifier: int
    sha256: str


@dataclass(frozen=True)
class ExportView:
    """A past audience export (no identifiers: counts, criteria, file digest)."""

    id: int
    at: datetime
    actor: str
    destination: str
    purpose: str
    criteria: str | None
    count: int
    without_consent: int
    file_sha256: str


def check_destination(destination: str) -> str:
    """DESTINATION, or an error naming the destinations."""
    if destination not in DESTINATIONS:
        raise InvalidInputError(
            f"unknown destination {destination!r}: use {', '.join(DESTINATIONS)}"
        )
    return destination


def check_purpose(purpose: str) -> str:
    """The purpose trimmed, or an error when it is empty or too long."""
    trimmed = " ".join(purpose.split())
    if not trimmed or len(trimmed) > MAX_PURPOSE_LENGTH:
        raise InvalidInputError(
            f"--purpose: say what the audience is for in 1 to {MAX_PURPOSE_LENGTH} characters, "
            "e.g. 'remarketing'"
        )
    return trimmed


def header(destination: str) -> tuple[str, str]:
    """The CSV header DESTINATION expects."""
    return COLUMNS[check_destination(destination)]


def _suppressed(session: Session) -> Suppressed:
    return Suppressed(
        repository.suppressed_for(session, CHANNEL), repository.suppressed_for(session, "all")
    )


def _allowed(
    row: Sequence[Any], suppressed: Suppressed, secret: bytes, now: datetime
) -> str | None:
    """None when the gate allows ad_audience for ROW, else the count it falls under."""
    _, email, phone, consent = row[:4]
    if not consent:
        # No opt-in (or a withdrawal): refused whatever else holds, so no hashing is needed.
        return "without_consent"
    recipient = Recipient(
        channel=CHANNEL,
        audience=GATE_AUDIENCE,
        has_address=bool(email or phone),
        consent=True,
        suppressed=suppressed.reason(secret, CHANNEL, email, phone),
        # The existing-customer exception never covers ad audiences: a purchase is irrelevant.
        last_purchase_at=None,
    )
    verdict = decide(recipient, now)
    if verdict.allowed:
        return None
    return "without_identifier" if verdict.reason == "no_address" else "without_consent"


def _entry(
    row: Sequence[Any], destination: str, suppressed: Suppressed, secret: bytes, now: datetime
) -> tuple[str, ...] | str:
    """ROW's hashed cells in DESTINATION's column order, or the count it is left out under."""
    left_out = _allowed(row, suppressed, secret, now)
    if left_out is not None:
        return left_out
    hashed = audience_row(row[1], row[2], destination)
    if hashed is None:
        return "without_identifier"
    return tuple(hashed[column] for column in COLUMNS[destination])


def audience_rows(
    session: Session, criteria: str, destination: str, *, now: datetime, counts: AudienceCounts
) -> Iterator[list[tuple[str, ...]]]:
    """The hashed rows (in DESTINATION's column order) of the contacts CRITERIA selects that
    ad_audience allows, a slice at a time; COUNTS holds the running counts."""
    check_destination(destination)
    condition = where_condition(session, criteria)  # a bad expression fails here, with its place
    suppressed, secret = _suppressed(session), suppression_secret(session)
    for part in store.audience_facts(session, condition):
        rows: list[tuple[str, ...]] = []
        for row in part:
            entry = _entry(row, destination, suppressed, secret, now)
            counts.matched += 1
            if isinstance(entry, str):
                counts.left_out(entry)
            else:
                counts.written += 1
                rows.append(entry)
        yield rows


def export_audience(
    session: Session,
    *,
    criteria: str,
    destination: str,
    purpose: str,
    sink: AudienceSink,
    now: datetime,
    caller: Caller | None = None,
) -> ExportSummary:
    """Write the audience CRITERIA selects to SINK, then record the export and audit it; nothing
    is recorded when writing fails."""
    check_destination(destination)
    purpose = check_purpose(purpose)
    counts = AudienceCounts()
    for rows in audience_rows(session, criteria, destination, now=now, counts=counts):
        sink.write_rows(rows)
    digest = sink.finish()
    record = store.add_export(
        session,
        AudienceExport(
            destination=destination,
            purpose=purpose,
            criteria=criteria,
            count=counts.written,
            without_consent=counts.without_consent,
            file_sha256=digest,
            actor=caller.actor if caller is not None else "cli",
            at=now,
        ),
    )
    # Ids and counts only: the audit log never holds personal data.
    audit(
        session,
        caller,
        "audience_exported",
        ("audience_export", record.id),
        details={"destination": destination, "count": counts.written},
        at=now,
    )
    return ExportSummary(
        export_id=record.id,
        destination=destination,
        purpose=purpose,
        count=counts.written,
        without_consent=counts.without_consent,
        without_identifier=counts.without_identifier,
        sha256=digest,
    )


def past_exports(session: Session, limit: int = 50) -> list[ExportView]:
    """The latest audience exports, newest first."""
    return [
        ExportView(
            id=e.id,
            at=e.at,
            actor=e.actor,
            destination=e.destination,
            purpose=e.purpose,
            criteria=e.criteria,
            count=e.count,
            without_consent=e.without_consent,
            file_sha256=e.file_sha256,
        )
        for e in store.recent_exports(session, limit)
    ]
