"""Deciding a campaign's recipients: everyone its target selects goes through the gate; the
allowed are split into a random control group (held out, never sent) and the treated (one
outbox row each, due at the campaign's pace). Pure decisions over rows the repository reads."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from leadsift.outreach.gate import GateDecision, Recipient, decide
from leadsift.outreach.identifiers import identifier_hash

# Which stored identifier a channel messages.
CHANNEL_IDENTIFIER = {"email": "email", "sms": "phone", "phone": "phone"}


@dataclass(frozen=True)
class Suppressed:
    """Suppressed hashes: on this channel (the channel's identifier), and on every channel."""

    on_channel: Mapping[str, str]
    everywhere: Mapping[str, str]

    def reason(self, secret: bytes, channel: str, email: Any, phone: Any) -> str | None:
        """Why one of this contact's identifiers is suppressed for CHANNEL, if it is."""
        kind = CHANNEL_IDENTIFIER.get(channel)
        for identifier_kind, value in (("email", email), ("phone", phone)):
            if not value:
                continue
            digest = identifier_hash(secret, identifier_kind, value)  # type: ignore[arg-type]
            found = self.everywhere.get(digest)
            if found is None and (kind is None or kind == identifier_kind):
                found = self.on_channel.get(digest)
            if found is not None:
                return found
        return None


@dataclass
class Decided:
    """What preparation found: rows to write, and the counts its summary reports."""

    treated: int = 0
    control: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[int, str]] = field(default_factory=list)


def in_control(seed: str, contact_id: int, percent: float) -> bool:
    """Whether the contact is held out: a keyed hash of its id below PERCENT, so the draw is
    random across contacts yet the same every time for one campaign."""
    if percent <= 0:
        return False
    digest = hmac.new(seed.encode(), str(contact_id).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < percent / 100


def address_of(channel: str, email: Any, phone: Any) -> Any:
    """The identifier CHANNEL messages (either for an ad audience)."""
    if channel == "email":
        return email
    if channel == "ad_audience":
        return email or phone
    return phone


def decide_row(
    row: Sequence[Any],
    *,
    channel: str,
    audience: str,
    secret: bytes,
    suppressed: Suppressed,
    now: datetime,
) -> GateDecision:
    """The gate's decision for one (id, email, phone, consent, last purchase, …) row."""
    _, email, phone, consent, purchased = row[:5]
    recipient = Recipient(
        channel=channel,
        audience=audience,
        has_address=bool(address_of(channel, email, phone)),
        consent=None if consent is None else bool(consent),
        suppressed=suppressed.reason(secret, channel, email, phone),
        last_purchase_at=purchased,
    )
    return decide(recipient, now)


@dataclass(frozen=True)
class Pace:
    """When the treated rows fall due: from START, at most PER_HOUR an hour (None: at once)."""

    start: datetime
    per_hour: int | None

    def due(self, position: int) -> datetime:
        """The due time of the POSITION-th treated row."""
        if not self.per_hour:
            return self.start
        return self.start + timedelta(seconds=position * 3600 / self.per_hour)


def decide_all(
    parts: Iterable[Sequence[Sequence[Any]]],
    *,
    campaign_id: int,
    channel: str,
    audience: str,
    secret: bytes,
    suppressed: Suppressed,
    control: tuple[str, float],
    pace: Pace,
    now: datetime,
    decided: Decided,
    examples: int = 0,
) -> Iterator[list[tuple[Any, ...]]]:
    """Outbox rows (campaign, contact, channel, 0, status, due, 0, now) part by part; DECIDED
    holds the running counts."""
    seed, percent = control
    for part in parts:
        rows: list[tuple[Any, ...]] = []
        for row in part:
            verdict = decide_row(
                row,
                channel=channel,
                audience=audience,
                secret=secret,
                suppressed=suppressed,
                now=now,
            )
            contact_id = row[0]
            if not verdict.allowed:
                decided.skipped[verdict.reason] += 1
                if len(decided.examples) < examples:
                    decided.examples.append((contact_id, verdict.reason))
            elif in_control(seed, contact_id, percent):
                decided.control += 1
                rows.append((campaign_id, contact_id, channel, 0, "control", now, 0, now))
            else:
                due = pace.due(decided.treated)
                decided.treated += 1
                rows.append((campaign_id, contact_id, channel, 0, "pending", due, 0, now))
        yield rows
