"""The HTTP SMS channel against a real local gateway (http.server in a thread), and the file SMS
channel."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from leadsift.config import Settings
from leadsift.errors import ConfigurationError
from leadsift.outreach.channels import sms_channel
from leadsift.outreach.channels.base import OutgoingSms
from leadsift.outreach.channels.files import TEMP_PREFIX, FileSmsChannel
from leadsift.outreach.channels.sms_http import HttpSmsChannel, render_payload

HOST = "127.0.0.1"
TRICKY = 'Code "ETE25" : -20 %\nRépondez STOP {to} \\ fin'
SMS = OutgoingSms(to="+33612345678", text=TRICKY, sender="BioLyon")


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    payload: Any
    client: tuple[str, int]


class _Gateway(ThreadingHTTPServer):
    """Records each request; answers with the next (status, body, delay) of `answers`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _GatewayHandler)
        self.received: list[Received] = []
        self.answers: list[tuple[int, bytes, float]] = []
        self.close_after_answer = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up waiting leaves a broken pipe behind: expected here

    def url(self, path: str = "/v1/sms?account=7") -> str:
        return f"http://{HOST}:{self.server_address[1]}{path}"


class _GatewayHandler(BaseHTTPRequestHandler):
    server: _Gateway
    protocol_version = "HTTP/1.1"  # keep-alive, as real gateways do

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        gateway = self.server
        gateway.received.append(
            Received(self.path, dict(self.headers), json.loads(body), self.client_address)
        )
        default = (200, b'{"id": "msg-%d", "ok": true}' % len(gateway.received), 0.0)
        status, answer, delay = gateway.answers.pop(0) if gateway.answers else default
        time.sleep(delay)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        # Closing without announcing it: what a gateway's idle timeout does.
        self.close_connection = gateway.close_after_answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[_Gateway]:
    server = _Gateway()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "sms_transport": "http",
        "sms_gateway_url": url,
        "sms_gateway_auth": "Bearer t0ken",
        "sms_timeout_s": 2.0,
        **overrides,
    }
    return Settings(**values)


def test_payload_auth_provider_id_and_one_connection(gateway: _Gateway) -> None:
    with HttpSmsChannel(_settings(gateway.url())) as channel:
        results = [channel.send(SMS) for _ in range(3)]
    assert [(r.status, r.provider_id) for r in results] == [
        ("sent", "msg-1"),
        ("sent", "msg-2"),
        ("sent", "msg-3"),
    ]
    assert results[0].detail.startswith("200 OK")
    first = gateway.received[0]
    assert first.path == "/v1/sms?account=7"
    assert first.payload == {"to": "+33612345678", "text": TRICKY, "from": "BioLyon"}
    assert first.headers["Authorization"] == "Bearer t0ken"
    assert first.headers["Content-Type"] == "application/json; charset=utf-8"
    assert len({r.client for r in gateway.received}) == 1, "one kept-alive connection"


def test_nested_template_and_id_field(gateway: _Gateway) -> None:
    template = (
        '{"messages": [{"to": ["{to}"], "body": "{sender}: {text}", "flash": false, "ttl": 3}]}'
    )
    gateway.answers.append((202, b'{"result": {"id": 981, "state": "queued"}}', 0.0))
    settings = _settings(
        gateway.url("/send"),
        sms_gateway_payload=template,
        sms_gateway_id_field="result.id",
        sms_gateway_auth=None,
    )
    with HttpSmsChannel(settings) as channel:
        result = channel.send(SMS)
    assert (result.status, result.provider_id) == ("sent", "981")
    received = gateway.received[0]
    assert received.payload == {
        "messages": [
            {"to": ["+33612345678"], "body": f"BioLyon: {TRICKY}", "flash": False, "ttl": 3}
        ]
    }
    assert "Authorization" not in received.headers


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (201, "sent"),
        (400, "hard_bounce"),
        (404, "hard_bounce"),
        (422, "hard_bounce"),
        (408, "soft_failure"),
        (429, "soft_failure"),
        (500, "soft_failure"),
        (503, "soft_failure"),
        (302, "soft_failure"),
    ],
)
def test_answers_classified(gateway: _Gateway, status: int, expected: str) -> None:
    gateway.answers.append((status, b'{"error": "invalid number"}', 0.0))
    with HttpSmsChannel(_settings(gateway.url())) as channel:
        result = channel.send(SMS)
        after = channel.send(SMS)
    assert result.status == expected
    assert result.detail.startswith(str(status))
    assert after.status == "sent", "the channel carries on after any answer"


def test_no_answer_within_the_timeout_is_ambiguous(gateway: _Gateway) -> None:
    gateway.answers.append((200, b'{"id": "late"}', 1.0))
    with HttpSmsChannel(_settings(gateway.url(), sms_timeout_s=0.3)) as channel:
        started = time.monotonic()
        late = channel.send(SMS)
        assert time.monotonic() - started < 0.9
        after = channel.send(SMS)
    assert (late.status, late.provider_id) == ("ambiguous", None)
    assert "timeout" in late.detail
    assert after.status == "sent", "a new connection after the abandoned one"
    assert len({r.client for r in gateway.received}) == 2


def test_nothing_listening_is_a_soft_failure() -> None:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    with HttpSmsChannel(_settings(f"http://{HOST}:{port}/sms", sms_timeout_s=0.5)) as channel:
        result = channel.send(SMS)
    assert result.status == "soft_failure"
    assert "cannot connect" in result.detail


def test_connection_closed_while_idle_is_reopened(gateway: _Gateway) -> None:
    gateway.close_after_answer = True
    with HttpSmsChannel(_settings(gateway.url())) as channel:
        first = channel.send(SMS)
        time.sleep(0.1)  # the gateway's close reaches us
        second = channel.send(SMS)
    assert (first.status, second.status) == ("sent", "sent")
    assert len(gateway.received) == 2
    assert len({r.client for r in gateway.received}) == 2


def test_placeholders_replaced_in_one_pass() -> None:
    sms = OutgoingSms(to="{text}", text="{sender} {to}", sender="{to}")
    rendered = render_payload({"a": ["{to}|{text}|{sender}", 1, None]}, sms)
    assert rendered == {"a": ["{text}|{sender} {to}|{to}", 1, None]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sms_gateway_url": None}, "LEADSIFT_SMS_GATEWAY_URL"),
        ({"sms_gateway_url": "ftp://gw.example/sms"}, "LEADSIFT_SMS_GATEWAY_URL"),
        ({"sms_gateway_url": "https://gw.example/s ms"}, "LEADSIFT_SMS_GATEWAY_URL"),
        ({"sms_gateway_url": "https://gw.example:port/sms"}, "LEADSIFT_SMS_GATEWAY_URL"),
        ({"sms_gateway_payload": "{to: {to}}"}, "is not JSON"),
        ({"sms_gateway_payload": '{"text": "{text}"}'}, "{to} and {text}"),
        ({"sms_gateway_auth": "Bearer x\r\nX-Evil: 1"}, "LEADSIFT_SMS_GATEWAY_AUTH"),
    ],
)
def test_configuration_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        HttpSmsChannel(_settings("https://gw.example/sms", **overrides))


def test_file_channel_writes_whole_json_files(tmp_path: Path) -> None:
    channel = sms_channel(Settings(outbox_dir=str(tmp_path)))
    assert isinstance(channel, FileSmsChannel)
    with channel:
        results = [channel.send(SMS) for _ in range(2)]
    assert [r.status for r in results] == ["sent", "sent"]
    files = sorted((tmp_path / "sms").iterdir())
    assert sorted(p.name for p in files) == sorted(str(r.provider_id) for r in results)
    assert not any(p.name.startswith(TEMP_PREFIX) for p in files)
    written = json.loads(files[0].read_text(encoding="utf-8"))
    assert (written["to"], written["text"], written["sender"]) == (SMS.to, TRICKY, "BioLyon")


def test_factory_picks_http() -> None:
    assert isinstance(sms_channel(_settings("https://gw.example/sms")), HttpSmsChannel)
