"""What the outreach tests share: a real SMTP sink (aiosmtpd), contact files with consent,
message templates."""

from __future__ import annotations

import email
import json
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from leadsift.config import Settings
from leadsift.db import Database
from leadsift.kit.clock import utcnow
from leadsift.outreach.campaign_cli import sending
from leadsift.outreach.channels import email_channel, sms_channel
from leadsift.outreach.worker import Worker, WorkerOptions
from tests.cli.helpers import run

HOST = "127.0.0.1"

EMAIL_TEMPLATE = """\
channel: email
default_language: fr
fr:
  subject: "{{ contact.first_name }}, votre offre {{ offer.name or '' }}"
  text: |
    Bonjour {{ contact.first_name }},
    Se désinscrire : {{ unsubscribe_url }}
en:
  subject: "{{ contact.first_name }}, your offer"
  text: |
    Hello {{ contact.first_name }},
    Unsubscribe: {{ unsubscribe_url }}
"""
PROMO_TEMPLATE = """\
channel: email
default_language: fr
fr:
  subject: "{{ contact.first_name }}, -20 %"
  text: |
    Bonjour {{ contact.first_name }},
    Votre code : {{ promo_code }}
    Se désinscrire : {{ unsubscribe_url }}
"""


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class SinkHandler:
    """Records every accepted message: its recipient and parsed headers/body. Addresses in
    REFUSE get 550 at RCPT, in DEFER 451; for an address in DROP the connection is closed once
    the content is received, before any answer (the client cannot know whether it was taken)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    refuse: set[str] = field(default_factory=set)
    defer: set[str] = field(default_factory=set)
    drop: set[str] = field(default_factory=set)
    dropped: list[str] = field(default_factory=list)
    refuse_sender: bool = False

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        """Refuse our sender when told to (a server-side setting, not about any recipient)."""
        if self.refuse_sender:
            return "553 5.7.1 sender address rejected: not owned by user"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        """Refuse or defer the addresses told to; accept the others."""
        if address in self.refuse:
            return "550 5.1.1 no such user"
        if address in self.defer:
            return "451 4.2.0 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Accept the message and keep it (or drop the connection, for DROP)."""
        if set(envelope.rcpt_tos) & self.drop:
            with self.lock:
                self.dropped.extend(envelope.rcpt_tos)
            server.transport.close()
            return "421 closing"
        parsed = email.message_from_bytes(envelope.content, policy=default)
        body = parsed.get_body(preferencelist=("plain",))
        record = {
            "to": list(envelope.rcpt_tos),
            "message_id": parsed["Message-ID"],
            "subject": parsed["Subject"],
            "list_unsubscribe": parsed["List-Unsubscribe"],
            "list_unsubscribe_post": parsed["List-Unsubscribe-Post"],
            "text": body.get_content() if body is not None else "",
        }
        with self.lock:
            self.messages.append(record)
        return "250 2.0.0 Ok queued"

    def recipients(self) -> Counter[str]:
        """How many messages each address received."""
        with self.lock:
            return Counter(to for m in self.messages for to in m["to"])


class SmtpSink:
    """A real SMTP server on 127.0.0.1 in a thread of the test process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = SinkHandler()
        self.controller = Controller(self.handler, hostname=HOST, port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def write_people(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    """A contacts CSV of (first name, email, consent_email) rows."""
    lines = ["first_name,email,consent_email,language"]
    lines += [f"{first},{address},{consent},fr" for first, address, consent in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_template(path: Path, text: str = EMAIL_TEMPLATE) -> Path:
    """A template file."""
    path.write_text(text, encoding="utf-8")
    return path


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """Run `leadsift ARGS…` (with --json among them), check it succeeded, return its document."""
    result = run(capsys, *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


def run_worker(
    settings: Settings, *, clock: Callable[[], datetime] = utcnow, **options: Any
) -> dict[str, int]:
    """Run the outbox worker in this process (`--once` unless told otherwise); its outcomes."""
    database = Database(settings.database_url, settings).ready()
    try:
        worker = Worker(
            database,
            sending=sending(settings),
            email=lambda: email_channel(settings),
            sms=lambda: sms_channel(settings),
            options=WorkerOptions(**{"once": True, **options}),
            clock=clock,
        )
        return worker.run().outcomes
    finally:
        database.dispose()


# Three people for campaign tests: Ana (French) and Bob (English) agreed to emails; Cyd refused.
CAMPAIGN_PEOPLE = """\
first_name,email,consent_email,language
Ana,ana@exemple.fr,oui,fr
Bob,bob@exemple.fr,oui,en
Cyd,cyd@exemple.fr,non,fr
"""


def import_campaign_people(
    capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path
) -> dict[str, int]:
    """Import CAMPAIGN_PEOPLE with the CLI; their contact ids by first name in lower case."""
    file = tmp_path / "people.csv"
    file.write_text(CAMPAIGN_PEOPLE, encoding="utf-8")
    db = ("--db", db_url, "--json")
    cli_json(capsys, *db, "import", "contacts", str(file))
    return {
        name: int(cli_json(capsys, *db, "contacts", "show", f"{name}@exemple.fr")["id"])
        for name in ("ana", "bob", "cyd")
    }
