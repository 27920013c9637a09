"""One claimed message, in three steps the worker runs in order: `check` (read fresh: the
contact, its consent and suppressions, the campaign's status, a sequence's stop events → send,
skip, stop or put back), `send` (render and hand to the channel: no database), `record` (what
the channel's answer means: sent, bounced, retried, failed, ambiguous). `check` reads in its own
short transaction and `record` writes in another, so no transaction stays open while a message
is on the wire. On PostgreSQL, `record_sent` records a sent message and checks the lane's next
one in a single statement."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from leadsift.engagement.events import prepare
from leadsift.engagement.schemas import ItemError
from leadsift.engagement.service import event_row, record_for_contacts
from leadsift.errors import InvalidInputError
from leadsift.outreach import campaign_repository
from leadsift.outreach import outbox_repository as outbox
from leadsift.outreach.channels.base import EmailChannel, SendResult, SmsChannel
from leadsift.outreach.consent import identifier_hashes, suppress_contact
from leadsift.outreach.gate import Recipient, decide
from leadsift.outreach.messages import Composer
from leadsift.outreach.models import Campaign
from leadsift.outreach.preparation import CHANNEL_IDENTIFIER, address_of
from leadsift.outreach.promo import issue_codes
from leadsift.outreach.retries import SOFT_FAILURE_LIMIT, backoff
from leadsift.qualification.policy import CONVERSION_EVENTS

# A sequence's later steps stop when the person replied, left, bounced or bought since it began.
SEQUENCE_STOPS = (
    "email_replied", "sms_replied", "email_unsubscribed", "sms_stop", "email_bounced",
    *CONVERSION_EVENTS,
)  # fmt: skip


@dataclass(frozen=True)
class Delivery:
    """A campaign and what its messages share."""

    campaign: Campaign
    composer: Composer
    # Read once per worker: every message's suppression check needs it.
    suppression_secret: bytes


@dataclass
class Claim:
    """Messages claimed together, their promo codes and their contacts' facts by campaign."""

    rows: list[dict[str, Any]]
    codes: dict[int, str] = field(default_factory=dict)
    facts: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)


def take_claim(session: Session, *, token: str, now: datetime, limit: int) -> Claim:
    """Claim up to LIMIT due messages for TOKEN, with their promo codes (issued now) and their
    contacts' facts."""
    claimed = outbox.claim(session, token, now, limit)
    found = Claim(claimed)
    by_campaign: dict[int, list[dict[str, Any]]] = {}
    for row in claimed:
        by_campaign.setdefault(int(row["campaign_id"]), []).append(row)
    campaigns = campaign_repository.campaigns_by_id(session, list(by_campaign))
    for campaign_id, rows in by_campaign.items():
        campaign = campaigns[campaign_id]
        program_id = campaign.promo_program_id
        program = campaign_repository.program(session, program_id) if program_id else None
        if program is not None:
            found.codes.update(issue_codes(session, program, rows, now))
        ids = [int(r["contact_id"]) for r in rows]
        found.facts[campaign_id] = outbox.contact_facts(session, ids, campaign.channel)
    return found


@dataclass(frozen=True)
class Check:
    """What `check` decided: "send" (with the facts), "skip", "stop" or "release"."""

    action: str
    facts: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None


def _channel_hashes(delivery: Delivery, facts: Mapping[str, Any]) -> dict[str, str | None]:
    hashes = identifier_hashes(delivery.suppression_secret, facts["email"], facts["phone"])
    kind = CHANNEL_IDENTIFIER.get(delivery.campaign.channel)
    return {
        "email_hash": hashes.get("email"),
        "phone_hash": hashes.get("phone"),
        "channel_hash": hashes.get(kind) if kind else None,
    }


def recheck_keys(
    delivery: Delivery, row: Mapping[str, Any], facts: Mapping[str, Any]
) -> dict[str, Any]:
    """What `outbox.recheck` reads for ROW: the contact, the channel, the campaign, the hashes
    of the contact's identifiers."""
    campaign = delivery.campaign
    return {
        "contact_id": int(row["contact_id"]),
        "channel": campaign.channel,
        "campaign_id": campaign.id,
        **_channel_hashes(delivery, facts),
    }


def check(
    session: Session,
    delivery: Delivery,
    row: Mapping[str, Any],
    facts: Mapping[str, Any] | None,
    now: datetime,
) -> Check:
    """Right before sending, re-read what may have changed since the claim (the contact gone,
    a consent withdrawn, an identifier suppressed, the campaign paused; for a sequence's later
    step, a reply, unsubscribe, bounce or purchase) and apply the gate again."""
    if facts is None:
        return Check("skip", reason="contact_erased")
    fresh = outbox.recheck(session, **recheck_keys(delivery, row, facts))
    decided = judge(delivery, row, facts, fresh, now)
    if decided.action == "send" and needs_stop_check(delivery, row):
        return stop_check(session, delivery, row, decided)
    return decided


def judge(
    delivery: Delivery,
    row: Mapping[str, Any],
    facts: Mapping[str, Any],
    fresh: Mapping[str, Any],
    now: datetime,
) -> Check:
    """The gate again, on what `outbox.recheck` read (FRESH): send, skip or release."""
    campaign = delivery.campaign
    if fresh["present"] is None:
        return Check("skip", reason="contact_erased")
    if fresh["campaign_status"] != "scheduled":
        return Check("release")
    consent = fresh["consent"]
    recipient = Recipient(
        channel=campaign.channel,
        audience=campaign.audience,
        has_address=bool(address_of(campaign.channel, facts["email"], facts["phone"])),
        consent=None if consent is None else bool(consent),
        suppressed=fresh["suppressed"],
        last_purchase_at=facts["last_purchase_at"],
    )
    verdict = decide(recipient, now)
    if not verdict.allowed:
        return Check("skip", reason=verdict.reason)
    return Check("send", facts)


def needs_stop_check(delivery: Delivery, row: Mapping[str, Any]) -> bool:
    """Whether ROW is a sequence's later step, stopped by what the person did since it began."""
    return int(row["step"]) > 0 and delivery.campaign.scheduled_at is not None


def stop_check(
    session: Session, delivery: Delivery, row: Mapping[str, Any], decided: Check
) -> Check:
    """A sequence's later step: stopped when the person replied, left, bounced or bought since
    the sequence began; otherwise DECIDED."""
    since = delivery.campaign.scheduled_at
    if since is None:
        return decided
    stop = outbox.stop_events_since(session, int(row["contact_id"]), SEQUENCE_STOPS, since)
    return decided if stop is None else Check("stop", reason=stop)


def settle_unsent(session: Session, row: Mapping[str, Any], decided: Check, now: datetime) -> str:
    """Record a message that will not be sent (skipped, stopped) or put it back (paused)."""
    outbox_id = int(row["id"])
    if decided.action == "release":
        # Claimed just before its campaign was paused: aside with the others, until resumed.
        outbox.release(session, [outbox_id], status="held")
        return "released"
    status = "skipped" if decided.action == "skip" else "stopped"
    outbox.settle(session, outbox_id, status=status, reason=decided.reason, settled_at=now)
    return status


def send(
    delivery: Delivery,
    row: Mapping[str, Any],
    facts: Mapping[str, Any],
    code: str | None,
    channel: EmailChannel | SmsChannel,
) -> tuple[SendResult, str | None]:
    """Render and hand the message over; a template that cannot render is a failed result."""
    composer, outbox_id, step = delivery.composer, int(row["id"]), int(row["step"])
    try:
        if isinstance(channel, EmailChannel):
            email = composer.email(outbox_id, facts, step, code)
            return channel.send(email), email.message_id
        return channel.send(composer.sms(outbox_id, facts, step, code)), None
    except InvalidInputError as exc:
        return SendResult("hard_bounce", f"render: {exc.message}"), None


def _event_of(
    delivery: Delivery, row: Mapping[str, Any], what: str, *, now: datetime, **properties: Any
) -> dict[str, Any]:
    prefix = "email" if delivery.campaign.channel == "email" else "sms"
    return {
        "type": f"{prefix}_{what}",
        "occurred_at": now,
        "campaign": delivery.campaign.key,
        "source": "outbox",
        "properties": {"outbox_id": row["id"], "step": row["step"], **properties},
        "idempotency_key": f"outbox:{row['id']}:{what}",
    }


def _event(
    session: Session, delivery: Delivery, row: Mapping[str, Any], what: str, *, now: datetime,
    **properties: Any,
) -> None:  # fmt: skip
    event = _event_of(delivery, row, what, now=now, **properties)
    record_for_contacts(session, [(int(row["contact_id"]), event)], now=now)


def sent_event_row(
    delivery: Delivery, row: Mapping[str, Any], message_id: str | None, now: datetime
) -> dict[str, Any]:
    """The `*_sent` event of ROW as `record_for_contacts` stores it (checked and keyed the same
    way), for `outbox.settle_sent`, which writes it in the settling statement."""
    raw = _event_of(delivery, row, "sent", now=now, message_id=message_id)
    contact_id = int(row["contact_id"])
    item = prepare({**raw, "contact_id": contact_id}, 0, received_at=now,
                   future_tolerance=timedelta(minutes=5), region="FR")  # fmt: skip
    if isinstance(item, ItemError):
        raise ValueError(f"a system event is not valid: {item.message}")
    return event_row(item, contact_id, now)


def record_sent(
    connection: Any,
    delivery: Delivery,
    row: Mapping[str, Any],
    *,
    result: SendResult,
    message_id: str | None,
    now: datetime,
    following: tuple[Delivery, Mapping[str, Any], Mapping[str, Any] | None] | None,
    read: Callable[[Callable[[Session], Check]], Check],
) -> Check | None:
    """PostgreSQL: what `record` does for a sent message without a next step (settle it, store
    its event) and what `check` does for the lane's FOLLOWING message (its delivery, row and
    facts), in one committed statement on CONNECTION (psycopg, no transaction open); READ runs
    a sequence's stop check, when one is needed, in a transaction of its own."""
    facts = None if following is None else following[2]
    keys = None if following is None or facts is None else recheck_keys(*following[:2], facts)
    event = sent_event_row(delivery, row, message_id, now)
    fresh = outbox.settle_sent(connection, int(row["id"]), settled_at=now,
                               detail=result.detail[:500], message_id=message_id,
                               provider_id=result.provider_id, event=event,
                               recheck_next=keys)  # fmt: skip
    if following is None:
        return None
    if facts is None or fresh is None:
        return Check("skip", reason="contact_erased")
    upcoming, next_row = following[0], following[1]
    decided = judge(upcoming, next_row, facts, fresh, now)
    if decided.action == "send" and needs_stop_check(upcoming, next_row):
        return read(partial(stop_check, delivery=upcoming, row=next_row, decided=decided))
    return decided


def has_next_step(delivery: Delivery, row: Mapping[str, Any]) -> bool:
    """Whether ROW's sequence has a step after it."""
    return int(row["step"]) + 1 < len(delivery.campaign.steps)


def _next_step(session: Session, delivery: Delivery, row: Mapping[str, Any], now: datetime) -> None:
    step = int(row["step"]) + 1
    steps = delivery.campaign.steps
    if step >= len(steps):
        return
    outbox.add_next_step(
        session,
        {
            "campaign_id": row["campaign_id"],
            "contact_id": row["contact_id"],
            "channel": row["channel"],
            "step": step,
            "status": "pending",
            "due_at": now + timedelta(seconds=int(steps[step]["delay_s"])),
            "attempts": 0,
            "created_at": now,
        },
    )


def record(
    session: Session,
    delivery: Delivery,
    row: Mapping[str, Any],
    *,
    result: SendResult,
    message_id: str | None,
    now: datetime,
) -> str:
    """Settle a message the channel answered for; returns its outcome."""
    outbox_id, detail = int(row["id"]), result.detail[:500]
    ids = {"message_id": message_id, "provider_id": result.provider_id, "detail": detail}
    if result.status == "sent":
        outbox.settle(session, outbox_id, status="sent", settled_at=now, **ids)
        _event(session, delivery, row, "sent", now=now, message_id=message_id)
        _next_step(session, delivery, row, now)
        return "sent"
    if result.status == "ambiguous":
        outbox.settle(session, outbox_id, status="ambiguous", reason="no_final_answer",
                      settled_at=now, **ids)  # fmt: skip
        return "ambiguous"
    if result.detail.startswith("render: "):
        outbox.settle(session, outbox_id, status="failed", reason="render", settled_at=now, **ids)
        return "failed"
    if result.status == "hard_bounce" and result.about_recipient:
        _bounce(session, delivery, row, "hard_bounce", now)
        outbox.settle(session, outbox_id, status="bounced", reason="hard_bounce", settled_at=now,
                      **ids)  # fmt: skip
        return "bounced"
    if result.status == "hard_bounce":
        return _refused_by_service(session, row, result, now)
    return _soft_failure(session, delivery, row, result, now)


def _refused_by_service(
    session: Session, row: Mapping[str, Any], result: SendResult, now: datetime
) -> str:
    """A permanent refusal that is not about the person (our sender refused, the gateway's key
    wrong): retried with back-off while someone fixes the settings, then failed; nobody is
    suppressed for it."""
    outbox_id, attempts = int(row["id"]), int(row["attempts"])
    if attempts >= SOFT_FAILURE_LIMIT:
        outbox.settle(session, outbox_id, status="failed", reason="refused_by_server",
                      settled_at=now, detail=result.detail[:500])  # fmt: skip
        return "failed"
    outbox.retry_later(
        session, outbox_id, due_at=now + backoff(attempts), detail=result.detail[:500]
    )
    return "retried"


def _bounce(
    session: Session, delivery: Delivery, row: Mapping[str, Any], reason: str, now: datetime
) -> None:
    channel = delivery.campaign.channel
    kind = "email" if channel == "email" else "phone"
    # Only the address that bounced: the person's other identifiers stay reachable.
    suppress_contact(
        session, int(row["contact_id"]), [channel], reason=reason, source="bounce", now=now,
        kinds=(kind,),
    )  # fmt: skip
    _event(session, delivery, row, "bounced", now=now, kind=reason)


def _soft_failure(
    session: Session, delivery: Delivery, row: Mapping[str, Any], result: SendResult, now: datetime
) -> str:
    outbox_id, attempts = int(row["id"]), int(row["attempts"])
    if not result.about_recipient:
        # The server could not be reached or is busy: not this message's fault, so no attempt
        # is spent.
        outbox.release(session, [outbox_id], now + backoff(1))
        return "server_down"
    if attempts >= SOFT_FAILURE_LIMIT:
        _bounce(session, delivery, row, "soft_bounce_limit", now)
        outbox.settle(session, outbox_id, status="failed", reason="soft_bounce_limit",
                      settled_at=now, detail=result.detail[:500])  # fmt: skip
        return "failed"
    outbox.retry_later(
        session, outbox_id, due_at=now + backoff(attempts), detail=result.detail[:500]
    )
    return "retried"
