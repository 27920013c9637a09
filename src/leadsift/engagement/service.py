"""Recording events: check each, find its contact, store it once; stitch visitors to contacts.

Services flush; the entrypoint commits. What happens to scores and stages after events are
recorded is not decided here: the caller passes the recorded contacts on (see `AfterEvents`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from leadsift.engagement import repository
from leadsift.engagement.criteria_fields import EXTRA_FIELDS
from leadsift.engagement.events import PreparedEvent, error, prepare
from leadsift.engagement.schemas import EventView, IngestResult, ItemError


class AfterEvents(Protocol):
    """What runs in the same transaction once events of these contacts are recorded."""

    def __call__(self, session: Session, contact_ids: set[int], now: datetime) -> None:
        """Update scores and stages of CONTACT_IDS (called with an empty set too)."""


@dataclass(frozen=True)
class IngestOptions:
    """How events are read: the region of phones without +code, the clock tolerance."""

    default_region: str = "FR"
    future_tolerance: timedelta = timedelta(minutes=5)


@dataclass
class Recorded:
    """The answer for the sender, and the contacts whose events changed."""

    result: IngestResult
    contact_ids: set[int] = field(default_factory=set)


def ingest(
    session: Session,
    raw_events: Sequence[Any],
    *,
    now: datetime,
    options: IngestOptions | None = None,
    first_index: int = 0,
) -> Recorded:
    """Store each valid event once; report duplicates and, per event, what was wrong."""
    outcome = _record(session, raw_events, now, options or IngestOptions(), first_index)
    stop = first_index + len(raw_events)
    return Recorded(outcome.result(first_index, stop, 0), outcome.contact_ids)


def ingest_requests(
    session: Session,
    requests: Sequence[Sequence[Any]],
    *,
    now: datetime,
    options: IngestOptions | None = None,
) -> tuple[list[IngestResult], set[int]]:
    """Several senders' events recorded in one pass (one look-up, one insert), each answered
    as if alone: indexes in each answer are positions in that sender's request."""
    flat = [raw for request in requests for raw in request]
    outcome = _record(session, flat, now, options or IngestOptions(), 0)
    results, start = [], 0
    for request in requests:
        results.append(outcome.result(start, start + len(request), start))
        start += len(request)
    return results, outcome.contact_ids


@dataclass
class _Outcome:
    """What happened to each event of one pass, by its index."""

    inserted: set[int] = field(default_factory=set)
    duplicates: set[int] = field(default_factory=set)
    errors: list[ItemError] = field(default_factory=list)
    contact_ids: set[int] = field(default_factory=set)

    def result(self, start: int, stop: int, shift: int) -> IngestResult:
        """The answer for the events indexed START..STOP-1, their indexes lowered by SHIFT."""
        span = range(start, stop)
        errors = [
            e.model_copy(update={"index": e.index - shift}) if shift else e
            for e in self.errors
            if e.index in span
        ]
        return IngestResult(
            inserted=sum(1 for i in self.inserted if i in span),
            duplicates=sum(1 for i in self.duplicates if i in span),
            errors=sorted(errors, key=lambda e: e.index),
        )


def _record(
    session: Session,
    raw_events: Sequence[Any],
    now: datetime,
    options: IngestOptions,
    first_index: int,
) -> _Outcome:
    outcome = _Outcome()
    prepared: list[PreparedEvent] = []
    for offset, raw in enumerate(raw_events):
        item = prepare(
            raw,
            first_index + offset,
            received_at=now,
            future_tolerance=options.future_tolerance,
            region=options.default_region,
        )
        if isinstance(item, ItemError):
            outcome.errors.append(item)
        else:
            prepared.append(item)
    owners = _owners(session, prepared)
    located: list[tuple[PreparedEvent, int | None]] = []
    for event in prepared:
        owner = owners.get((event.ref_kind, event.ref_value)) if event.ref_kind else None
        if event.ref_kind is not None and owner is None:
            outcome.errors.append(
                error(
                    event.index,
                    "unknown_contact",
                    f"no contact has {event.reference()}; import the contact first",
                )
            )
            continue
        if owner is None and event.anonymous_id is not None:
            owner = owners.get(("anonymous_id", event.anonymous_id))
        located.append((event, owner))
    fresh = _first_sightings(session, located, outcome)
    rows = [event_row(event, owner, now) for event, owner in fresh]
    inserted = repository.insert_events(session, rows)
    for event, owner in fresh:
        if event.dedup_key in inserted:
            outcome.inserted.add(event.index)
            if owner is not None:
                outcome.contact_ids.add(owner)
        else:
            outcome.duplicates.add(event.index)  # stored by a concurrent request since the check
    return outcome


def _owners(session: Session, events: Sequence[PreparedEvent]) -> dict[tuple[Any, Any], int]:
    wanted: dict[str, set[Any]] = defaultdict(set)
    for event in events:
        if event.ref_kind is not None:
            wanted[event.ref_kind].add(event.ref_value)
        elif event.anonymous_id is not None:
            wanted["anonymous_id"].add(event.anonymous_id)
    owners: dict[tuple[Any, Any], int] = {}
    for kind, values in wanted.items():
        if kind == "anonymous_id":
            found = repository.linked_contacts(session, sorted(values))
        else:
            found = repository.contact_ids_by(session, kind, sorted(values, key=str))
        owners.update({(kind, value): contact_id for value, contact_id in found.items()})
    return owners


def _first_sightings(
    session: Session, located: list[tuple[PreparedEvent, int | None]], outcome: _Outcome
) -> list[tuple[PreparedEvent, int | None]]:
    """Events never stored before; repeats count as duplicates, reused keys as conflicts."""
    stored = repository.stored_payloads(session, [event.dedup_key for event, _ in located])
    seen: dict[bytes, bytes] = {}
    fresh = []
    for event, owner in located:
        earlier = stored.get(event.dedup_key) or seen.get(event.dedup_key)
        if earlier is None:
            seen[event.dedup_key] = event.payload_hash
            fresh.append((event, owner))
        elif earlier == event.payload_hash:
            outcome.duplicates.add(event.index)
        else:
            outcome.errors.append(
                error(
                    event.index,
                    "idempotency_conflict",
                    f"idempotency key {event.idempotency_key!r} was already used for a "
                    "different event; use a new key for a new event",
                )
            )
    return fresh


def event_row(event: PreparedEvent, owner: int | None, now: datetime) -> dict[str, Any]:
    """The `events` row of a checked EVENT of contact OWNER (None: anonymous), received NOW."""
    row: dict[str, Any] = {
        "type": event.type,
        "contact_id": owner,
        "anonymous_id": event.anonymous_id,
        "occurred_at": event.occurred_at,
        "received_at": now,
        "properties": event.properties,
        "idempotency_key": event.idempotency_key,
        "dedup_key": event.dedup_key,
        "payload_hash": event.payload_hash,
    }
    row.update(zip(EXTRA_FIELDS, event.extra, strict=True))
    return row


def record_for_contacts(
    session: Session, contact_events: Sequence[tuple[int, dict[str, Any]]], *, now: datetime
) -> int:
    """Store events the system itself observed about known contacts (a message sent, a code
    redeemed): checked like any event, stored once per idempotency key; returns how many are
    new. The caller knows the contacts exist, so there is no look-up."""
    rows = []
    for index, (contact_id, raw) in enumerate(contact_events):
        item = prepare(
            {**raw, "contact_id": contact_id},
            index,
            received_at=now,
            future_tolerance=timedelta(minutes=5),
            region="FR",
        )
        if isinstance(item, ItemError):
            raise ValueError(f"a system event is not valid: {item.message}")
        rows.append(event_row(item, contact_id, now))
    return len(repository.insert_events(session, rows))


def identify_visitor(
    session: Session, anonymous_id: str, contact_id: int, *, via: str, now: datetime
) -> int:
    """Link a visitor to the contact who identified (form, tracked link); give them their past
    anonymous events. Events already another contact's stay theirs: two identified people are
    never merged. Returns how many events were stitched."""
    repository.link_visitor(session, anonymous_id, contact_id, via, now)
    return repository.stitch(session, anonymous_id, contact_id)


def timeline(
    session: Session, contact_id: int, limit: int | None = None, *, event_type: str | None = None
) -> list[EventView]:
    """A contact's events (of EVENT_TYPE when given), oldest first."""
    events = repository.timeline(session, contact_id, limit, event_type=event_type)
    return [EventView.model_validate(e) for e in events]


def contact_exists(session: Session, contact_id: int) -> bool:
    """Whether a contact with this id exists."""
    return bool(repository.contact_ids_by(session, "contact_id", [contact_id]))


# --- Website tracking: identification racing the event writer (engagement/tracking.py) ---


def stitch_stragglers(session: Session, anonymous_id: str, contact_id: int) -> int:
    """Give the contact the visitor's anonymous events recorded while the link was being made
    (the writer read no link yet); none when the visitor is someone else's by now."""
    if repository.linked_contacts(session, [anonymous_id]).get(anonymous_id) != contact_id:
        return 0
    return repository.stitch(session, anonymous_id, contact_id)
