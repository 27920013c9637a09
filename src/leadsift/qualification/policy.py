"""The interest side of a playbook: which leads become qualified prospects, which buyers become
customers, which silent leads are recycled, and why; pure.

- **qualify**: a lead (or a contact recycled for lack of interest) whose `qualify` expression
  holds becomes `qualified`, reason `hand_raiser` when it raised its hand (a form, a call-back
  request, a reply) within the hand-raiser window, else `interest_threshold`.
- **convert**: a purchase (or a redeemed promo code) makes a lead, qualified or unqualified
  contact a `customer` (through `qualified` when it was not one yet).
- **recycle**: a lead for longer than `recycle_after` with no event earning interest points in
  that time becomes `unqualified` (`no_interest`). Only the bulk run (`leadsift score`) recycles:
  an arriving event is interest, never its absence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from leadsift.criteria import Criteria, FieldRegistry, compile_criteria
from leadsift.interest.decay import InterestBreakdown, InterestModel, compile_interest
from leadsift.kit.durations import format_duration, parse_duration
from leadsift.qualification.stages import Stage

# A person saying "interested" on a call raises a hand as surely as a form or a reply.
HAND_RAISER_EVENTS: Final = (
    "callback_requested",
    "call_interested",
    "email_replied",
    "form_submitted",
    "sms_replied",
)
# Event type -> the reason code of the move to customer.
CONVERSION_EVENTS: Final = {"purchase": "purchase", "promo_redeemed": "promo_redeemed"}
# Without `recycle_after`, a hand raised in the last 30 days makes a `hand_raiser`.
DEFAULT_HAND_RAISER_WINDOW: Final = timedelta(days=30)
# Unqualified contacts the qualify policy re-qualifies: those that fit but showed no interest.
REQUALIFIED_REASONS: Final = ("no_interest", "recycled")
PROMOTED_STAGES: Final = (Stage.LEAD.value, Stage.UNQUALIFIED.value)
CONVERTED_STAGES: Final = (Stage.LEAD.value, Stage.QUALIFIED.value, Stage.UNQUALIFIED.value)


@dataclass(frozen=True)
class CompiledPolicy:
    """A playbook version's interest rules, qualify policy and recycle delay, checked."""

    version_id: int | None
    actor: str
    interest: InterestModel | None
    qualify: Criteria | None
    recycle_after: timedelta | None

    @property
    def hand_raiser_window(self) -> timedelta:
        """How recent a hand raised must be to make the reason `hand_raiser`."""
        return self.recycle_after or DEFAULT_HAND_RAISER_WINDOW


# Before any playbook is applied, buyers still become customers (a purchase is a purchase);
# nothing else moves. Its moves are the system's.
NO_PLAYBOOK: Final = CompiledPolicy(
    version_id=None, actor="system", interest=None, qualify=None, recycle_after=None
)


def compile_policy(
    document: Mapping[str, Any],
    *,
    version_id: int,
    actor: str,
    events: FieldRegistry,
    contacts: FieldRegistry,
) -> CompiledPolicy:
    """Check the interest section and the qualify policy of a canonical playbook document."""
    recycle = document.get("recycle_after")
    qualify = document.get("qualify")
    return CompiledPolicy(
        version_id=version_id,
        actor=actor,
        interest=compile_interest(document.get("interest"), events),
        qualify=compile_criteria(qualify, contacts) if qualify else None,
        recycle_after=parse_duration(recycle) if isinstance(recycle, str) else None,
    )


@dataclass(frozen=True)
class Move:
    """One stage change decided by the policy, with its explanation."""

    contact_id: int
    source: Stage
    target: Stage
    reason: str
    explanation: dict[str, Any]


def event_json(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as an explanation names it."""
    return {
        "event_id": event["id"],
        "type": event["type"],
        "occurred_at": event["occurred_at"].isoformat(),
        **({"campaign": event["campaign"]} if event.get("campaign") else {}),
    }


def promotion(
    policy: CompiledPolicy,
    contact: Mapping[str, Any],
    reason: str,
    interest: InterestBreakdown | None,
    hand_raisers: Sequence[Mapping[str, Any]],
) -> Move:
    """The move to `qualified`: the policy, the fit, the interest rule by rule with the events
    and their decayed contributions, and the hands raised."""
    explanation: dict[str, Any] = {
        "policy": policy.qualify.text if policy.qualify is not None else None,
        "fit": contact.get("fit"),
        "interest": interest.as_json() if interest is not None else None,
        "hand_raisers": [event_json(event) for event in hand_raisers],
    }
    source = Stage(contact["stage"])
    return Move(contact["id"], source, Stage.QUALIFIED, reason, explanation)


def conversion(contact: Mapping[str, Any], event: Mapping[str, Any]) -> list[Move]:
    """The moves of a buyer to `customer` (through `qualified` when it was not one yet)."""
    reason = CONVERSION_EVENTS[event["type"]]
    if (event.get("properties") or {}).get("promo_code"):
        # A redemption is a purchase that carries its code (outreach's `promo redeem`).
        reason = "promo_redeemed"
    explanation = {"event": event_json(event), "amount": _amount(event)}
    moves = []
    source = Stage(contact["stage"])
    if source != Stage.QUALIFIED:
        moves.append(Move(contact["id"], source, Stage.QUALIFIED, "hand_raiser", explanation))
    moves.append(Move(contact["id"], Stage.QUALIFIED, Stage.CUSTOMER, reason, explanation))
    return moves


def _amount(event: Mapping[str, Any]) -> Any:
    properties = event.get("properties") or {}
    return properties.get("amount", properties.get("revenue"))


def recycles(
    policy: CompiledPolicy, contacts: Sequence[Mapping[str, Any]], now: datetime
) -> list[Move]:
    """The moves of silent leads to `unqualified`, with what they share formatted once
    (`format_duration` per lead cost 0.4 s per 100,000)."""
    if not contacts:
        return []
    assert policy.recycle_after is not None  # noqa: S101 — only called when it is set
    after = format_duration(policy.recycle_after)
    since = (now - policy.recycle_after).isoformat()
    moves = []
    for contact in contacts:
        changed_at = contact.get("stage_changed_at")
        explanation = {
            "recycle_after": after,
            "lead_since": changed_at.isoformat() if changed_at else None,
            "no_interest_since": since,
        }
        moves.append(Move(contact["id"], Stage.LEAD, Stage.UNQUALIFIED, "no_interest", explanation))
    return moves
