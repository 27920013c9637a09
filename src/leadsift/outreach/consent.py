"""Consent and suppression: the ledger grown into the rule for every send. Grant, withdraw,
show; unsubscribes, SMS STOP and bounces; the gate's decision for one contact. Flushes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from leadsift.access.service import workspace_secret
from leadsift.contacts.models import ConsentRecord, ConsentWording
from leadsift.engagement.service import record_for_contacts
from leadsift.errors import InvalidInputError
from leadsift.outreach import repository
from leadsift.outreach.consent_state import ConsentState, LedgerEntry, current_states
from leadsift.outreach.gate import AUDIENCES, CHANNELS, GateDecision
from leadsift.outreach.identifiers import identifier_hash
from leadsift.outreach.preparation import CHANNEL_IDENTIFIER, Suppressed, decide_row
from leadsift.scoring.service import after_events

PURPOSES = ("marketing",)
# What a person's own "yes" lifts (with --lift-suppression); bounces and erasures stay.
LIFTABLE_REASONS = ("unsubscribed", "stop", "withdrawn")


@dataclass(frozen=True)
class ConsentView:
    """One contact's consent per channel, suppressions, and what the gate says today."""

    contact_id: int
    audience: str
    states: dict[str, ConsentState]
    suppressed: dict[str, str]
    decisions: dict[str, GateDecision]
    ledger: list[dict[str, Any]]


def suppression_secret(session: Session) -> bytes:
    """The workspace secret that keys suppression hashes."""
    return workspace_secret(session, "suppression")


def identifier_hashes(secret: bytes, email: str | None, phone: str | None) -> dict[str, str]:
    """The keyed hashes of a contact's stored (already normalised) identifiers, by kind."""
    hashes = {}
    if email:
        hashes["email"] = identifier_hash(secret, "email", email)
    if phone:
        hashes["phone"] = identifier_hash(secret, "phone", phone)
    return hashes


def check_channel(channel: str) -> str:
    """CHANNEL, or a precise error naming the valid ones."""
    if channel not in CHANNELS:
        raise InvalidInputError(f"unknown channel {channel!r}: use one of {', '.join(CHANNELS)}")
    return channel


def check_audience(audience: str) -> str:
    """AUDIENCE (b2c or b2b), or a precise error."""
    if audience not in AUDIENCES:
        raise InvalidInputError(f"unknown audience {audience!r}: use b2c or b2b")
    return audience


def _entries(session: Session, contact_id: int) -> list[LedgerEntry]:
    return [
        LedgerEntry(r.id, r.channel, r.purpose, r.granted, r.source, r.recorded_at, r.wording_hash)
        for r in repository.consent_rows(session, contact_id)
    ]


def _store_wording(session: Session, wording: str, now: datetime) -> str:
    digest = hashlib.sha256(wording.encode("utf-8")).hexdigest()
    if session.get(ConsentWording, digest) is None:
        session.add(ConsentWording(hash=digest, text=wording, first_seen_at=now))
    return digest


def record_consent(
    session: Session,
    contact_id: int,
    channel: str,
    *,
    granted: bool,
    source: str,
    now: datetime,
    wording: str | None = None,
    purpose: str = "marketing",
) -> ConsentRecord:
    """Append one ledger row (the current state is derived from the ledger, never edited)."""
    check_channel(channel)
    digest = _store_wording(session, wording, now) if wording else None
    record = ConsentRecord(
        contact_id=contact_id,
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=source,
        wording_hash=digest,
        recorded_at=now,
    )
    return repository.add_consent(session, record)


def suppress_contact(
    session: Session,
    contact_id: int,
    channels: list[str],
    *,
    reason: str,
    source: str,
    now: datetime,
    kinds: tuple[str, ...] = ("email", "phone"),
) -> int:
    """Suppress the contact's identifiers of KINDS on CHANNELS ("all" for every channel)."""
    email, phone = repository.contact_identifiers(session, [contact_id]).get(
        contact_id, (None, None)
    )
    hashes = identifier_hashes(suppression_secret(session), email, phone)
    return suppress_hashes(
        session,
        {k: h for k, h in hashes.items() if k in kinds},
        channels=channels,
        reason=reason,
        source=source,
        now=now,
    )


def suppress_hashes(
    session: Session,
    hashes: dict[str, str],
    *,
    channels: list[str],
    reason: str,
    source: str,
    now: datetime,
) -> int:
    """Add suppression entries for each identifier hash (by kind) and channel."""
    rows = [
        {
            "identifier_hash": digest,
            "kind": kind,
            "channel": channel,
            "reason": reason,
            "source": source,
            "created_at": now,
        }
        for kind, digest in hashes.items()
        for channel in channels
    ]
    return repository.add_suppressions(session, rows)


def grant(
    session: Session,
    contact_id: int,
    channel: str,
    *,
    source: str,
    now: datetime,
    wording: str | None = None,
    lift_suppression: bool = False,
) -> ConsentRecord:
    """Record a person's consent on CHANNEL; with LIFT_SUPPRESSION their own earlier opt-out
    (not a bounce nor an erasure) is lifted too, which needs the exact wording they agreed to."""
    if lift_suppression and not wording:
        raise InvalidInputError(
            "lifting a suppression needs the exact wording the person agreed to: add --wording"
        )
    record = record_consent(
        session, contact_id, channel, granted=True, source=source, now=now, wording=wording
    )
    if lift_suppression:
        email, phone = repository.contact_identifiers(session, [contact_id])[contact_id]
        hashes = identifier_hashes(suppression_secret(session), email, phone)
        kind = CHANNEL_IDENTIFIER.get(channel)
        chosen = [h for k, h in hashes.items() if kind is None or k == kind]
        repository.lift_suppressions(session, chosen, channel, LIFTABLE_REASONS)
    return record


def withdraw(
    session: Session,
    contact_id: int,
    channel: str,
    *,
    source: str,
    now: datetime,
    reason: str = "withdrawn",
    campaign: str | None = None,
) -> bool:
    """Record an objection on CHANNEL and suppress the identifier that channel uses, so it holds
    after any re-import; returns False when it was already in force (nothing written)."""
    check_channel(channel)
    states = current_states(_entries(session, contact_id))
    email, phone = repository.contact_identifiers(session, [contact_id]).get(
        contact_id, (None, None)
    )
    hashes = identifier_hashes(suppression_secret(session), email, phone)
    kind = CHANNEL_IDENTIFIER.get(channel)
    chosen = {k: h for k, h in hashes.items() if kind is None or k == kind}
    # Without an identifier for the channel (no phone for sms) there is nothing to suppress: the
    # ledger's "no" alone says the objection is in force.
    already = states[channel].granted is False and (
        not chosen or repository.suppressed_reason(session, list(chosen.values()), channel)
    )
    if already:
        return False
    if states[channel].granted is not False:
        record_consent(session, contact_id, channel, granted=False, source=source, now=now)
    suppress_hashes(session, chosen, channels=[channel], reason=reason, source=source, now=now)
    event_type = {"email": "email_unsubscribed", "sms": "sms_stop"}.get(channel, "unsubscribed")
    event: dict[str, Any] = {
        "type": event_type,
        "occurred_at": now,
        "properties": {"channel": channel, "via": source},
        "idempotency_key": f"withdraw:{contact_id}:{channel}:{now.isoformat()}",
    }
    if campaign:
        event["campaign"] = campaign
    record_for_contacts(session, [(contact_id, event)], now=now)
    # An unsubscribe is an event like any other: the playbook's interest rules may count it.
    after_events(session, {contact_id}, now)
    return True


def own_suppressions(
    session: Session, email: Any, phone: Any, channel: str, *, secret: bytes | None = None
) -> Suppressed:
    """The suppression entries of one contact's identifiers that concern CHANNEL."""
    hashes = identifier_hashes(secret or suppression_secret(session), email, phone)
    rows = repository.suppression_rows(session, list(hashes.values()))
    on_channel = {r.identifier_hash: r.reason for r in rows if r.channel == channel}
    everywhere = {r.identifier_hash: r.reason for r in rows if r.channel == "all"}
    return Suppressed(on_channel, everywhere)


def decision_for(
    session: Session, contact_id: int, channel: str, *, audience: str, now: datetime
) -> GateDecision:
    """The gate's answer for one contact on CHANNEL now."""
    row = repository.one_contact_facts(session, contact_id, channel)
    if row is None:
        return GateDecision(False, "no_address", "the contact no longer exists")
    return decide_row(
        row,
        channel=channel,
        audience=audience,
        secret=suppression_secret(session),
        suppressed=own_suppressions(session, row[1], row[2], channel),
        now=now,
    )


def show(session: Session, contact_id: int, *, audience: str, now: datetime) -> ConsentView:
    """A contact's consent per channel (derived from the ledger), suppressions, decisions."""
    check_audience(audience)
    entries = _entries(session, contact_id)
    email, phone = repository.contact_identifiers(session, [contact_id]).get(
        contact_id, (None, None)
    )
    hashes = identifier_hashes(suppression_secret(session), email, phone)
    suppressed = {
        s.channel: s.reason for s in repository.suppression_rows(session, list(hashes.values()))
    }
    decisions = {
        ch: decision_for(session, contact_id, ch, audience=audience, now=now) for ch in CHANNELS
    }
    ledger = [
        {
            "id": e.id,
            "channel": e.channel,
            "purpose": e.purpose,
            "granted": e.granted,
            "source": e.source,
            "recorded_at": e.recorded_at,
            "wording_hash": e.wording_hash,
        }
        for e in entries
    ]
    return ConsentView(contact_id, audience, current_states(entries), suppressed, decisions, ledger)
