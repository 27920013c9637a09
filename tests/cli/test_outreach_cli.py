"""Outreach end to end through the CLI and a real SMTP sink: consent gate, campaign, worker,
unsubscribe mid-campaign, promo codes, sequences."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leadsift.api import create_app
from leadsift.config import Settings
from leadsift.db import Database
from leadsift.engagement.models import Event
from leadsift.engagement.tracked_links import tracking_secret
from leadsift.kit.clock import utcnow
from leadsift.outreach import unsubscribe
from leadsift.outreach.models import OutboxMessage
from tests.cli.helpers import run
from tests.outreach_helpers import (
    PROMO_TEMPLATE,
    SmtpSink,
    cli_json,
    run_worker,
    write_people,
    write_template,
)

PEOPLE = (
    [(f"Ann{i}", f"ann{i}@exemple.fr", "oui") for i in range(30)]
    + [(f"Bob{i}", f"bob{i}@exemple.fr", "non") for i in range(5)]
    + [(f"Cid{i}", f"cid{i}@exemple.fr", "") for i in range(5)]
)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def _settings(url: str, sink: SmtpSink) -> Settings:
    return Settings(
        database_url=url,
        email_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        smtp_timeout_s=5.0,
        email_from="news@exemple.fr",
        public_url="https://track.exemple.fr",
    )


def _work(url: str, sink: SmtpSink, **options: Any) -> dict[str, int]:
    settings = _settings(url, sink)
    return run_worker(settings, **options)


@pytest.fixture
def workspace(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, committed_db_url: str
) -> tuple[str, Path]:
    people = write_people(tmp_path / "people.csv", PEOPLE)
    cli_json(capsys, "--db", committed_db_url, "--json", "import", "contacts", str(people))
    return committed_db_url, write_template(tmp_path / "offer.yaml")


def test_a_campaign_reaches_each_eligible_contact_exactly_once(
    capsys: pytest.CaptureFixture[str], workspace: tuple[str, Path], sink: SmtpSink
) -> None:
    url, template = workspace
    db = ("--db", url, "--json")
    cli_json(capsys, *db, "consent", "withdraw", "ann0@exemple.fr", "--channel", "email")
    cli_json(capsys, *db, "campaign", "create", "spring", "--template", str(template),
          "--stage", "contact")  # fmt: skip
    preview = cli_json(capsys, *db, "campaign", "preview", "spring", "--contact", "ann1@exemple.fr")
    assert preview["decision"]["allowed"] is True
    assert preview["subject"].startswith("Ann1, votre offre")
    assert preview["skipped"] == {"suppressed": 1, "withdrawn": 5, "no_opt_in": 5}
    scheduled = cli_json(capsys, *db, "campaign", "schedule", "spring")
    assert scheduled["prepared"]["recipients"] == 29
    assert _work(url, sink) == {"sent": 29}
    received = sink.handler.recipients()
    assert received == {f"ann{i}@exemple.fr": 1 for i in range(1, 30)}
    first = sink.handler.messages[0]
    assert first["list_unsubscribe"].startswith("<https://track.exemple.fr/u/")
    assert first["list_unsubscribe_post"] == "List-Unsubscribe=One-Click"
    assert "https://track.exemple.fr/u/" in first["text"]
    # A second worker run finds nothing due: nothing is sent twice.
    assert _work(url, sink) == {}
    assert len(sink.handler.messages) == 29
    status = cli_json(capsys, *db, "campaign", "status", "spring")
    assert status["outbox"] == {"0": {"sent": 29}}
    database = Database(url)
    with database.unit_of_work(read_only=True) as session:
        sent_events = session.scalar(
            select(func.count()).where(Event.type == "email_sent", Event.campaign == "spring")
        )
    database.dispose()
    assert sent_events == 29


def test_an_unsubscribe_mid_campaign_stops_every_later_message(
    capsys: pytest.CaptureFixture[str], workspace: tuple[str, Path], sink: SmtpSink
) -> None:
    url, template = workspace
    db = ("--db", url, "--json")
    cli_json(capsys, *db, "campaign", "create", "news", "--template", str(template),
          "--target", 'email startswith "ann"')  # fmt: skip
    cli_json(capsys, *db, "campaign", "schedule", "news")
    assert _work(url, sink, max_messages=10, batch=5) == {"sent": 10}
    settings = _settings(url, sink)
    with TestClient(create_app(settings)) as client:
        database = Database(url)
        with database.unit_of_work(read_only=True) as session:
            contact_id = (
                session.execute(
                    select(OutboxMessage.contact_id)
                    .where(OutboxMessage.status == "pending")
                    .order_by(OutboxMessage.id)
                )
                .scalars()
                .first()
            )
            token = unsubscribe.token(tracking_secret(session), int(contact_id), "email", "news")
        database.dispose()
        page = client.get(f"/u/{token}")
        assert page.status_code == 200 and "<form" in page.text
        assert client.get(f"/u/{token}").status_code == 200  # a GET changes nothing
        answer = client.post(
            f"/u/{token}", data={"List-Unsubscribe": "One-Click"}, follow_redirects=False
        )
        assert answer.status_code == 200 and "set-cookie" not in answer.headers
        assert client.post(f"/u/{token}x", data={}).status_code == 404  # tampered
    outcomes = _work(url, sink)
    assert outcomes == {"sent": 19, "skipped": 1}
    status = cli_json(capsys, *db, "campaign", "status", "news")
    assert status["reasons"] == {"suppressed": 1}
    assert max(sink.handler.recipients().values()) == 1


def test_a_redeemed_code_makes_a_customer_attributed_to_its_campaign(
    capsys: pytest.CaptureFixture[str],
    workspace: tuple[str, Path],
    sink: SmtpSink,
    tmp_path: Path,
) -> None:
    url, template = workspace
    db = ("--db", url, "--json")
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text('name: Offre\neligibility: email startswith "ann"\n', encoding="utf-8")
    cli_json(capsys, *db, "qualify", "--playbook", str(playbook))
    cli_json(capsys, *db, "promo", "program", "create", "welcome", "--discount", "20%")
    template = write_template(tmp_path / "promo.yaml", PROMO_TEMPLATE)
    cli_json(capsys, *db, "campaign", "create", "promo-spring", "--template", str(template),
          "--stage", "lead", "--promo", "welcome", "--control", "50%")  # fmt: skip
    scheduled = cli_json(capsys, *db, "campaign", "schedule", "promo-spring")
    treated, held_out = scheduled["prepared"]["recipients"], scheduled["prepared"]["control"]
    # Half held out at random: both groups are non-empty but for a 1-in-a-billion draw.
    assert treated + held_out == 30 and held_out >= 1 and treated >= 1
    assert _work(url, sink) == {"sent": treated}
    text = sink.handler.messages[0]["text"]
    code = text.split("Votre code : ")[1].split()[0]
    done = cli_json(capsys, *db, "promo", "redeem", code.lower(), "--amount", "42.5")
    assert done["stage"] == "customer" and done["campaign"] == "promo-spring"
    shown = cli_json(capsys, *db, "contacts", "show", str(done["contact_id"]))
    assert shown["stage"] == "customer" and shown["stage_reason"] == "promo_redeemed"
    again = run(capsys, *db, "promo", "redeem", code)
    assert again.code == 1 and "already" in again.err
    unknown = run(capsys, *db, "promo", "redeem", "NOPE-NOPE-22")
    assert unknown.code == 1 and "no promo code" in unknown.err


def test_a_sequence_stops_for_those_who_replied(
    capsys: pytest.CaptureFixture[str], workspace: tuple[str, Path], sink: SmtpSink
) -> None:
    url, template = workspace
    db = ("--db", url, "--json")
    cli_json(capsys, *db, "campaign", "create", "drip", "--template", str(template),
          "--target", 'email in ("ann1@exemple.fr", "ann2@exemple.fr")',
          "--then", f"1s:{template}")  # fmt: skip
    cli_json(capsys, *db, "campaign", "schedule", "drip")
    assert _work(url, sink) == {"sent": 2}
    events = [{"type": "email_replied", "email": "ann1@exemple.fr",
               "occurred_at": (utcnow() + timedelta(milliseconds=1)).isoformat()}]  # fmt: skip
    file = Path(template).with_name("replies.jsonl")
    file.write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")
    cli_json(capsys, *db, "import", "events", str(file))
    time.sleep(1.1)
    assert _work(url, sink) == {"sent": 1, "stopped": 1}
    assert sink.handler.recipients() == {"ann1@exemple.fr": 1, "ann2@exemple.fr": 2}


def test_bad_campaign_input_is_refused_with_a_precise_message(
    capsys: pytest.CaptureFixture[str], workspace: tuple[str, Path], tmp_path: Path
) -> None:
    url, template = workspace
    db = ("--db", url)
    no_link = write_template(tmp_path / "bad.yaml", "channel: email\ndefault_language: fr\n"
                             "fr:\n  subject: Hi\n  text: Bonjour\n")  # fmt: skip
    result = run(
        capsys, *db, "campaign", "create", "x", "--template", str(no_link), "--stage", "lead"
    )
    assert result.code == 1 and "unsubscribe" in result.err
    undefined = write_template(tmp_path / "undef.yaml", "channel: email\ndefault_language: fr\n"
                               "fr:\n  subject: Hi {{ contact.nickname }}\n"
                               "  text: '{{ unsubscribe_url }}'\n")  # fmt: skip
    result = run(
        capsys, *db, "campaign", "create", "x", "--template", str(undefined), "--stage", "lead"
    )
    assert result.code == 1 and "nickname" in result.err
    result = run(capsys, *db, "campaign", "create", "x", "--template", str(template),
                 "--target", "age >>= 3")  # fmt: skip
    assert result.code == 1 and "error:" in result.err and "Traceback" not in result.err
    assert run(capsys, *db, "promo", "program", "create", "old", "--discount", "10%",
               "--until", "2020-01-31T23:59+01:00").code == 0  # fmt: skip
    promo = write_template(tmp_path / "promo.yaml", PROMO_TEMPLATE)
    result = run(capsys, *db, "campaign", "create", "x", "--template", str(promo),
                 "--stage", "lead", "--promo", "old")  # fmt: skip
    assert result.code == 1 and "ended on 2020-01-31" in result.err
    listed = run(capsys, "--db", url, "--json", "campaign", "list")
    assert json.loads(listed.out) == {"campaigns": []}


def test_an_unexpected_database_error_never_prints_personal_data(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The one-line error of a database failure names the driver's error, not the statement and
    its values (an email in a log is personal data)."""
    from sqlalchemy.exc import IntegrityError

    from leadsift.outreach import campaigns

    def failing(*args: Any, **kwargs: Any) -> None:
        raise IntegrityError(
            "INSERT INTO contacts (email) VALUES (?)",
            {"email": "secret.person@exemple.fr"},
            Exception("UNIQUE constraint failed\nDETAIL: Key (email)=(secret.person@exemple.fr)"),
        )

    monkeypatch.setattr(campaigns, "list_all", failing)
    result = run(capsys, "--db", f"sqlite:///{tmp_path / 'x.db'}", "campaign", "list")
    assert result.code == 1
    assert "UNIQUE constraint failed" in result.err
    assert "secret.person" not in result.err and "INSERT" not in result.err


def test_pause_holds_every_message_and_resume_sends_them_at_the_pace(
    capsys: pytest.CaptureFixture[str], workspace: tuple[str, Path], sink: SmtpSink
) -> None:
    url, template = workspace
    db = ("--db", url, "--json")
    cli_json(capsys, *db, "campaign", "create", "slow", "--template", str(template),
          "--target", 'email startswith "ann"', "--throttle", "60/h")  # fmt: skip
    cli_json(capsys, *db, "campaign", "schedule", "slow")
    paused = cli_json(capsys, *db, "campaign", "pause", "slow")
    assert paused["status"] == "paused"
    assert _work(url, sink) == {}
    assert run(capsys, *db, "campaign", "pause", "slow").code == 1  # already paused
    cli_json(capsys, *db, "campaign", "resume", "slow")
    # One a minute: only the first is due now.
    assert _work(url, sink) == {"sent": 1}
    history = cli_json(capsys, *db, "campaign", "status", "slow")["history"]
    assert [(h["from"], h["to"]) for h in history] == [
        (None, "draft"), ("draft", "scheduled"), ("scheduled", "paused"), ("paused", "scheduled")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--control", "ten"], "--control 'ten': give a share such as 10%"),
        (["--control", "80%"], "--control: give a share from 0 to 50%"),
        (["--throttle", "fast"], "--throttle 'fast': give a rate such as 500/h"),
        (["--throttle", "0/h"], "--throttle '0/h'"),
        (["--then", "soon:x.yaml"], "--then 'soon:x.yaml': give DELAY:FILE"),
        (["--then", "3d:missing.yaml"], "missing.yaml: no such template file"),
        (["--audience", "b2x"], "unknown audience 'b2x'"),
        (["--promo", "nope"], "no promo program 'nope'"),
        (["--link", "javascript:alert(1)"], "javascript:alert(1)"),
    ],
)
def test_garbage_campaign_options_are_refused_and_nothing_is_stored(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    options: list[str],
    message: str,
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    template = write_template(tmp_path / "t.yaml")
    result = run(capsys, "--db", url, "campaign", "create", "c", "--template", str(template),
                 "--stage", "lead", *options)  # fmt: skip
    assert result.code == 1 and message in result.err, result.err
    assert "Traceback" not in result.err
    assert cli_json(capsys, "--db", url, "--json", "campaign", "list") == {"campaigns": []}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["campaign", "create", "c", "--template", "none.yaml", "--stage", "lead"],
         "none.yaml: no such template file"),
        (["campaign", "schedule", "ghost"], "no campaign 'ghost'"),
        (["campaign", "schedule", "c", "--at", "tomorrow"], "--at 'tomorrow': give an ISO"),
        (["campaign", "schedule", "c", "--at", "2026-12-01T09:00"], "add the offset"),
        (["promo", "program", "create", "p", "--discount", " "], "--discount: say what"),
        (["promo", "program", "create", "p", "--discount", "5%", "--from", "2026-12-02T00:00Z",
          "--until", "2026-12-01T00:00Z"], "--until must be later than --from"),
        (["promo", "program", "create", "p", "--discount", "5%", "--until", "next week"],
         "--until 'next week'"),
        (["promo", "program", "create", "p", "--discount", "5%", "--prefix", "ab"], "prefix"),
        (["gdpr", "erase", "nobody@exemple.fr", "--yes"], "nobody@exemple.fr"),
        (["gdpr", "export", "nobody@exemple.fr"], "nobody@exemple.fr"),
    ],
)  # fmt: skip
def test_garbage_for_campaign_promo_and_gdpr_commands_gets_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    template = write_template(tmp_path / "t.yaml")
    cli_json(capsys, "--db", url, "--json", "campaign", "create", "c", "--template",
             str(template), "--stage", "lead")  # fmt: skip
    result = run(capsys, "--db", url, *args)
    assert result.code == 1 and message in result.err, result.err
    assert "Traceback" not in result.err
    assert cli_json(capsys, "--db", url, "--json", "campaign", "status", "c")["status"] == "draft"
    listed = cli_json(capsys, "--db", url, "--json", "promo", "program", "list")
    assert listed == {"programs": []}
