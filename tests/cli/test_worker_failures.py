"""The worker against an SMTP server that refuses, defers, is down or drops the connection:
nothing sent twice, nothing lost, every fate recorded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadsift.config import Settings
from leadsift.kit.clock import utcnow
from leadsift.outreach.retries import SOFT_FAILURE_LIMIT
from tests.outreach_helpers import (
    SmtpSink,
    cli_json,
    free_port,
    run_worker,
    write_people,
    write_template,
)

PEOPLE = [(f"Ann{i}", f"ann{i}@exemple.fr", "oui") for i in range(6)]


class Clock:
    """A clock the test moves forward (retries fall due later)."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def _work(url: str, port: int, clock: Clock, **options: Any) -> dict[str, int]:
    settings = Settings(database_url=url, email_transport="smtp", smtp_host="127.0.0.1",
                        smtp_port=port, smtp_timeout_s=2.0, email_from="news@exemple.fr",
                        public_url="https://track.exemple.fr")  # fmt: skip
    return run_worker(settings, clock=clock, **options)


@pytest.fixture
def scheduled(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, committed_db_url: str
) -> Iterator[str]:
    db = ("--db", committed_db_url, "--json")
    cli_json(capsys, *db, "import", "contacts", str(write_people(tmp_path / "p.csv", PEOPLE)))
    template = write_template(tmp_path / "t.yaml")
    cli_json(
        capsys, *db, "campaign", "create", "c", "--template", str(template), "--stage", "contact"
    )
    cli_json(capsys, *db, "campaign", "schedule", "c")
    yield committed_db_url


def _status(capsys: pytest.CaptureFixture[str], url: str) -> dict[str, Any]:
    return cli_json(capsys, "--db", url, "--json", "campaign", "status", "c")


def test_a_server_that_is_down_loses_nothing(
    capsys: pytest.CaptureFixture[str], scheduled: str
) -> None:
    clock, port = Clock(), free_port()
    assert _work(scheduled, port, clock, lanes=1) == {"server_down": 1}
    assert _status(capsys, scheduled)["outbox"] == {"0": {"pending": 6}}
    # Nothing is due before the back-off: a run now sends nothing, even with the server up.
    with SmtpSink() as sink:
        assert _work(scheduled, sink.port, clock) == {}
        clock.now += timedelta(minutes=2)
        assert _work(scheduled, sink.port, clock) == {"sent": 6}
        assert max(sink.handler.recipients().values()) == 1
    assert _status(capsys, scheduled)["outbox"] == {"0": {"sent": 6}}


def test_refused_deferred_and_dropped_messages_each_get_their_fate(
    capsys: pytest.CaptureFixture[str], scheduled: str
) -> None:
    clock = Clock()
    with SmtpSink() as sink:
        sink.handler.refuse.add("ann1@exemple.fr")
        sink.handler.defer.add("ann2@exemple.fr")
        sink.handler.drop.add("ann3@exemple.fr")
        first = _work(scheduled, sink.port, clock, lanes=1)
        assert first == {"sent": 3, "bounced": 1, "retried": 1, "ambiguous": 1}
        # The dropped message is never sent again; the deferred one is, after its back-off.
        for _ in range(SOFT_FAILURE_LIMIT):
            clock.now += timedelta(hours=7)
            _work(scheduled, sink.port, clock, lanes=1)
        received = sink.handler.recipients()
    assert received == {"ann0@exemple.fr": 1, "ann4@exemple.fr": 1, "ann5@exemple.fr": 1}
    assert sink.handler.dropped == ["ann3@exemple.fr"]
    status = _status(capsys, scheduled)
    assert status["outbox"] == {"0": {"ambiguous": 1, "bounced": 1, "failed": 1, "sent": 3}}
    assert status["reasons"] == {"hard_bounce": 1, "no_final_answer": 1, "soft_bounce_limit": 1}
    listed = cli_json(capsys, "--db", scheduled, "--json", "outbox", "ambiguous")["ambiguous"]
    assert [row["reason"] for row in listed] == ["no_final_answer"]
    # Only the address that bounced is suppressed, on email.
    bounced = cli_json(capsys, "--db", scheduled, "--json", "consent", "show", "ann1@exemple.fr")
    assert bounced["suppressed"] == {"email": "hard_bounce"}
    assert bounced["decisions"]["email"]["reason"] == "suppressed"
    deferred = cli_json(capsys, "--db", scheduled, "--json", "consent", "show", "ann2@exemple.fr")
    assert deferred["suppressed"] == {"email": "soft_bounce_limit"}


def test_a_server_refusing_our_sender_suppresses_nobody(
    capsys: pytest.CaptureFixture[str], scheduled: str
) -> None:
    clock = Clock()
    with SmtpSink() as sink:
        sink.handler.refuse_sender = True
        for _ in range(SOFT_FAILURE_LIMIT):
            _work(scheduled, sink.port, clock, lanes=1)
            clock.now += timedelta(hours=7)
        assert sink.handler.recipients() == {}
        # Retried with back-off while someone could fix the settings, then failed with the
        # reason (the campaign's status shows it); nobody is suppressed for our mistake.
        status = _status(capsys, scheduled)
        assert status["reasons"] == {"refused_by_server": 6}
    shown = cli_json(capsys, "--db", scheduled, "--json", "consent", "show", "ann1@exemple.fr")
    assert shown["suppressed"] == {} and shown["decisions"]["email"]["allowed"] is True
