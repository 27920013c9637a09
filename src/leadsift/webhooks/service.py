"""Webhook endpoints (add, list, disable), deliveries derived from the logs after commit, and
the ping a test sends; services flush, entrypoints commit."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from leadsift.access.schemas import Caller
from leadsift.access.service import audit
from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.kit.bulk import is_postgres
from leadsift.webhooks import repository
from leadsift.webhooks.models import WebhookEndpoint
from leadsift.webhooks.schemas import (
    PING,
    SCORE_CROSSED,
    SCORE_FIELDS,
    STATUSES,
    CreatedEndpoint,
    DeliveryView,
    EndpointView,
    check_url,
    parse_events,
    parse_threshold,
    threshold_text,
)
from leadsift.webhooks.signing import new_secret

# On PostgreSQL, ids commit out of order: a cursor moves past a row only once no earlier id can
# still commit (rows written a minute ago); rows past it are read again, and the unique key
# (endpoint, event) makes a second reading derive nothing. Scores have no id: the rows written
# since the previous pass, less this margin, are read.
SETTLE: Final = timedelta(minutes=1)
_LOG_EVENTS: Final = {
    "stage_changes": tuple(repository.STAGE_TARGETS),
    "redemptions": ("promo_code.redeemed",),
}
_MAX_DESCRIPTION: Final = 300


def _view(endpoint: WebhookEndpoint) -> EndpointView:
    return EndpointView(
        id=endpoint.id,
        url=endpoint.url,
        events=list(endpoint.events),
        threshold=threshold_text(endpoint.score_field, endpoint.score_threshold),
        description=endpoint.description,
        created_at=endpoint.created_at,
        disabled_at=endpoint.disabled_at,
    )


def _description(text: str | None) -> str | None:
    text = (text or "").strip()
    if len(text) > _MAX_DESCRIPTION:
        raise InvalidInputError(f"--description: at most {_MAX_DESCRIPTION} characters")
    return text or None


def add_endpoint(
    session: Session,
    url: str,
    events: str | Sequence[str],
    *,
    now: datetime,
    threshold: str | None = None,
    description: str | None = None,
    caller: Caller | None = None,
) -> CreatedEndpoint:
    """A new endpoint receiving EVENTS from now on; its signing secret is returned once."""
    chosen = parse_events(events if isinstance(events, str) else ",".join(events))
    field, value = parse_threshold(threshold) if threshold is not None else (None, None)
    if (SCORE_CROSSED in chosen) != (field is not None):
        raise InvalidInputError(
            "the score_crossed event needs a threshold (--threshold, e.g. 'interest>=60'), and "
            "a threshold needs the score_crossed event"
        )
    endpoint = repository.add_endpoint(
        session,
        WebhookEndpoint(
            url=check_url(url), secret=new_secret(), events=chosen, score_field=field,
            score_threshold=value, description=_description(description), created_at=now,
        ),
    )  # fmt: skip
    if field is not None and value is not None:
        # Contacts above the threshold already did not cross it now.
        repository.seed_marks(session, endpoint.id, field, value)
    audit(session, caller, "webhook_created", ("webhook", endpoint.id), details={"events": chosen})
    return CreatedEndpoint(**_view(endpoint).model_dump(), secret=endpoint.secret)


def list_endpoints(session: Session) -> list[EndpointView]:
    """Every endpoint, without secrets."""
    return [_view(row) for row in repository.endpoints(session)]


def _endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    found = repository.endpoint(session, endpoint_id)
    if found is None:
        raise NotFoundError(
            f"no webhook endpoint {endpoint_id}; `leadsift webhook list` shows them"
        )
    return found


def disable_endpoint(
    session: Session, endpoint_id: int, *, now: datetime, caller: Caller | None = None
) -> EndpointView:
    """Stop an endpoint: nothing more is derived for it, and what waits is given up."""
    endpoint = _endpoint(session, endpoint_id)
    if endpoint.disabled_at is None:
        endpoint.disabled_at = now
        repository.give_up_waiting(session, endpoint.id, "endpoint disabled", now)
        session.flush()
        audit(session, caller, "webhook_disabled", ("webhook", endpoint.id))
    return _view(endpoint)


def list_deliveries(
    session: Session,
    *,
    endpoint_id: int | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[DeliveryView]:
    """The latest deliveries, newest first (of one endpoint, in one status)."""
    if status is not None and status not in STATUSES:
        raise InvalidInputError(f"--status {status!r}: choose one of {', '.join(STATUSES)}")
    if endpoint_id is not None:
        _endpoint(session, endpoint_id)
    rows = repository.deliveries(session, endpoint_id=endpoint_id, status=status, limit=limit)
    return [DeliveryView.model_validate(row) for row in rows]


def get_delivery(session: Session, delivery_id: int) -> DeliveryView:
    """One delivery by id."""
    found = repository.delivery(session, delivery_id)
    if found is None:
        raise NotFoundError(f"no webhook delivery {delivery_id}")
    return DeliveryView.model_validate(found)


def add_ping(session: Session, endpoint_id: int, now: datetime) -> int:
    """A ping delivery for an active endpoint (what `webhook test` sends); its id."""
    endpoint = _endpoint(session, endpoint_id)
    if endpoint.disabled_at is not None:
        raise InvalidInputError(f"webhook endpoint {endpoint_id} is disabled; add a new one")
    key = f"ping-{secrets.token_hex(8)}"
    row = {
        "endpoint_id": endpoint.id, "event_type": PING, "event_key": key, "occurred_at": now,
        "data": {"endpoint_id": endpoint.id}, "status": "pending", "attempts": 0,
        "next_attempt_at": now, "created_at": now,
    }  # fmt: skip
    repository.insert_deliveries(session, [row])
    found = repository.delivery_id(session, endpoint.id, key)
    assert found is not None  # noqa: S101 — inserted a moment ago with a fresh key
    return found


def derive(session: Session, now: datetime) -> dict[str, int]:
    """Derive deliveries from what was committed since the last pass (stage history, promo
    redemptions, scores); the number new per event type. Idempotent."""
    active = repository.endpoints(session, active_only=True)
    counts: Counter[str] = Counter()
    settled_before = now - SETTLE if is_postgres(session) else None
    for log, event_types in _LOG_EVENTS.items():
        start, _ = repository.cursor(session, log)
        if active and repository.latest_id(session, log) > start:
            for endpoint in active:
                for event_type in (e for e in endpoint.events if e in event_types):
                    counts[event_type] += _derive_log(session, endpoint, event_type, start, now)
        settled = repository.settled_id(session, log, settled_before)
        if settled > start:
            repository.move_cursor(session, log, settled, now)
    for field in SCORE_FIELDS:
        counts[SCORE_CROSSED] += _score_crossings(session, active, field, now)
    session.flush()
    return {event_type: count for event_type, count in counts.items() if count}


def _derive_log(
    session: Session, endpoint: WebhookEndpoint, event_type: str, after_id: int, now: datetime
) -> int:
    if event_type == "promo_code.redeemed":
        return repository.derive_redemptions(session, endpoint, after_id, now)
    return repository.derive_stage_changes(session, endpoint, event_type, after_id, now)


def _score_crossings(
    session: Session, active: list[WebhookEndpoint], field: str, now: datetime
) -> int:
    """Contacts whose FIELD rose to an endpoint's threshold since the last pass (a contact
    counts again only after falling below)."""
    name = f"scores:{field}"
    _, last = repository.cursor(session, name)
    since = last - SETTLE if last is not None else None
    new = 0
    for endpoint in active:
        threshold = endpoint.score_threshold
        if SCORE_CROSSED not in endpoint.events or endpoint.score_field != field:
            continue
        assert threshold is not None  # noqa: S101 — stored with its field
        repository.drop_fallen_marks(session, endpoint.id, field, threshold)
        found = repository.crossings(session, endpoint.id, field, threshold, since)
        repository.add_marks(session, endpoint.id, [contact for contact, _, _ in found])
        rows = [
            {
                "endpoint_id": endpoint.id, "event_type": SCORE_CROSSED,
                "event_key": f"score_crossed-{field}-{contact}-{int(at.timestamp() * 1e6)}",
                "occurred_at": at, "status": "pending", "attempts": 0, "next_attempt_at": now,
                "created_at": now,
                "data": {"contact_id": contact, "score": field, "threshold": threshold,
                         "value": value},
            }
            for contact, value, at in found
        ]  # fmt: skip
        new += repository.insert_deliveries(session, rows)
    repository.move_cursor(session, name, 0, now)
    return new
