"""Outcomes of calls and personal messages: the touch, its events, the stage change a person
made (with its audit entry), in one transaction; services flush."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.access import service as access
from leadsift.access.schemas import Caller
from leadsift.agents import call_repository as sql
from leadsift.agents import calling
from leadsift.agents.calls import calling_policy, check_callable, rules_of, visible_contact
from leadsift.agents.models import Touch
from leadsift.agents.schemas import LoggedCall
from leadsift.agents.service import after_events
from leadsift.contacts.models import Contact
from leadsift.engagement.service import record_for_contacts
from leadsift.errors import InvalidInputError
from leadsift.qualification import service as qualification
from leadsift.qualification.stages import Stage, allowed_reasons

OUTCOMES: Final = ("no_answer", "callback", "interested", "not_interested", "sale", "wrong_number")
LOST_REASONS: Final = tuple(sorted(allowed_reasons(Stage.QUALIFIED, Stage.LOST)))
MESSAGE_CHANNELS: Final = ("email", "sms")
# Outcomes where nobody was reached (no `call_connected`).
_NOT_REACHED: Final = ("no_answer", "wrong_number")


def check_outcome(outcome: str) -> str:
    """An outcome from its name, or an error listing the outcomes."""
    name = outcome.strip().lower()
    if name not in OUTCOMES:
        raise InvalidInputError(
            f"unknown outcome {outcome!r}; outcomes are {', '.join(OUTCOMES)}; nothing was recorded"
        )
    return name


def _check_details(
    outcome: str,
    reason: str | None,
    callback_at: datetime | None,
    amount: float | None,
    now: datetime,
) -> str | None:
    """The reason of a refusal (lost reason), after checking each outcome's own options."""
    if outcome == "callback":
        if callback_at is None:
            raise InvalidInputError("--outcome callback needs --at: when to call back")
        if callback_at <= now:
            raise InvalidInputError("--at: a call-back must be in the future")
    elif callback_at is not None:
        raise InvalidInputError("--at is only for --outcome callback")
    if outcome == "sale" and amount is None:
        raise InvalidInputError("--outcome sale needs --amount: what the customer bought for")
    if amount is not None and (outcome != "sale" or not math.isfinite(amount) or amount < 0):
        raise InvalidInputError("--amount is a sale's amount, 0 or more, with --outcome sale")
    if outcome == "not_interested":
        chosen = (reason or "not_interested").strip().lower()
        if chosen not in LOST_REASONS:
            raise InvalidInputError(
                f"--reason {reason!r}: a refusal's reason is one of {', '.join(LOST_REASONS)}"
            )
        return chosen
    if reason is not None:
        raise InvalidInputError("--reason is only for --outcome not_interested")
    return None


def _in_window(moment: datetime, what: str, rules: calling.CallingRules) -> None:
    closed = calling.window_exclusion(moment, rules)
    if closed is not None:
        raise InvalidInputError(f"{what}: {closed.message.rstrip('.')}; nothing was recorded")


def _events(touch: Touch, caller: Caller, now: datetime) -> list[dict[str, Any]]:
    properties: dict[str, Any] = {"outcome": touch.outcome, "agent_id": caller.user_id}
    if touch.reason:
        properties["reason"] = touch.reason
    events: list[tuple[str, dict[str, Any]]] = [("call_attempted", properties)]
    if touch.outcome not in _NOT_REACHED:
        events.append(("call_connected", {"agent_id": caller.user_id}))
    agent = {"agent_id": caller.user_id}
    follow_ups: dict[str, tuple[str, dict[str, Any]]] = {
        "interested": ("call_interested", agent),
        "callback": ("callback_requested", {**agent, "via": "call"}),
        "sale": ("purchase", {**agent, "amount": touch.amount}),
    }
    follow_up = follow_ups.get(touch.outcome)
    if follow_up is not None:
        events.append(follow_up)
    return [
        {
            "type": kind,
            "occurred_at": now,
            "properties": props,
            "source": "agent",
            "idempotency_key": f"touch:{touch.id}:{kind}",
        }
        for kind, props in events
    ]


def _state_after(touch: Touch, contact: Contact) -> dict[str, Any]:
    state: dict[str, Any] = {"last_attempt_at": touch.at, "callback_at": touch.callback_at}
    if touch.outcome == "not_interested":
        state["last_refusal_at"] = touch.at
    if touch.outcome == "wrong_number":
        state["wrong_phone"] = contact.phone
    return state


def log_call(
    session: Session,
    agent: str,
    ref: str,
    outcome: str,
    *,
    now: datetime,
    reason: str | None = None,
    callback_at: datetime | None = None,
    amount: float | None = None,
    region: str = "FR",
) -> LoggedCall:
    """Record a call an agent made to one of their prospects, and what follows from it."""
    outcome = check_outcome(outcome)
    caller = access.as_user(session, agent)
    contact = visible_contact(session, caller, ref, region)
    if contact.stage != Stage.QUALIFIED.value:
        raise InvalidInputError(
            f"contact {contact.id} is {contact.stage}, not a qualified prospect: calls are "
            "logged on qualified prospects; nothing was recorded"
        )
    lost_reason = _check_details(outcome, reason, callback_at, amount, now)
    policy = calling_policy(session)[0]
    rules = rules_of(policy)
    _in_window(now, "a call cannot be logged now", rules)
    if callback_at is not None:
        _in_window(callback_at, "--at is outside the calling hours", rules)
    check_callable(session, caller, contact.id, now, policy)
    assert caller.user_id is not None  # noqa: S101 — a user's caller has their id
    touch = sql.add_touch(
        session,
        Touch(
            contact_id=contact.id, user_id=caller.user_id, channel="phone", outcome=outcome,
            reason=lost_reason, callback_at=callback_at, amount=amount, at=now,
        ),
    )  # fmt: skip
    sql.save_call_state(session, contact.id, _state_after(touch, contact))
    events = _events(touch, caller, now)
    record_for_contacts(session, [(contact.id, event) for event in events], now=now)
    change = _stage_change(session, caller, contact, (outcome, lost_reason), region)
    after_events(session, {contact.id}, now)
    session.flush()
    return LoggedCall(
        touch_id=touch.id, contact_id=contact.id, agent=agent, outcome=outcome,
        reason=lost_reason, callback_at=callback_at, amount=amount, stage=contact.stage,
        stage_change=change, events=[event["type"] for event in events], at=now,
    )  # fmt: skip


def _stage_change(
    session: Session,
    caller: Caller,
    contact: Contact,
    decided: tuple[str, str | None],
    region: str,
) -> dict[str, Any] | None:
    """not_interested → lost (with its reason), sale → customer (won); others keep the stage."""
    outcome, lost_reason = decided
    if outcome == "not_interested":
        target, reason = Stage.LOST, lost_reason or "not_interested"
    elif outcome == "sale":
        target, reason = Stage.CUSTOMER, "won"
    else:
        return None
    change = qualification.set_stage(
        session, str(contact.id), target, reason, actor=caller.actor, region=region,
        caller=caller,
    )  # fmt: skip
    session.refresh(contact)
    return change.model_dump(mode="json")


def log_message(
    session: Session, agent: str, ref: str, channel: str, *, now: datetime, region: str = "FR"
) -> LoggedCall:
    """Record an email or SMS an agent sent a prospect themselves (a touch for speed to lead)."""
    if channel not in MESSAGE_CHANNELS:
        raise InvalidInputError(f"--channel {channel!r}: a personal message is email or sms")
    caller = access.as_user(session, agent)
    contact = visible_contact(session, caller, ref, region)
    assert caller.user_id is not None  # noqa: S101 — a user's caller has their id
    touch = sql.add_touch(
        session,
        Touch(
            contact_id=contact.id, user_id=caller.user_id, channel=channel, outcome="sent", at=now
        ),
    )
    event = {
        "type": f"{channel}_sent",
        "occurred_at": now,
        "properties": {"agent_id": caller.user_id, "personal": True},
        "source": "agent",
        "idempotency_key": f"touch:{touch.id}:{channel}_sent",
    }
    record_for_contacts(session, [(contact.id, event)], now=now)
    session.flush()
    return LoggedCall(
        touch_id=touch.id, contact_id=contact.id, agent=agent, outcome="sent",
        stage=contact.stage, events=[event["type"]], at=now,
    )  # fmt: skip
