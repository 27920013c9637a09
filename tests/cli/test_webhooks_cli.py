"""`leadsift webhook add|list|disable|deliveries|run|test` against a fresh database and a real
receiver; every command with --json prints one document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert

import leadsift.cli
from leadsift.config import Settings
from leadsift.contacts.models import Contact
from leadsift.db import Database
from leadsift.kit.clock import utcnow
from leadsift.webhooks.cli import register
from leadsift.webhooks.signing import verify
from tests.cli.helpers import Result, run
from tests.integration.test_webhooks import Receiver, _serve


@pytest.fixture(autouse=True)
def webhook_commands() -> Iterator[None]:
    """The `webhook` group on the root command (added here until the root CLI wires it)."""
    groups = leadsift.cli.app.registered_groups
    present = any(group.name == "webhook" for group in groups)
    if not present:
        register(leadsift.cli.app)
    yield
    if not present:
        groups[:] = [group for group in groups if group.name != "webhook"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _serve()


def _json(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> Any:
    result = run(capsys, "--db", url, "--json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


def _fails(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> Result:
    result = run(capsys, "--db", url, "--json", *args)
    assert result.code != 0
    return result


def test_add_run_list_deliveries_disable(
    capsys: pytest.CaptureFixture[str], committed_db_url: str, receiver: Receiver
) -> None:
    db = committed_db_url
    created = _json(capsys, db, "webhook", "add", receiver.url(), "--events", "qualified",
                    "--description", "CRM")  # fmt: skip
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["contact.qualified"]
    listed = _json(capsys, db, "webhook", "list")["endpoints"]
    assert [(e["id"], e["description"]) for e in listed] == [(created["id"], "CRM")]
    assert "secret" not in listed[0]
    assert created["secret"] not in json.dumps(listed)

    # A lead moved by hand, through the CLI as an operator would.
    lead = _make_lead(db)
    _json(capsys, db, "contacts", "set-stage", lead, "qualified", "--reason", "hand_raiser")
    summary = _json(capsys, db, "webhook", "run")
    assert summary["derived"] == {"contact.qualified": 1}
    assert summary["delivered"] == 1
    (received,) = receiver.received
    assert verify(created["secret"], received.headers["Leadsift-Signature"], received.body,
                  utcnow())  # fmt: skip
    assert _json(capsys, db, "webhook", "run")["delivered"] == 0

    found = _json(capsys, db, "webhook", "deliveries", "--endpoint", str(created["id"]))
    (row,) = found["deliveries"]
    assert [row[k] for k in ("event_type", "status", "attempts")] == [
        "contact.qualified",
        "delivered",
        1,
    ]
    assert _json(capsys, db, "webhook", "deliveries", "--status", "failed")["deliveries"] == []

    ping = _json(capsys, db, "webhook", "test", str(created["id"]))
    assert [ping[k] for k in ("event_type", "status", "last_status_code")] == [
        "ping",
        "delivered",
        200,
    ]
    assert receiver.received[-1].document["data"] == {"endpoint_id": created["id"]}

    disabled = _json(capsys, db, "webhook", "disable", str(created["id"]))
    assert disabled["disabled_at"] is not None
    refused = _fails(capsys, db, "webhook", "test", str(created["id"]))
    assert "disabled" in refused.err


def _make_lead(url: str) -> str:
    """A lead, committed; its email (what `contacts set-stage` takes)."""
    database = Database(url, Settings(database_url=url)).ready()
    try:
        with database.unit_of_work() as session:
            now = utcnow()
            session.execute(
                insert(Contact).values(
                    email="lea@example.com", stage="lead", attrs={}, created_at=now, updated_at=now
                )
            )
    finally:
        database.dispose()
    return "lea@example.com"


def test_the_secret_is_printed_alone_on_stdout(
    capsys: pytest.CaptureFixture[str], committed_db_url: str
) -> None:
    result = run(capsys, "--db", committed_db_url, "webhook", "add", "https://crm.example.com/h",
                 "--events", "score_crossed", "--threshold", "interest>=60")  # fmt: skip
    assert result.code == 0, result.err
    assert result.out.strip().startswith("whsec_")
    assert len(result.out.strip().splitlines()) == 1
    assert "not shown again" in result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "ftp://example.com/x", "--events", "qualified"), "http(s) URL"),
        (("add", "https://u:p@example.com/x", "--events", "qualified"), "credentials"),
        (("add", "https://example.com/x", "--events", "bought"), "unknown event"),
        (("add", "https://example.com/x", "--events", "score_crossed"), "needs a threshold"),
        (("add", "https://example.com/x", "--events", "qualified", "--threshold", "interest>=5"),
         "a threshold needs the score_crossed"),
        (("disable", "99"), "no webhook endpoint 99"),
        (("test", "99"), "no webhook endpoint 99"),
        (("deliveries", "--status", "lost"), "--status 'lost'"),
        (("deliveries", "--endpoint", "7"), "no webhook endpoint 7"),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_line(
    capsys: pytest.CaptureFixture[str], committed_db_url: str, args: tuple[str, ...], message: str
) -> None:
    result = _fails(capsys, committed_db_url, "webhook", *args)
    assert result.code == 1
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert _json(capsys, committed_db_url, "webhook", "list") == {"endpoints": []}


def test_an_id_beyond_the_database_s_integers_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], committed_db_url: str
) -> None:
    result = run(capsys, "--db", committed_db_url, "webhook", "disable", str(2**63))
    assert result.code == 2


def test_a_failed_ping_is_shown_and_never_retried(
    capsys: pytest.CaptureFixture[str], committed_db_url: str, receiver: Receiver
) -> None:
    receiver.status = 500
    created = _json(capsys, committed_db_url, "webhook", "add", receiver.url(), "--events",
                    "customer")  # fmt: skip
    ping = _json(capsys, committed_db_url, "webhook", "test", str(created["id"]))
    assert [ping[k] for k in ("status", "last_status_code", "last_error")] == [
        "gave_up",
        500,
        "HTTP 500",
    ]
    table = run(capsys, "--db", committed_db_url, "webhook", "deliveries")
    assert table.code == 0
    assert "500" in table.out  # the table (narrow here) shows the last answer
    listed = _json(capsys, committed_db_url, "webhook", "deliveries", "--status", "gave_up")
    assert [d["event_type"] for d in listed["deliveries"]] == ["ping"]
    assert _json(capsys, committed_db_url, "webhook", "run")["gave_up"] == 0
    assert len(receiver.received) == 1
