"""One claimed message, from the last check to its settlement: gate, sequence stops, render,
send, and what the channel's answer means (sent, bounced, retried, failed, ambiguous).
Flushes; the worker commits after each message."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from leadsift.engagement.service import record_for_contacts
from leadsift.errors import InvalidInputError
from leadsift.outreach import outbox_repository as outbox
from leadsift.outreach.channels.base import EmailChannel, SendResult, SmsChannel
from leadsift.outreach.consent import own_suppressions, suppress_contact
from leadsift.outreach.messages import Composer
from leadsift.outreach.models import Campaign
from leadsift.outreach.preparation import decide_row
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


def _verdict(session: Session, delivery: Delivery, facts: Mapping[str, Any], now: datetime) -> Any:
    channel = delivery.campaign.channel
    row = (facts["id"], facts["email"], facts["phone"], facts["consent"],
           facts["last_purchase_at"])  # fmt: skip
    return decide_row(
        row,
        channel=channel,
        audience=delivery.campaign.audience,
        secret=delivery.suppression_secret,
        suppressed=own_suppressions(
            session, facts["email"], facts["phone"], channel, secret=delivery.suppression_secret
        ),
        now=now,
    )


def _settle(session: Session, outbox_id: int, now: datetime, **values: Any) -> None:
    outbox.settle(session, outbox_id, settled_at=now, **values)


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


def _stopped(session: Session, delivery: Delivery, row: Mapping[str, Any]) -> str | None:
    if int(row["step"]) == 0 or delivery.campaign.scheduled_at is None:
        return None
    return outbox.stop_events_since(
        session, int(row["contact_id"]), SEQUENCE_STOPS, delivery.campaign.scheduled_at
    )


def _next_step(session: Session, delivery: Delivery, row: Mapping[str, Any], now: datetime) -> None:
    step = int(row["step"]) + 1
    steps = delivery.campaign.steps
    if step >= len(steps):
        return
    due = now + timedelta(seconds=int(steps[step]["delay_s"]))
    outbox.add_next_step(
        session,
        {
            "campaign_id": row["campaign_id"],
            "contact_id": row["contact_id"],
            "channel": row["channel"],
            "step": step,
            "status": "pending",
            "due_at": due,
            "attempts": 0,
            "created_at": now,
        },
    )


def _send(
    delivery: Delivery,
    row: Mapping[str, Any],
    facts: Mapping[str, Any],
    code: str | None,
    channel: EmailChannel | SmsChannel,
) -> tuple[SendResult, str | None]:
    composer, outbox_id, step = delivery.composer, int(row["id"]), int(row["step"])
    if isinstance(channel, EmailChannel):
        email = composer.email(outbox_id, facts, step, code)
        return channel.send(email), email.message_id
    return channel.send(composer.sms(outbox_id, facts, step, code)), None


def deliver(
    session: Session,
    delivery: Delivery,
    row: Mapping[str, Any],
    *,
    code: str | None,
    channel: EmailChannel | SmsChannel,
    clock: Callable[[], datetime],
) -> str:
    """Check, send and settle one claimed message; returns its outcome."""
    outbox_id, now = int(row["id"]), clock()
    facts = outbox.send_facts(
        session, int(row["contact_id"]), delivery.campaign.channel, delivery.campaign.id
    )
    if facts is None:
        _settle(session, outbox_id, now, status="skipped", reason="contact_erased")
        return "skipped"
    if facts["campaign_status"] != "scheduled":
        outbox.release(session, [outbox_id])
        return "released"
    verdict = _verdict(session, delivery, facts, now)
    if not verdict.allowed:
        _settle(session, outbox_id, now, status="skipped", reason=verdict.reason)
        return "skipped"
    stop = _stopped(session, delivery, row)
    if stop is not None:
        _settle(session, outbox_id, now, status="stopped", reason=stop)
        return "stopped"
    try:
        result, message_id = _send(delivery, row, facts, code, channel)
    except InvalidInputError as exc:
        _settle(session, outbox_id, now, status="failed", reason="render", detail=exc.message[:500])
        return "failed"
    return _record(session, delivery, row, result=result, message_id=message_id, now=clock())


def _record(
    session: Session,
    delivery: Delivery,
    row: Mapping[str, Any],
    *,
    result: SendResult,
    message_id: str | None,
    now: datetime,
) -> str:
    outbox_id, detail = int(row["id"]), result.detail[:500]
    ids = {"message_id": message_id, "provider_id": result.provider_id, "detail": detail}
    if result.status == "sent":
        _settle(session, outbox_id, now, status="sent", reason=None, **ids)
        _event(session, delivery, row, "sent", now=now, message_id=message_id)
        _next_step(session, delivery, row, now)
        return "sent"
    if result.status == "ambiguous":
        _settle(session, outbox_id, now, status="ambiguous", reason="no_final_answer", **ids)
        return "ambiguous"
    if result.status == "hard_bounce":
        _bounce(session, delivery, row, "hard_bounce", now)
        _settle(session, outbox_id, now, status="bounced", reason="hard_bounce", **ids)
        return "bounced"
    return _soft_failure(session, delivery, row, result, now)


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
    recipient_refused = result.detail[:1] == "4"
    if not recipient_refused:
        # The server could not be reached: not this message's fault, so no attempt is spent.
        outbox.release(session, [outbox_id], now + backoff(1))
        return "server_down"
    if attempts >= SOFT_FAILURE_LIMIT:
        _bounce(session, delivery, row, "soft_bounce_limit", now)
        _settle(session, outbox_id, now, status="failed", reason="soft_bounce_limit",
                detail=result.detail[:500])  # fmt: skip
        return "failed"
    outbox.settle(
        session, outbox_id, status="pending", claimed_at=None, due_at=now + backoff(attempts),
        detail=result.detail[:500],
    )  # fmt: skip
    return "retried"
