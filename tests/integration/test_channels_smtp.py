"""The SMTP channel against real servers on 127.0.0.1: aiosmtpd for well-behaved ones, a raw
socket server scripted to fail at a chosen step; and the file email channel."""

from __future__ import annotations

import email
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from leadsift.config import Settings
from leadsift.outreach.channels import email_channel
from leadsift.outreach.channels.base import OutgoingEmail
from leadsift.outreach.channels.files import TEMP_PREFIX, FileEmailChannel
from leadsift.outreach.channels.smtp import SmtpChannel

HOST = "127.0.0.1"
SENDER = "news@exemple.fr"


def _email(n: int, to: str = "elodie@exemple.fr") -> OutgoingEmail:
    return OutgoingEmail(
        to=to,
        subject=f"Offre n°{n} : -20 % cet été",
        text=f"Bonjour,\n.ligne {n} qui commence par un point\n",
        html=f"<p>Offre {n}</p>",
        message_id=f"<outbox-{n}.0123456789abcdef@mail.exemple.fr>",
        unsubscribe_url=f"https://track.exemple.fr/u/token-{n}",
        unsubscribe_mailto="mailto:stop@exemple.fr",
        headers={"X-Leadsift-Campaign": "ete-2025"},
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _settings(port: int, **overrides: Any) -> Settings:
    values = {"smtp_host": HOST, "smtp_port": port, "smtp_timeout_s": 2.0, **overrides}
    return Settings(email_transport="smtp", email_from=SENDER, **values)


def _parse(content: bytes) -> EmailMessage:
    return email.message_from_bytes(content, policy=default)


@dataclass
class Recorder:
    """An aiosmtpd handler keeping what arrives; refuses recipients or content on request."""

    rcpt_refusals: dict[str, str] = field(default_factory=dict)
    data_reply: str = "250 2.0.0 Ok: queued as ABC123"
    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    peers: set[Any] = field(default_factory=set)
    ehlos: int = 0
    logins: list[bytes] = field(default_factory=list)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.ehlos += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.rcpt_refusals:
            return self.rcpt_refusals[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.peers.add(session.peer)
        if self.data_reply.startswith("250"):
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return self.data_reply

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data == (b"leadsift", b"s3cret")
        if ok:
            self.logins.append(data.login)
        # handled=False: aiosmtpd answers 535 itself.
        return AuthResult(success=ok, handled=False)


@contextmanager
def _serving(recorder: Recorder, **options: Any) -> Iterator[int]:
    """An aiosmtpd server on a free port of 127.0.0.1 (its port) while the block runs."""
    port = _free_port()
    controller = Controller(
        recorder, hostname=HOST, port=port, server_hostname="smtp.test", **options
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def smtpd() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    with _serving(recorder) as port:
        yield recorder, port


def test_three_emails_over_one_connection(smtpd: tuple[Recorder, int]) -> None:
    recorder, port = smtpd
    with SmtpChannel(_settings(port)) as channel:
        results = [channel.send(_email(n)) for n in range(3)]
    assert [r.status for r in results] == ["sent"] * 3
    assert all(r.provider_id == "ABC123" and r.detail.startswith("250 ") for r in results)
    assert recorder.ehlos == 1 and len(recorder.peers) == 1, "one connection for all"
    assert len(recorder.messages) == 3
    for n, (sender, recipients, content) in enumerate(recorder.messages):
        assert (sender, recipients) == (SENDER, ["elodie@exemple.fr"])
        parsed = _parse(content)
        assert parsed["Message-ID"] == _email(n).message_id
        assert parsed["List-Unsubscribe"] == (
            f"<https://track.exemple.fr/u/token-{n}>, <mailto:stop@exemple.fr>"
        )
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert parsed["Subject"] == f"Offre n°{n} : -20 % cet été"
        plain = parsed.get_body(("plain",))
        assert plain is not None
        assert f"\n.ligne {n} qui" in plain.get_content(), "dot-stuffing undone by the server"


def test_many_emails_stay_on_one_connection(smtpd: tuple[Recorder, int]) -> None:
    recorder, port = smtpd
    with SmtpChannel(_settings(port)) as channel:
        statuses = {channel.send(_email(n)).status for n in range(200)}
    assert statuses == {"sent"}
    assert len(recorder.messages) == 200 and recorder.ehlos == 1


@pytest.mark.parametrize(
    ("rcpt_reply", "data_reply", "status", "detail"),
    [
        (
            "550 5.1.1 <x>: user unknown",
            None,
            "hard_bounce",
            "550 5.1.1 <x>: user unknown (at RCPT)",
        ),
        ("451 4.3.0 try later", None, "soft_failure", "451 4.3.0 try later (at RCPT)"),
        (None, "554 5.7.1 rejected as spam", "hard_bounce", "554 5.7.1 rejected as spam"),
        (None, "452 4.3.1 insufficient storage", "soft_failure", "452 4.3.1 insufficient"),
    ],
)
def test_refusals_and_the_connection_carries_on(
    smtpd: tuple[Recorder, int],
    rcpt_reply: str | None,
    data_reply: str | None,
    status: str,
    detail: str,
) -> None:
    recorder, port = smtpd
    with SmtpChannel(_settings(port)) as channel:
        if rcpt_reply:
            recorder.rcpt_refusals["refused@exemple.fr"] = rcpt_reply
        if data_reply:
            recorder.data_reply = data_reply
        result = channel.send(_email(1, to="refused@exemple.fr"))
        assert (result.status, result.provider_id) == (status, None)
        assert result.detail.startswith(detail)
        recorder.data_reply = Recorder.data_reply
        assert channel.send(_email(2)).status == "sent"
    assert [m[1] for m in recorder.messages] == [["elodie@exemple.fr"]]
    assert recorder.ehlos == 1, "after a refusal, RSET and the same connection"


def test_nothing_listening_is_a_soft_failure() -> None:
    with SmtpChannel(_settings(_free_port(), smtp_timeout_s=0.5)) as channel:
        result = channel.send(_email(1))
    assert result.status == "soft_failure"
    assert "cannot connect" in result.detail


class _RawServer(socketserver.ThreadingTCPServer):
    """A scripted SMTP server: each new connection follows the next behaviour of the list."""

    daemon_threads = True

    def __init__(self, behaviours: Sequence[str]) -> None:
        super().__init__((HOST, 0), _RawHandler)
        self.behaviours = list(behaviours)
        self.connections = 0
        self.contents: list[bytes] = []
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    def next_behaviour(self) -> str:
        with self.lock:
            self.connections += 1
            return self.behaviours.pop(0) if self.behaviours else "normal"


class _RawHandler(socketserver.StreamRequestHandler):
    server: _RawServer

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        self.request.settimeout(5)
        behaviour = self.server.next_behaviour()
        if behaviour == "drop at greeting":
            return
        self._reply("220 raw.test ESMTP")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                if behaviour == "drop at EHLO":
                    return
                self._reply("250-raw.test")
                self._reply("250 8BITMIME")
            elif verb == b"DATA":
                if not self._data(behaviour):
                    return
            elif verb == b"QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("250 OK")

    def _data(self, behaviour: str) -> bool:
        self._reply("354 go ahead")
        content = b""
        while (line := self.rfile.readline()) and line != b".\r\n":
            content += line
        if behaviour == "drop after content":
            return False
        if behaviour == "silent after content":
            self.rfile.read()  # until the client gives up and closes
            return False
        self.server.contents.append(content)
        self._reply("250 2.0.0 Ok: queued as RAW1")
        return behaviour != "close after a message"


@pytest.fixture
def raw_server(request: pytest.FixtureRequest) -> Iterator[_RawServer]:
    server = _RawServer(request.param)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize(
    ("raw_server", "status", "detail"),
    [
        (["drop after content"], "ambiguous", "after the message was sent"),
        (["silent after content"], "ambiguous", "timeout (after the message was sent)"),
        (["drop at greeting"], "soft_failure", "cannot connect"),
        (["drop at EHLO"], "soft_failure", "session with"),
    ],
    indirect=["raw_server"],
)
def test_failures_by_step_then_reconnects(raw_server: _RawServer, status: str, detail: str) -> None:
    settings = _settings(raw_server.port, smtp_timeout_s=0.5)
    with SmtpChannel(settings) as channel:
        first = channel.send(_email(1))
        assert (first.status, first.provider_id) == (status, None)
        assert detail in first.detail
        second = channel.send(_email(2))
    assert (second.status, second.provider_id) == ("sent", "RAW1")
    assert raw_server.connections == 2
    assert len(raw_server.contents) == 1
    assert _parse(raw_server.contents[0])["Message-ID"] == _email(2).message_id


@pytest.mark.parametrize("raw_server", [["close after a message"]], indirect=True)
def test_connection_closed_by_the_server_while_idle(raw_server: _RawServer) -> None:
    with SmtpChannel(_settings(raw_server.port, smtp_timeout_s=0.5)) as channel:
        statuses = [channel.send(_email(n)).status for n in range(2)]
    assert statuses == ["sent", "sent"], "nothing was handed over, so a fresh connection retries"
    assert raw_server.connections == 2 and len(raw_server.contents) == 2


@pytest.mark.parametrize("raw_server", [[]], indirect=True)
def test_international_address_needs_smtputf8(
    raw_server: _RawServer, smtpd: tuple[Recorder, int]
) -> None:
    with SmtpChannel(_settings(raw_server.port)) as channel:
        refused = channel.send(_email(1, to="josé@exemple.fr"))
    assert refused.status == "hard_bounce" and "SMTPUTF8" in refused.detail
    recorder, port = smtpd  # aiosmtpd offers SMTPUTF8
    with SmtpChannel(_settings(port)) as channel:
        assert channel.send(_email(1, to="josé@exemple.fr")).status == "sent"
    assert recorder.messages[0][1] == ["josé@exemple.fr"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no self-signed certificate for the TLS tests")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={HOST}",
         "-addext", f"subjectAltName=IP:{HOST}"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


def _tls_contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(*certificate)
    client = ssl.create_default_context(cafile=str(certificate[0]))
    return server, client


def test_starttls_and_login(certificate: tuple[Path, Path]) -> None:
    server_context, client_context = _tls_contexts(certificate)
    recorder = Recorder()
    options = {"tls_context": server_context, "require_starttls": True, "auth_required": True}
    with _serving(recorder, authenticator=recorder.authenticate, **options) as port:
        results = []
        for password in ("s3cret", "wrong"):
            settings = _settings(
                port, smtp_security="starttls", smtp_username="leadsift", smtp_password=password
            )
            with SmtpChannel(settings, ssl_context=client_context) as channel:
                results += [channel.send(_email(n)) for n in range(2)]
    assert [r.status for r in results] == ["sent", "sent", "soft_failure", "soft_failure"]
    assert "535" in results[2].detail, "a refused login is the settings' fault: retry later"
    assert recorder.logins == [b"leadsift"] and len(recorder.messages) == 2


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    server_context, client_context = _tls_contexts(certificate)
    recorder = Recorder()
    with _serving(recorder, ssl_context=server_context) as port:
        settings = _settings(port, smtp_security="tls")
        with SmtpChannel(settings, ssl_context=client_context) as channel:
            result = channel.send(_email(1))
    assert result.status == "sent" and len(recorder.messages) == 1


def test_factories_pick_the_transport(tmp_path: Path) -> None:
    assert isinstance(email_channel(_settings(25)), SmtpChannel)
    channel = email_channel(Settings(outbox_dir=str(tmp_path)))
    assert isinstance(channel, FileEmailChannel) and channel.directory == tmp_path / "email"


def test_file_channel_writes_whole_eml_files(tmp_path: Path) -> None:
    when = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
    channel = FileEmailChannel(
        tmp_path / "email", from_address=SENDER, reply_to="c@exemple.fr", clock=lambda: when
    )
    with channel:
        results = [channel.send(_email(n)) for n in range(2)]
        again = channel.send(_email(1))  # a retried send replaces its file
    assert [r.status for r in results] == ["sent", "sent"]
    assert again.provider_id == results[1].provider_id
    files = sorted(path.name for path in (tmp_path / "email").iterdir())
    assert files == sorted(str(r.provider_id) for r in results)
    assert not any(name.startswith(TEMP_PREFIX) for name in files)
    parsed = _parse((tmp_path / "email" / files[0]).read_bytes())
    assert parsed["Message-ID"] == _email(0).message_id
    assert parsed["Date"] == "Mon, 02 Jun 2025 09:30:00 +0000"
    assert parsed["Reply-To"] == "c@exemple.fr"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
