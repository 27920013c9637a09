"""What webhooks send and return: event types, the body, which URLs may receive, the retry
schedule (pure rules), and the views of endpoints, deliveries and a run."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from leadsift.errors import InvalidInputError

# Short names (the CLI's --events) → the event types receivers see.
EVENT_TYPES: Final = {
    "stage_changed": "contact.stage_changed",
    "qualified": "contact.qualified",
    "customer": "contact.customer",
    "score_crossed": "contact.score_crossed",
    "code_redeemed": "promo_code.redeemed",
}
PING: Final = "ping"
SCORE_CROSSED: Final = EVENT_TYPES["score_crossed"]
# Scores a threshold may watch, and the range of their values.
SCORE_FIELDS: Final = {"interest": (-math.inf, math.inf), "probability": (0.0, 1.0)}
STATUSES: Final = ("pending", "failed", "delivered", "gave_up")

# Retries: the wait after attempt n is 1 min × 3^(n−1), at most 6 h, up to 20 % shorter at
# random (receivers coming back are not hit by every sender at once); after the 8th attempt,
# give up. The attempts spread over about 12 hours: 0, 1, 4, 13, 40 min, 2 h, 6 h, 12 h.
MAX_ATTEMPTS: Final = 8
_FIRST_WAIT: Final = timedelta(minutes=1)
_LONGEST_WAIT: Final = timedelta(hours=6)
_JITTER: Final = 0.2
_THRESHOLD = re.compile(r"^\s*([a-z_]+)\s*>=\s*([-+]?[0-9]*\.?[0-9]+)\s*$")
_MAX_URL: Final = 2000


def parse_events(text: str) -> list[str]:
    """Event types from a comma-separated list of short names or types, in a stable order."""
    known = {**EVENT_TYPES, **{full: full for full in EVENT_TYPES.values()}}
    chosen: set[str] = set()
    for word in (part.strip().lower() for part in text.split(",")):
        if not word:
            continue
        if word not in known:
            names = ", ".join(EVENT_TYPES)
            raise InvalidInputError(f"--events: unknown event {word!r}; choose among {names}")
        chosen.add(known[word])
    if not chosen:
        raise InvalidInputError(f"--events: name at least one of {', '.join(EVENT_TYPES)}")
    return [full for full in EVENT_TYPES.values() if full in chosen]


def parse_threshold(text: str) -> tuple[str, float]:
    """A score threshold such as `interest>=60` or `probability>=0.3`: (field, value)."""
    found = _THRESHOLD.match(text)
    example = "give e.g. 'interest>=60' or 'probability>=0.3'"
    if found is None:
        raise InvalidInputError(f"--threshold {text!r}: {example}")
    field, value = found.group(1), float(found.group(2))
    if field not in SCORE_FIELDS:
        names = ", ".join(SCORE_FIELDS)
        raise InvalidInputError(f"--threshold {text!r}: scores are {names}; {example}")
    low, high = SCORE_FIELDS[field]
    if not low <= value <= high:
        raise InvalidInputError(f"--threshold {text!r}: {field} lies between {low} and {high}")
    return field, value


def threshold_text(field: str | None, value: float | None) -> str | None:
    """A threshold as the user wrote it (`interest>=60`), None when there is none."""
    if field is None or value is None:
        return None
    return f"{field}>={value:g}"


def check_url(url: str) -> str:
    """URL if deliveries may go there: http(s), a host, no credentials, no blanks."""
    url = url.strip()
    bad = any(char.isspace() or not char.isprintable() for char in url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        bad = True
    else:
        bad = bad or parts.scheme not in ("http", "https") or not parts.hostname
    if bad or len(url) > _MAX_URL:
        raise InvalidInputError(
            f"webhook URL {url[:100]!r}: give an http(s) URL such as "
            "https://crm.example.com/hooks/leadsift (at most 2000 characters)"
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidInputError(
            "webhook URL: credentials in the URL would be stored and logged; the receiver "
            "checks the Leadsift-Signature header instead"
        )
    return url


def retry_wait(attempt: int, jitter: float) -> timedelta | None:
    """The wait after failed attempt ATTEMPT (1-based), JITTER in [0, 1) shortening it by up
    to 20 %; None when it was the last attempt (give up)."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter lies in [0, 1), got {jitter}")
    if attempt >= MAX_ATTEMPTS:
        return None
    # 3^7 minutes is past the cap already: no larger power is ever computed.
    wait = min(_FIRST_WAIT * int(3 ** min(attempt - 1, 7)), _LONGEST_WAIT)
    return wait * (1.0 - _JITTER * jitter)


def occurred_text(moment: datetime) -> str:
    """A time as receivers get it: ISO 8601 in UTC with a Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def body(event_key: str, event_type: str, occurred_at: datetime, data: dict[str, Any]) -> bytes:
    """The JSON document POSTed: the same bytes on every attempt (keys sorted, compact)."""
    document = {
        "id": event_key,
        "type": event_type,
        "occurred_at": occurred_text(occurred_at),
        "data": data,
    }
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


class EndpointView(BaseModel):
    """A webhook endpoint as listed (never its secret)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    events: list[str]
    threshold: str | None = None
    description: str | None = None
    created_at: datetime
    disabled_at: datetime | None = None


class CreatedEndpoint(EndpointView):
    """A new endpoint: the only time its signing secret is shown."""

    secret: str


class DeliveryView(BaseModel):
    """One delivery: the event, where it stands, and its last attempt."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    endpoint_id: int
    event_type: str
    event_key: str
    occurred_at: datetime
    status: str
    attempts: int
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    created_at: datetime
    delivered_at: datetime | None = None


class RunSummary(BaseModel):
    """One pass: deliveries derived from the logs (per event type), and what sending did."""

    derived: dict[str, int]
    delivered: int = 0
    failed: int = 0
    gave_up: int = 0
    # Left for a later pass without an attempt: their endpoint failed earlier in this pass.
    postponed: int = 0
