"""An SMS campaign end to end: the HTTP gateway adapter against a local gateway (http.server in
a thread), STOP and replies through the inbound webhook, and what a gateway that times out or
fails does to the outbox."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadsift.access.schemas import Scope
from leadsift.access.service import create_key
from leadsift.api import create_app
from leadsift.config import Settings
from leadsift.db import Database
from leadsift.engagement.models import Event
from leadsift.kit.clock import utcnow
from leadsift.outreach.models import OutboxMessage
from tests.cli.helpers import run
from tests.outreach_helpers import cli_json, run_worker, write_template

HOST = "127.0.0.1"
SENDER = "BioLyon"
SMS_TEMPLATE = """\
channel: sms
default_language: fr
fr:
  text: "Bonjour {{ contact.first_name }}, -20 % ce week-end sur nos paniers."
"""
PLAYBOOK = """\
name: Paniers
eligibility: phone startswith "+33"
qualify: count(sms_replied) >= 1
"""
# (first name, phone as typed, E.164)
PEOPLE = [
    ("Anna", "06 12 34 56 78", "+33612345678"),
    ("Basile", "06 22 33 44 55", "+33622334455"),
    ("Chloe", "07 81 22 33 44", "+33781223344"),
]


class Gateway(ThreadingHTTPServer):
    """An SMS gateway: records each JSON payload; answers with the next (status, delay)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _Handler)
        self.payloads: list[dict[str, Any]] = []
        self.answers: list[tuple[int, float]] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up waiting leaves a broken pipe behind: expected here

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/v1/sms"


class _Handler(BaseHTTPRequestHandler):
    server: Gateway
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        gateway = self.server
        gateway.payloads.append(json.loads(body))
        status, delay = gateway.answers.pop(0) if gateway.answers else (200, 0.0)
        time.sleep(delay)
        answer = b'{"id": "gw-%d"}' % len(gateway.payloads)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _settings(url: str, gateway: Gateway, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "sms_transport": "http",
        "sms_gateway_url": gateway.url,
        "sms_gateway_auth": "Bearer t0ken",
        "sms_timeout_s": 2.0,
        "sms_sender": SENDER,
        **overrides,
    }
    return Settings(**values)


def _work(
    url: str, gateway: Gateway, clock: Callable[[], datetime] = utcnow, **overrides: Any
) -> dict[str, int]:
    settings = _settings(url, gateway, **overrides)
    return run_worker(settings, clock=clock)


def _people_file(path: Path, people: list[tuple[str, str, str]]) -> Path:
    rows = "".join(f"{first},{phone},oui,fr\n" for first, phone, _ in people)
    path.write_text("first_name,phone,consent_sms,language\n" + rows, encoding="utf-8")
    return path


@pytest.fixture
def workspace(
    capsys: pytest.CaptureFixture[str], committed_db_url: str, tmp_path: Path
) -> tuple[str, Path]:
    people = _people_file(tmp_path / "people.csv", PEOPLE)
    cli_json(capsys, "--db", committed_db_url, "--json", "import", "contacts", str(people))
    return committed_db_url, write_template(tmp_path / "sms.yaml", SMS_TEMPLATE)


@pytest.fixture
def inbound(workspace: tuple[str, Path]) -> Iterator[Callable[[dict[str, Any]], Any]]:
    """POST a message to /api/v1/sms/inbound with an ingest key; returns the answer."""
    url = workspace[0]
    database = Database(url).ready()
    with database.unit_of_work() as session:
        key = create_key(session, "gateway", Scope.INGEST).key
    database.dispose()
    with TestClient(create_app(Settings(database_url=url))) as client:

        def post(body: dict[str, Any]) -> Any:
            headers = {"Authorization": f"Bearer {key}"}
            return client.post("/api/v1/sms/inbound", json=body, headers=headers)

        yield post


def _outbox(url: str) -> list[OutboxMessage]:
    database = Database(url)
    try:
        with database.unit_of_work(read_only=True) as session:
            return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    finally:
        database.dispose()


def _events(url: str, kind: str) -> list[Event]:
    database = Database(url)
    try:
        with database.unit_of_work(read_only=True) as session:
            return list(session.scalars(select(Event).where(Event.type == kind).order_by(Event.id)))
    finally:
        database.dispose()


def test_an_sms_campaign_then_stop_and_a_reply(
    capsys: pytest.CaptureFixture[str],
    workspace: tuple[str, Path],
    gateway: Gateway,
    inbound: Callable[[dict[str, Any]], Any],
) -> None:
    url, template = workspace
    db = ("--db", url, "--json")
    playbook = write_template(template.with_name("playbook.yaml"), PLAYBOOK)
    assert cli_json(capsys, *db, "qualify", "--playbook", str(playbook))["stages"]["lead"] == 3
    cli_json(capsys, *db, "campaign", "create", "weekend", "--template", str(template),
          "--stage", "lead")  # fmt: skip
    assert cli_json(capsys, *db, "campaign", "schedule", "weekend")["prepared"]["recipients"] == 3
    assert _work(url, gateway) == {"sent": 3}
    assert sorted(p["to"] for p in gateway.payloads) == sorted(e164 for *_, e164 in PEOPLE)
    for payload in gateway.payloads:
        assert payload["from"] == SENDER
        assert payload["text"].startswith(SENDER), payload["text"]
        assert "STOP" in payload["text"]
    assert any("Bonjour Anna, -20 %" in p["text"] for p in gateway.payloads)
    assert {m.provider_id for m in _outbox(url)} == {"gw-1", "gw-2", "gw-3"}

    answer = inbound({"from": "+33612345678", "text": " stop sms "})
    assert answer.status_code == 200
    assert answer.json() == {"stop": True, "contacts": 1}
    stops = [e.id for e in _events(url, "sms_stop")]
    assert len(stops) == 1
    assert inbound({"from": "0612345678", "text": "Stop !"}).json()["stop"] is True
    assert [e.id for e in _events(url, "sms_stop")] == stops, "a second STOP writes nothing"
    shown = cli_json(capsys, *db, "consent", "show", "+33612345678")
    assert shown["states"]["sms"]["granted"] is False
    assert shown["suppressed"] == {"sms": "stop"}
    assert shown["decisions"]["sms"]["allowed"] is False
    assert shown["decisions"]["sms"]["reason"] == "suppressed"

    reply = inbound({"from": "06 22 33 44 55", "text": "Merci, je passe samedi"})
    assert reply.json() == {"stop": False, "contacts": 1}
    basile = cli_json(capsys, *db, "contacts", "show", "+33622334455")["id"]
    replies = _events(url, "sms_replied")
    assert [(e.contact_id, e.properties["text"]) for e in replies] == [
        (basile, "Merci, je passe samedi")
    ]
    # A gateway whose clock runs ahead: the reply is dated when it arrived, not refused.
    ahead = {"from": "+33622334455", "text": "Et dimanche ?", "received_at": "2099-01-01T00:00Z"}
    assert inbound(ahead).status_code == 200
    assert max(e.occurred_at for e in _events(url, "sms_replied")) <= utcnow()
    # A reply raises a hand: the lead is a qualified prospect before the answer, as with any
    # event received over the API.
    shown = cli_json(capsys, *db, "contacts", "show", "+33622334455")
    assert (shown["stage"], shown["stage_reason"]) == ("qualified", "hand_raiser")
    again = cli_json(capsys, *db, "consent", "show", "+33622334455")
    assert again["decisions"]["sms"]["allowed"] is True  # a reply is not an objection

    cli_json(capsys, *db, "campaign", "create", "weekend-2", "--template", str(template),
          "--target", 'stage in ("lead", "qualified")')  # fmt: skip
    second = cli_json(capsys, *db, "campaign", "schedule", "weekend-2")
    assert second["prepared"]["recipients"] == 2
    assert second["prepared"]["skipped"] == {"suppressed": 1}
    assert _work(url, gateway) == {"sent": 2}
    assert [p["to"] for p in gateway.payloads].count("+33612345678") == 1


def test_stop_from_an_unknown_number_suppresses_it_for_a_later_import(
    capsys: pytest.CaptureFixture[str],
    workspace: tuple[str, Path],
    inbound: Callable[[dict[str, Any]], Any],
    tmp_path: Path,
) -> None:
    url, _ = workspace
    answer = inbound({"from": "+33655554433", "text": "ARRÊT"})
    assert answer.status_code == 200
    assert answer.json() == {"stop": True, "contacts": 0}
    newcomer = _people_file(tmp_path / "later.csv", [("Denis", "06 55 55 44 33", "")])
    imported = cli_json(capsys, "--db", url, "--json", "import", "contacts", str(newcomer))
    assert imported["created"] == 1
    shown = cli_json(capsys, "--db", url, "--json", "consent", "show", "06 55 55 44 33")
    assert shown["states"]["sms"]["granted"] is True  # the file says yes; the STOP wins
    assert shown["suppressed"] == {"sms": "stop"}
    assert shown["decisions"]["sms"]["allowed"] is False
    assert shown["decisions"]["sms"]["reason"] == "suppressed"


def test_a_gateway_timeout_is_ambiguous_and_never_resent(
    capsys: pytest.CaptureFixture[str], workspace: tuple[str, Path], gateway: Gateway
) -> None:
    url, template = workspace
    db = ("--db", url, "--json")
    cli_json(capsys, *db, "campaign", "create", "late", "--template", str(template),
          "--target", 'phone = "+33612345678"')  # fmt: skip
    cli_json(capsys, *db, "campaign", "schedule", "late")
    gateway.answers.append((200, 1.0))
    assert _work(url, gateway, sms_timeout_s=0.3) == {"ambiguous": 1}
    listed = cli_json(capsys, *db, "outbox", "ambiguous")["ambiguous"]
    assert len(listed) == 1
    assert listed[0]["reason"] == "no_final_answer" and "timeout" in listed[0]["detail"]
    only = cli_json(capsys, *db, "outbox", "ambiguous", "--campaign", "late")["ambiguous"]
    assert [row["outbox_id"] for row in only] == [listed[0]["outbox_id"]]
    typo = run(capsys, "--db", url, "outbox", "ambiguous", "--campaign", "lates")
    assert typo.code == 1 and "no campaign 'lates'" in typo.err
    assert _work(url, gateway) == {}
    later = _work(url, gateway, clock=lambda: utcnow() + timedelta(days=1))
    assert later == {}
    assert len(gateway.payloads) == 1, "an ambiguous message is never sent again"
    assert [m.status for m in _outbox(url)] == ["ambiguous"]


def test_a_gateway_error_is_retried_later_not_lost(
    capsys: pytest.CaptureFixture[str], workspace: tuple[str, Path], gateway: Gateway
) -> None:
    url, template = workspace
    db = ("--db", url, "--json")
    cli_json(capsys, *db, "campaign", "create", "flaky", "--template", str(template),
          "--target", 'phone = "+33612345678"')  # fmt: skip
    cli_json(capsys, *db, "campaign", "schedule", "flaky")
    gateway.answers.append((500, 0.0))
    outcomes = _work(url, gateway)
    assert "sent" not in outcomes and sum(outcomes.values()) == 1
    [message] = _outbox(url)
    assert (message.status, message.settled_at) == ("pending", None)
    assert message.due_at > utcnow(), "retried later, not at once"
    assert _work(url, gateway) == {}, "not due yet"
    assert _work(url, gateway, clock=lambda: utcnow() + timedelta(hours=1)) == {"sent": 1}
    [message] = _outbox(url)
    assert message.status == "sent"
    assert len(gateway.payloads) == 2
    assert gateway.payloads[0] == gateway.payloads[1], "the same message, sent once it could be"
    assert cli_json(capsys, *db, "outbox", "ambiguous")["ambiguous"] == []
