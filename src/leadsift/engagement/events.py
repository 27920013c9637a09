"""From an event as sent to an event ready to store, or the reason it is refused; pure.

Each event is checked on its own (a bad one never spoils its batch). The same event sent twice
gets the same 128-bit dedup key: from the sender's idempotency key when given, else from what
the event says; the payload hash tells a genuine re-send from a key reused for another event.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from leadsift.contacts.validators import normalise_email, normalise_phone
from leadsift.engagement.criteria_fields import EXTRA_FIELDS
from leadsift.engagement.event_fields import validated_fields
from leadsift.engagement.schemas import EventIn, ItemError

MAX_PROPERTIES_BYTES: Final = 16_384
_EVENT: Final = TypeAdapter(EventIn)
# Bulk events name the same people again and again: each address is normalised once (both
# functions are pure; the caches are bounded).
_normalised_email: Final = lru_cache(maxsize=1 << 17)(normalise_email)
_normalised_phone: Final = lru_cache(maxsize=1 << 16)(normalise_phone)
# json.dumps(properties, sort_keys=True, ensure_ascii=False), without an encoder per call.
# allow_nan=False: Infinity and NaN are not JSON (PostgreSQL's jsonb refuses them).
_properties_json: Final = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, allow_nan=False
).encode
_NONE: Final = (None,) * len(EXTRA_FIELDS)
_NO_EXTRA: Final = json.dumps(_NONE)


@dataclass(frozen=True, slots=True)
class PreparedEvent:
    """An event checked and normalised, ready to be matched to its contact and stored."""

    index: int
    type: str
    ref_kind: str | None  # contact_id, email, phone, external_id; None for anonymous only
    ref_value: Any
    anonymous_id: str | None
    occurred_at: datetime
    properties: dict[str, Any]
    extra: tuple[str | None, ...]  # EXTRA_FIELDS, in order
    idempotency_key: str | None
    dedup_key: bytes
    payload_hash: bytes

    def reference(self) -> str:
        """The contact reference as the sender gave it (normalised), for messages."""
        if self.ref_kind is None:
            return f"anonymous_id {self.anonymous_id}"
        return f"{self.ref_kind} {self.ref_value}"


def error(index: int, code: str, message: str) -> ItemError:
    """An item error."""
    return ItemError(index=index, code=code, message=message)


def describe_validation(exc: ValidationError) -> str:
    """Pydantic's complaints as one line: `occurred_at: Input should have timezone info`."""
    parts = []
    for detail in exc.errors(include_url=False)[:3]:
        where = ".".join(str(part) for part in detail["loc"])
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _micros(moment: datetime) -> str:
    return str(round(moment.timestamp() * 1_000_000))


def _hash(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()[:16]


def _reference(event: dict[str, Any], region: str) -> tuple[str | None, Any] | None:
    if (contact_id := event.get("contact_id")) is not None:
        return "contact_id", contact_id
    if (email := event.get("email")) is not None:
        email = _normalised_email(email)
        return ("email", email) if email is not None else None
    if (phone := event.get("phone")) is not None:
        phone = _normalised_phone(phone, region)
        return ("phone", phone) if phone is not None else None
    if (external_id := event.get("external_id")) is not None:
        return "external_id", external_id
    return None, None


def _fields(raw: Any, index: int) -> dict[str, Any] | ItemError:
    """The event's fields as EventIn holds them (absent ones may be left out), or its errors."""
    if isinstance(raw, EventIn):
        return raw.__dict__
    fields = validated_fields(raw)  # pydantic-core alone, for events EventIn accepts
    if fields is not None:
        return fields
    try:
        return _EVENT.validate_python(raw).__dict__
    except ValidationError as exc:
        return error(index, "invalid_event", describe_validation(exc))


def _has_nul(*values: Any) -> bool:
    return any(isinstance(value, str) and "\x00" in value for value in values)


def _json_text(properties: dict[str, Any]) -> str:
    return _properties_json(properties) if properties else "{}"


def prepare(
    raw: Any, index: int, *, received_at: datetime, future_tolerance: timedelta, region: str
) -> PreparedEvent | ItemError:
    """Check one raw event (a JSON object) and normalise it; an ItemError says what to fix."""
    event = _fields(raw, index)
    if isinstance(event, ItemError):
        return event
    reference = _reference(event, region)
    if reference is None:
        kind = "email" if event.get("email") is not None else "phone"
        return error(index, f"invalid_{kind}", f"{kind} {event[kind]!r} is not valid")
    ref_kind, ref_value = reference
    sent_at: datetime | None = event.get("occurred_at")
    occurred_at = sent_at or received_at
    problem = _time_problem(index, occurred_at, received_at, future_tolerance)
    if problem is not None:
        return problem
    properties: dict[str, Any] = event.get("properties") or {}
    properties_text = _properties_text(index, properties)
    if isinstance(properties_text, ItemError):
        return properties_text
    extra = tuple(map(event.get, EXTRA_FIELDS))
    key = event.get("idempotency_key")
    if "\\u0000" in properties_text or _has_nul(*extra, key, ref_value):
        # PostgreSQL's text and JSONB cannot hold it: refused here, not by a failed batch.
        return error(index, "invalid_event", "text may not contain the NUL character (\\u0000)")
    # What the sender said (a time it did not give is not part of it, so a retry with the same
    # key is the same event), in whole microseconds: one instant, one text, whatever its zone.
    sent_time = _micros(sent_at) if sent_at is not None else ""
    anonymous_id = event.get("anonymous_id")
    payload = _hash(
        event["type"],
        str(ref_kind),
        str(ref_value),
        anonymous_id or "",
        sent_time,
        properties_text,
        json.dumps(extra) if extra != _NONE else _NO_EXTRA,
    )
    if key is not None:
        dedup = _hash("key", key)
    else:
        # Without a key, an event without a time is new each time it arrives.
        dedup = _hash("payload", payload.hex(), sent_time or f"received {_micros(received_at)}")
    return PreparedEvent(
        index=index,
        type=event["type"],
        ref_kind=ref_kind,
        ref_value=ref_value,
        anonymous_id=anonymous_id,
        occurred_at=occurred_at,
        properties=properties,
        extra=extra,
        idempotency_key=key,
        dedup_key=dedup,
        payload_hash=payload,
    )


def _time_problem(
    index: int, occurred_at: datetime, received_at: datetime, future_tolerance: timedelta
) -> ItemError | None:
    """Why OCCURRED_AT cannot be stored (out of range, in the future), or None."""
    if not _representable(occurred_at):
        return error(
            index, "invalid_time", f"occurred_at {occurred_at.isoformat()} is out of range"
        )
    if occurred_at - received_at > future_tolerance:
        return error(
            index,
            "occurred_in_future",
            f"occurred_at {occurred_at.isoformat()} is in the future (received "
            f"{received_at.isoformat(timespec='seconds')}; check the sender's clock and zone)",
        )
    return None


def _properties_text(index: int, properties: dict[str, Any]) -> str | ItemError:
    """The properties as JSON text, or why they cannot be stored."""
    try:
        text = _json_text(properties)
    except ValueError:
        return error(index, "invalid_properties", "properties: numbers must be finite")
    if len(text) > MAX_PROPERTIES_BYTES:
        return error(
            index,
            "properties_too_large",
            f"properties take {len(text)} bytes; at most {MAX_PROPERTIES_BYTES}",
        )
    return text


def _representable(moment: datetime) -> bool:
    """Whether MOMENT is a real UTC time (year 1 at +14:00 is not: it would fall before 1)."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True
