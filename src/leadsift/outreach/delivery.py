"""One claimed message, in three steps the worker runs in order: `check` (read fresh: the
contact, its consent and suppressions, the campaign's status, a sequence's stop events → send,
skip, stop or put back), `send` (render and hand to the channel: no database), `record` (what
the channel's answer means: sent, bounced, retried, failed, ambiguous). `check` reads in its own
short transaction and `record` writes in another, so no transaction stays open while a message
is on the wire."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from leadsift.engagement.service import record_for_contacts
from leadsift.errors import InvalidInputError
from leadsift.outreach import outbox_repository as outbox
from leadsift.outreach.channels.base import EmailChannel, SendResult, SmsChannel
from leadsift.outreach.consent import identifier_hashes, suppress_contact
from leadsift.outreach.gate import Recipient, decide
from leadsift.outreach.messages import Composer
from leadsift.outreach.models import Campaign
from leadsift.outreach.preparation import CHANNEL_IDENTIFIER, address_of
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
    campaign = delivery.campaign
    if facts is None:
        return Check("skip", reason="contact_erased")
    fresh = outbox.recheck(
        session,
        contact_id=int(row["contact_id"]),
        channel=campaign.channel,
        campaign_id=campaign.id,
        **_channel_hashes(delivery, facts),
    )
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
    if int(row["step"]) > 0 and campaign.scheduled_at is not None:
        stop = outbox.stop_events_since(
            session, int(row["contact_id"]), SEQUENCE_STOPS, campaign.scheduled_at
        )
        if stop is not None:
            return Check("stop", reason=stop)
    return Check("send", facts)


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


def _event(
    session: Session, delivery: Delivery, row: Mapping[str, Any], what: str, *, now: datetime,
    **properties: Any,
) -> None:  # fmt: skip
    prefix = "email" if delivery.campaign.channel == "email" else "sms"
    event = {
        "type": f"{prefix}_{what}",
        "occurred_at": now,
        "campaign": delivery.campaign.key,
        "source": "outbox",
        "properties": {"outbox_id": row["id"], "step": row["step"], **properties},
        "idempotency_key": f"outbox:{row['id']}:{what}",
    }
    record_for_contacts(session, [(int(row["contact_id"]), event)], now=now)


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
