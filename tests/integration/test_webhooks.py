"""Webhooks end to end against a real receiver (http.server in a thread): a qualified contact
arrives signed, a failing receiver is retried with back-off and then given up, a second run
sends nothing again, a disabled endpoint gets nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from leadsift.config import Settings
from leadsift.contacts.models import Contact
from leadsift.db import Database
from leadsift.kit.clock import utcnow
from leadsift.qualification.service import set_stage
from leadsift.qualification.stages import Stage
from leadsift.webhooks import service
from leadsift.webhooks.delivery import run_due
from leadsift.webhooks.models import WebhookCursor, WebhookDelivery
from leadsift.webhooks.schemas import MAX_ATTEMPTS
from leadsift.webhooks.signing import verify

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> Any:
        return json.loads(self.body)


class Receiver(ThreadingHTTPServer):
    """Records each POST; answers `status` (200 unless set)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _Handler)
        self.received: list[Received] = []
        self.status = 200

    def url(self, path: str = "/hooks/leadsift") -> str:
        return f"http://{HOST}:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(Received(self.path, dict(self.headers), body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve()


@pytest.fixture
def other_receiver() -> Iterator[Receiver]:
    yield from _serve()


@pytest.fixture
def db(committed_db_url: str) -> Iterator[Database]:
    database = Database(committed_db_url, Settings(database_url=committed_db_url)).ready()
    try:
        yield database
    finally:
        database.dispose()


def add_contact(database: Database, email: str, stage: str = "lead") -> int:
    """A contact in STAGE, committed."""
    at = utcnow() - timedelta(days=1)
    row = {"email": email, "stage": stage, "attrs": {}, "created_at": at, "updated_at": at}
    with database.unit_of_work() as session:
        return int(session.execute(insert(Contact).returning(Contact.id), [row]).scalar_one())


def add_endpoint(database: Database, url: str, events: str, **options: Any) -> tuple[int, str]:
    """An endpoint (id, secret), committed."""
    with database.unit_of_work() as session:
        created = service.add_endpoint(session, url, events, now=utcnow(), **options)
    return created.id, created.secret


def move(database: Database, email: str, target: Stage, reason: str) -> None:
    with database.unit_of_work() as session:
        set_stage(session, email, target, reason, actor="user:test")


def deliveries(database: Database) -> list[WebhookDelivery]:
    with database.unit_of_work() as session:
        rows = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
        session.expunge_all()
    return rows


def test_a_qualified_contact_arrives_signed(db: Database, receiver: Receiver) -> None:
    contact = add_contact(db, "ann@example.com")
    endpoint, secret = add_endpoint(db, receiver.url(), "qualified,stage_changed")
    move(db, "ann@example.com", Stage.QUALIFIED, "hand_raiser")

    summary = run_due(db, utcnow(), 100)

    assert summary.derived == {"contact.qualified": 1, "contact.stage_changed": 1}
    assert summary.delivered == 2
    by_type = {r.document["type"]: r for r in receiver.received}
    qualified = by_type["contact.qualified"]
    assert qualified.path == "/hooks/leadsift"
    assert verify(secret, qualified.headers["Leadsift-Signature"], qualified.body, utcnow())
    assert not verify("whsec_other", qualified.headers["Leadsift-Signature"], qualified.body,
                      utcnow())  # fmt: skip
    assert qualified.headers["Content-Type"] == "application/json; charset=utf-8"
    assert qualified.headers["Leadsift-Event"] == "contact.qualified"
    document = qualified.document
    assert document["data"] == {
        "contact_id": contact,
        "from_stage": "lead",
        "to_stage": "qualified",
        "reason": "hand_raiser",
    }
    assert document["id"].startswith("qualified-")
    assert document["occurred_at"].endswith("Z")
    assert b"ann@example.com" not in qualified.body  # ids and codes, no personal data
    rows = {row.event_type: row for row in deliveries(db)}
    row = rows["contact.qualified"]
    assert qualified.headers["Leadsift-Delivery"] == str(row.id)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
    assert row.endpoint_id == endpoint
    assert row.delivered_at is not None
    # Stage changed and qualified describe the same move: the same history row behind both ids.
    assert (
        by_type["contact.stage_changed"].document["id"].split("-")[1]
        == document["id"].split("-")[1]
    )


def test_running_again_never_sends_twice(db: Database, receiver: Receiver) -> None:
    add_contact(db, "ann@example.com")
    add_endpoint(db, receiver.url(), "qualified")
    move(db, "ann@example.com", Stage.QUALIFIED, "interest_threshold")
    run_due(db, utcnow(), 100)
    run_due(db, utcnow(), 100)
    # Even reading the whole history again (a cursor lost, or PostgreSQL's margin) derives
    # nothing new: the unique (endpoint, event) key.
    with db.unit_of_work() as session:
        session.execute(update(WebhookCursor).values(last_id=0))
    again = run_due(db, utcnow() + timedelta(hours=1), 100)
    assert again.derived == {}
    assert again.delivered == 0
    assert len(receiver.received) == 1
    assert len(deliveries(db)) == 1


def test_a_failing_receiver_is_retried_with_back_off_then_given_up(
    db: Database, receiver: Receiver
) -> None:
    receiver.status = 500
    add_contact(db, "bob@example.com")
    add_endpoint(db, receiver.url(), "qualified")
    move(db, "bob@example.com", Stage.QUALIFIED, "hand_raiser")
    now = utcnow()
    run_due(db, now, 100)
    waits = []
    for _ in range(MAX_ATTEMPTS - 1):
        (row,) = deliveries(db)
        assert row.status == "failed"
        assert (row.last_status_code, row.last_error) == (500, "HTTP 500")
        assert row.next_attempt_at > now
        # Not due yet: nothing is sent a second before.
        assert run_due(db, row.next_attempt_at - timedelta(seconds=1), 100).failed == 0
        waits.append((row.next_attempt_at - now).total_seconds() / 60)
        now = row.next_attempt_at
        run_due(db, now, 100)
    (row,) = deliveries(db)
    assert (row.status, row.attempts) == ("gave_up", MAX_ATTEMPTS)
    assert len(receiver.received) == MAX_ATTEMPTS
    # The same event, body and delivery id on every attempt (receivers de-duplicate).
    assert len({r.body for r in receiver.received}) == 1
    assert {r.headers["Leadsift-Delivery"] for r in receiver.received} == {str(row.id)}
    for wait, full in zip(waits, [1, 3, 9, 27, 81, 243, 360], strict=True):
        assert full * 0.8 <= wait <= full + 0.1
    # Given up: never sent again.
    assert run_due(db, now + timedelta(days=2), 100).failed == 0
    assert len(receiver.received) == MAX_ATTEMPTS


def test_a_receiver_coming_back_gets_the_delivery(db: Database, receiver: Receiver) -> None:
    receiver.status = 503
    add_contact(db, "cat@example.com", stage="qualified")
    add_endpoint(db, receiver.url(), "customer")
    move(db, "cat@example.com", Stage.CUSTOMER, "won")
    run_due(db, utcnow(), 100)
    receiver.status = 200
    (row,) = deliveries(db)
    run_due(db, row.next_attempt_at, 100)
    (row,) = deliveries(db)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 200)
    assert [r.document["type"] for r in receiver.received] == ["contact.customer"] * 2


def test_a_disabled_endpoint_gets_nothing(
    db: Database, receiver: Receiver, other_receiver: Receiver
) -> None:
    add_contact(db, "dan@example.com")
    add_contact(db, "eve@example.com")
    kept, _ = add_endpoint(db, receiver.url(), "stage_changed")
    dropped, _ = add_endpoint(db, other_receiver.url(), "stage_changed")
    other_receiver.status = 500
    move(db, "dan@example.com", Stage.QUALIFIED, "hand_raiser")
    run_due(db, utcnow(), 100)  # the second endpoint fails: a retry waits
    with db.unit_of_work() as session:
        service.disable_endpoint(session, dropped, now=utcnow())
    move(db, "eve@example.com", Stage.QUALIFIED, "hand_raiser")
    run_due(db, utcnow() + timedelta(days=1), 100)
    assert len(receiver.received) == 2
    assert len(other_receiver.received) == 1  # the first attempt, before it was disabled
    rows = deliveries(db)
    assert {(r.endpoint_id, r.status) for r in rows} == {
        (kept, "delivered"),
        (dropped, "gave_up"),
    }
    assert [r.last_error for r in rows if r.endpoint_id == dropped] == ["endpoint disabled"]


def test_history_before_the_endpoint_existed_is_not_sent(db: Database, receiver: Receiver) -> None:
    add_contact(db, "fay@example.com")
    move(db, "fay@example.com", Stage.QUALIFIED, "hand_raiser")
    add_endpoint(db, receiver.url(), "qualified,stage_changed")
    assert run_due(db, utcnow(), 100).derived == {}
    assert receiver.received == []


def test_an_endpoint_failing_spares_its_other_deliveries_the_attempt(
    db: Database, receiver: Receiver
) -> None:
    receiver.status = 500
    for name in ("gil", "hal", "ida"):
        add_contact(db, f"{name}@example.com")
    add_endpoint(db, receiver.url(), "qualified")
    for name in ("gil", "hal", "ida"):
        move(db, f"{name}@example.com", Stage.QUALIFIED, "hand_raiser")
    summary = run_due(db, utcnow(), 100)
    assert (summary.failed, summary.postponed) == (1, 2)
    assert len(receiver.received) == 1
    rows = deliveries(db)
    assert sorted(r.attempts for r in rows) == [0, 0, 1]
    assert len({r.next_attempt_at for r in rows}) == 1  # all wait for the endpoint's retry


def test_nothing_listening_is_a_failure_with_its_reason(db: Database) -> None:
    add_contact(db, "jo@example.com")
    server = Receiver()
    url = server.url()
    server.server_close()  # the port is free again: nothing listens there
    add_endpoint(db, url, "qualified")
    move(db, "jo@example.com", Stage.QUALIFIED, "hand_raiser")
    assert run_due(db, utcnow(), 100).failed == 1
    (row,) = deliveries(db)
    assert row.last_status_code is None
    assert row.last_error is not None
    assert "Connection" in row.last_error


def test_delivery_times_are_utc(db: Database, receiver: Receiver) -> None:
    add_contact(db, "kim@example.com")
    add_endpoint(db, receiver.url(), "qualified")
    move(db, "kim@example.com", Stage.QUALIFIED, "hand_raiser")
    run_due(db, datetime.now(UTC), 100)
    (row,) = deliveries(db)
    occurred = datetime.fromisoformat(receiver.received[0].document["occurred_at"])
    assert occurred == row.occurred_at
