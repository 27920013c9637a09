"""May this message be sent? The consent gate of every outreach send, French rules by default;
pure.

Checks run in a fixed order. Refusals first: no address, a suppressed identifier, a withdrawn
consent (an objection always wins, whatever the audience, the channel or past purchases). Then
allowances: a recorded opt-in, the existing-customer exception ("soft opt-in"), no objection
where the law asks for none (B2B outside ad audiences, B2C phone before recorded consent became
mandatory). Anything else is refused, and the refusal says what would allow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

CHANNELS: Final = ("email", "sms", "phone", "ad_audience")
AUDIENCES: Final = ("b2c", "b2b")
# French law counts calendar days where the person lives; the default audience is in France.
LEGAL_TIME_ZONE: Final = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class GatePolicy:
    """Which channels need prior opt-in, and the exceptions (French defaults; configurable)."""

    opt_in_b2c: frozenset[str] = frozenset({"email", "sms", "ad_audience"})
    opt_in_b2b: frozenset[str] = frozenset({"ad_audience"})
    # B2C phone canvassing needs recorded consent from this date (French law of 30 June 2025);
    # before it, phone is opt-out (allowed unless the person objected).
    phone_opt_in_from: date = date(2026, 8, 11)
    # The existing-customer ("soft opt-in") exception: only after a real purchase, only on these
    # channels, only while the last purchase is recent enough, and never after an objection.
    customer_exception_channels: frozenset[str] = frozenset({"email", "sms"})
    customer_exception_days: int = 3 * 365


FRENCH_DEFAULTS: Final = GatePolicy()


@dataclass(frozen=True)
class Recipient:
    """What the gate needs to know about one person on one channel."""

    channel: str  # one of CHANNELS
    audience: str  # "b2c" | "b2b"
    has_address: bool  # an email for email, a phone for sms/phone, either for ad_audience
    # The latest consent word for this channel and purpose; None = never stated.
    consent: bool | None
    # The suppression reason when an identifier is suppressed ("unsubscribed", "hard_bounce",
    # "soft_bounce_limit", "stop", "erased", "complaint"), else None.
    suppressed: str | None
    # The last real purchase (purchase / promo redemption event), not the stage.
    last_purchase_at: datetime | None


@dataclass(frozen=True)
class GateDecision:
    """The verdict: allowed or not, a stable reason code and one English sentence saying why."""

    allowed: bool
    reason: str
    message: str


def _check_arguments(recipient: Recipient, now: datetime) -> None:
    if recipient.channel not in CHANNELS:
        raise ValueError(f"unknown channel {recipient.channel!r}: expected one of {CHANNELS}")
    if recipient.audience not in AUDIENCES:
        raise ValueError(f"unknown audience {recipient.audience!r}: expected one of {AUDIENCES}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


def _refusal(recipient: Recipient) -> GateDecision | None:
    """The refusals no consent or purchase can override."""
    channel = recipient.channel
    if not recipient.has_address:
        return GateDecision(
            False, "no_address", f"The contact has no address usable for {channel}; add one first."
        )
    if recipient.suppressed is not None:
        return GateDecision(
            False,
            "suppressed",
            f"The contact's identifier is on the suppression list ({recipient.suppressed}); "
            "it stays blocked until removed from the list (a new explicit opt-in, or a "
            "corrected address after a bounce).",
        )
    if recipient.consent is False:
        return GateDecision(
            False,
            "withdrawn",
            f"The contact objected to {channel} marketing; only a new opt-in would allow it.",
        )
    return None


def _recent_purchase(recipient: Recipient, now: datetime, policy: GatePolicy) -> bool:
    bought = recipient.last_purchase_at
    if bought is None or bought > now:
        return False
    return now - bought <= timedelta(days=policy.customer_exception_days)


def _phone_opt_in_due(now: datetime, policy: GatePolicy) -> bool:
    return now.astimezone(LEGAL_TIME_ZONE).date() >= policy.phone_opt_in_from


def _b2c_opt_out_allowed(recipient: Recipient, now: datetime, policy: GatePolicy) -> bool:
    """A B2C channel where silence is enough: not an opt-in channel, and phone before the date."""
    if recipient.channel in policy.opt_in_b2c:
        return False
    return recipient.channel != "phone" or not _phone_opt_in_due(now, policy)


def _allowance(recipient: Recipient, now: datetime, policy: GatePolicy) -> GateDecision | None:
    """The first ground that allows the send, once no refusal applies (consent is not False)."""
    channel = recipient.channel
    if recipient.consent:
        return GateDecision(True, "opt_in", f"The contact opted in to {channel} marketing.")
    if (
        recipient.audience == "b2c"
        and channel in policy.customer_exception_channels
        and _recent_purchase(recipient, now, policy)
    ):
        return GateDecision(
            True,
            "existing_customer",
            f"The contact bought within the last {policy.customer_exception_days} days and "
            f"never objected, so the existing-customer exception covers {channel}.",
        )
    if recipient.audience == "b2b" and channel not in policy.opt_in_b2b:
        return GateDecision(
            True,
            "b2b_no_objection",
            f"Business contacts may receive {channel} without prior opt-in unless they object.",
        )
    if recipient.audience == "b2c" and _b2c_opt_out_allowed(recipient, now, policy):
        return GateDecision(
            True,
            "no_objection",
            f"{channel.capitalize()} to consumers is allowed unless they object, "
            "and this contact never objected.",
        )
    return None


def _purchase_note(recipient: Recipient, now: datetime, policy: GatePolicy) -> str:
    """Why a purchase on record did not help, if there is one."""
    bought = recipient.last_purchase_at
    if bought is None or recipient.audience != "b2c":
        return ""
    if bought > now:
        return " The recorded purchase is dated in the future, so it does not count."
    if recipient.channel not in policy.customer_exception_channels:
        return f" The existing-customer exception does not cover {recipient.channel}."
    return (
        f" The last purchase ({bought.date().isoformat()}) is older than "
        f"{policy.customer_exception_days} days, too old for the existing-customer exception."
    )


def _final_refusal(recipient: Recipient, now: datetime, policy: GatePolicy) -> GateDecision:
    """The refusal when no ground allows the send."""
    channel = recipient.channel
    if recipient.audience == "b2c" and channel == "phone" and channel not in policy.opt_in_b2c:
        return GateDecision(
            False,
            "phone_consent_required",
            "Phone canvassing of consumers needs recorded consent from "
            f"{policy.phone_opt_in_from.isoformat()}; record the contact's consent to calls first.",
        )
    return GateDecision(
        False,
        "no_opt_in",
        f"{channel.capitalize()} marketing to {recipient.audience.upper()} contacts needs prior "
        f"opt-in, and this contact has not opted in to {channel}."
        + _purchase_note(recipient, now, policy),
    )


def decide(
    recipient: Recipient, now: datetime, policy: GatePolicy = FRENCH_DEFAULTS
) -> GateDecision:
    """Whether a marketing message may go to RECIPIENT at NOW, with the reason."""
    _check_arguments(recipient, now)
    return (
        _refusal(recipient)
        or _allowance(recipient, now, policy)
        or _final_refusal(recipient, now, policy)
    )
