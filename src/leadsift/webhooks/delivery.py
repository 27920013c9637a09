"""Sending deliveries: claim what is due (committed before anything leaves), POST each signed
body, record the attempt; and `run_due`, one pass of deriving and sending. Owns its
transactions.

Delivery is at least once: a process dying between the POST and the record sends it again
after the claim's lease, so receivers de-duplicate on the event's `id` (or Leadsift-Delivery).
"""

from __future__ import annotations

import http.client
import secrets
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from leadsift.db import Database
from leadsift.errors import InvalidInputError
from leadsift.kit.clock import utcnow
from leadsift.webhooks import repository, service
from leadsift.webhooks.repository import Claimed
from leadsift.webhooks.schemas import (
    MAX_ATTEMPTS,
    PING,
    RunSummary,
    body,
    check_url,
    retry_wait,
)
from leadsift.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    signature,
)

TIMEOUT_SECONDS: Final = 10.0
# A claim is not due again for this long: a pass sends a claim's deliveries one by one, each
# within the timeout, long before.
LEASE: Final = timedelta(minutes=5)
CLAIM_SIZE: Final = 10
_MAX_ANSWER_BYTES: Final = 65_536
_MAX_ERROR: Final = 300


@dataclass(frozen=True)
class Answer:
    """What a POST got: the HTTP status, or why there was none."""

    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        """A 2xx answer; anything else (a redirect too) is retried."""
        return self.status is not None and 200 <= self.status < 300


def post(url: str, payload: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST PAYLOAD to URL (http.client: no redirect is followed, no proxy from the
    environment); the answer's status, or the error."""
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout,
            context=ssl.create_default_context(),
        )  # fmt: skip
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=payload, headers=headers)
        response = connection.getresponse()
        response.read(_MAX_ANSWER_BYTES)
        return Answer(response.status)
    except TimeoutError:
        return Answer(None, f"no answer within {timeout:g} s")
    except (OSError, http.client.HTTPException) as problem:
        return Answer(None, f"{type(problem).__name__}: {problem}"[:_MAX_ERROR])
    finally:
        connection.close()


def _headers(delivery: Claimed, secret: str, payload: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "leadsift-webhooks",
        SIGNATURE_HEADER: signature(secret, payload, int(utcnow().timestamp())),
        DELIVERY_HEADER: str(delivery.id),
        EVENT_HEADER: delivery.event_type,
    }


def outcome(answer: Answer, attempts: int, at: datetime, jitter: float) -> dict[str, Any]:
    """The columns an answer to attempt ATTEMPTS sets: delivered, failed (retried later, the
    wait shortened by JITTER in [0, 1)) or gave_up after the last attempt."""
    error = answer.error
    if answer.status is not None and not answer.delivered:
        error = f"HTTP {answer.status}"
    values: dict[str, Any] = {"last_status_code": answer.status, "last_error": error}
    if answer.delivered:
        return {**values, "status": "delivered", "delivered_at": at, "next_attempt_at": at}
    wait = retry_wait(attempts, jitter)
    if wait is None:
        return {**values, "status": "gave_up", "next_attempt_at": at}
    return {**values, "status": "failed", "next_attempt_at": at + wait}


class _Pass:
    """One sending pass: its clock (NOW plus the time spent) and what it did."""

    def __init__(self, database: Database, now: datetime) -> None:
        self.database = database
        self.now = now
        self.started = time.monotonic()
        self.summary = RunSummary(derived={})
        # Endpoints that failed in this pass → when their next delivery is due.
        self.failing: dict[int, datetime] = {}

    def clock(self) -> datetime:
        return self.now + timedelta(seconds=time.monotonic() - self.started)

    def claim(self, limit: int, delivery_id: int | None = None) -> int:
        """Claim up to LIMIT deliveries (committed), then send each; how many were claimed."""
        with self.database.unit_of_work() as session:
            now = self.clock()
            claimed = repository.claim(session, now, now + LEASE, limit, delivery_id=delivery_id)
            endpoints = repository.endpoints_by_id(session, {d.endpoint_id for d in claimed})
            targets = {i: (e.url, e.secret, e.disabled_at) for i, e in endpoints.items()}
        postponed: list[Claimed] = []
        for delivery in claimed:
            url, secret, disabled_at = targets[delivery.endpoint_id]
            if delivery.endpoint_id in self.failing:
                postponed.append(delivery)  # its endpoint just failed: spare it the attempt
            elif disabled_at is not None:
                self.record(delivery, {"status": "gave_up", "last_error": "endpoint disabled"})
            else:
                self.record(delivery, self.send(delivery, url, secret))
        self.put_back(postponed)
        return len(claimed)

    def send(self, delivery: Claimed, url: str, secret: str) -> dict[str, Any]:
        payload = body(delivery.event_key, delivery.event_type, delivery.occurred_at, delivery.data)
        try:
            headers = _headers(delivery, secret, payload)
            answer = post(check_url(url), payload, headers, TIMEOUT_SECONDS)
        except InvalidInputError as refused:  # stored before a stricter rule: never sent
            answer = Answer(None, refused.message[:_MAX_ERROR])
        # A test ping answers the person waiting for it: tried once, never retried.
        attempts = MAX_ATTEMPTS if delivery.event_type == PING else delivery.attempts
        return outcome(answer, attempts, self.clock(), secrets.randbelow(1000) / 1000)

    def record(self, delivery: Claimed, values: dict[str, Any]) -> None:
        values.setdefault("next_attempt_at", self.clock())
        with self.database.unit_of_work() as session:
            repository.settle(session, delivery.id, values)
        status = values["status"]
        setattr(self.summary, status, getattr(self.summary, status) + 1)
        if status == "failed":
            self.failing[delivery.endpoint_id] = values["next_attempt_at"]

    def put_back(self, postponed: list[Claimed]) -> None:
        if not postponed:
            return
        with self.database.unit_of_work() as session:
            for endpoint_id, due in self.failing.items():
                ids = [d.id for d in postponed if d.endpoint_id == endpoint_id]
                repository.postpone(session, ids, due)
        self.summary.postponed += len(postponed)


def send_due(database: Database, now: datetime, limit: int) -> RunSummary:
    """Send up to LIMIT due deliveries, one by one, each attempt recorded as it ends."""
    sending = _Pass(database, now)
    done = 0
    while done < limit:
        claimed = sending.claim(min(CLAIM_SIZE, limit - done))
        if not claimed:
            break
        done += claimed
    return sending.summary


def send_one(database: Database, delivery_id: int, now: datetime) -> RunSummary:
    """Send one delivery now, due or not (a test ping)."""
    sending = _Pass(database, now)
    sending.claim(1, delivery_id)
    return sending.summary


def run_due(database: Database, now: datetime, limit: int = 500) -> RunSummary:
    """One pass: derive deliveries from what was committed, then send up to LIMIT due ones."""
    with database.unit_of_work() as session:
        derived = service.derive(session, now)
    summary = send_due(database, now, limit)
    return summary.model_copy(update={"derived": derived})
