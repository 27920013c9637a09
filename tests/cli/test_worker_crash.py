"""The acceptance run of the outbox: a campaign to 10,000 contacts through a real SMTP sink,
the worker killed with SIGKILL ten times mid-campaign and restarted. Nobody gets a message
twice, nobody eligible is lost, and the messages whose fate is unknown are listed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from leadsift.contacts.models import Contact
from leadsift.db import Database
from leadsift.outreach.models import OutboxMessage
from tests.cli.helpers import run
from tests.outreach_helpers import SmtpSink, write_people, write_template

ELIGIBLE = 10_000
KILLS = 10
# Messages on the wire at once in one worker process (its default lanes).
LANES = 4
pytestmark = pytest.mark.slow


def _worker(url: str, sink: SmtpSink, *, once: bool) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LEADSIFT_EMAIL_TRANSPORT": "smtp",
        "LEADSIFT_SMTP_HOST": "127.0.0.1",
        "LEADSIFT_SMTP_PORT": str(sink.port),
        "LEADSIFT_EMAIL_FROM": "news@exemple.fr",
        "LEADSIFT_PUBLIC_URL": "https://track.exemple.fr",
    }
    args = [sys.executable, "-m", "leadsift.cli", "--db", url, "worker", "--batch", "50"]
    if once:
        args.append("--once")
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_kill_9_ten_times_mid_campaign_no_duplicate_no_loss(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, committed_db_url: str
) -> None:
    url = committed_db_url
    people = [(f"P{i}", f"p{i}@exemple.fr", "oui") for i in range(ELIGIBLE)]
    people += [(f"N{i}", f"n{i}@exemple.fr", "non") for i in range(200)]
    assert (
        run(
            capsys, "--db", url, "import", "contacts", str(write_people(tmp_path / "p.csv", people))
        ).code
        == 0
    )
    template = write_template(tmp_path / "t.yaml")
    assert run(capsys, "--db", url, "campaign", "create", "big", "--template", str(template),
               "--stage", "contact").code == 0  # fmt: skip
    assert run(capsys, "--db", url, "campaign", "schedule", "big").code == 0
    rng = random.Random(20261130)
    with SmtpSink() as sink:
        for _ in range(KILLS):
            worker = _worker(url, sink, once=False)
            before = len(sink.handler.messages)
            # Kill it once it is sending for real (not while it imports).
            deadline = time.monotonic() + 60
            while len(sink.handler.messages) < before + rng.randint(50, 900):
                assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
                assert time.monotonic() < deadline, "the worker sent nothing for a minute"
                time.sleep(0.01)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        final = _worker(url, sink, once=True)
        assert final.wait(timeout=600) == 0, final.stderr.read() if final.stderr else ""
        received = sink.handler.recipients()
    assert len(received) >= ELIGIBLE - KILLS * LANES
    assert max(received.values()) == 1, "a message was sent twice"
    database = Database(url)
    with database.unit_of_work(read_only=True) as session:
        rows = session.execute(
            select(Contact.email, OutboxMessage.status, OutboxMessage.reason).join(
                Contact, Contact.id == OutboxMessage.contact_id
            )
        ).all()
    database.dispose()
    statuses = {email: status for email, status, _ in rows}
    assert len(statuses) == ELIGIBLE  # the ineligible never got an outbox row
    assert set(statuses.values()) <= {"sent", "ambiguous"}
    ambiguous = {email for email, status in statuses.items() if status == "ambiguous"}
    assert len(ambiguous) <= KILLS * LANES  # at most one per lane per kill
    for email, status in statuses.items():
        # No loss: every eligible contact received it, or its message is listed as ambiguous.
        assert email in received or email in ambiguous, email
        if status == "sent":
            assert email in received, email
    assert not any(e.startswith("n") for e in received)
    listed = run(capsys, "--db", url, "--json", "outbox", "ambiguous")
    assert len(json.loads(listed.out)["ambiguous"]) == len(ambiguous)
