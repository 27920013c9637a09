"""`leadsift consent grant|withdraw|show` with --json: the append-only ledger, the state derived
from it, suppressions, the B2B audience, lifting one's own opt-out (not a bounce), and bad
input refused with a precise message."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from leadsift.config import Settings
from leadsift.contacts.models import ConsentRecord, ConsentWording
from leadsift.db import Database
from leadsift.engagement.models import Event
from leadsift.outreach.models import Suppression
from tests.cli.helpers import run
from tests.outreach_helpers import (
    HOST,
    SinkHandler,
    cli_json,
    free_port,
    run_worker,
    write_template,
)

WORDING = "J'accepte de recevoir les offres de BioLyon par e-mail. Désinscription à tout moment."
# (first name, email, consent_email, phone)
PEOPLE = [
    ("Uma", "uma@exemple.fr", "oui", "06 12 34 56 78"),
    ("Bea", "bea@exemple.fr", "oui", ""),
    ("Nils", "nils@exemple.fr", "", ""),
]
TEMPLATE = """\
channel: email
default_language: fr
fr:
  subject: "Bonjour {{ contact.first_name }}"
  text: "Se désinscrire : {{ unsubscribe_url }}"
"""


class BouncingSink(SinkHandler):
    """An SMTP sink that refuses bea@exemple.fr for good (550 at RCPT)."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        """Refuse the one unknown mailbox."""
        if address == "bea@exemple.fr":
            return "550 5.1.1 <bea@exemple.fr>: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def url(capsys: pytest.CaptureFixture[str], committed_db_url: str, tmp_path: Path) -> str:
    people = tmp_path / "people.csv"
    rows = "".join(f"{first},{mail},{yes},{phone}\n" for first, mail, yes, phone in PEOPLE)
    people.write_text("first_name,email,consent_email,phone\n" + rows, encoding="utf-8")
    cli_json(capsys, "--db", committed_db_url, "--json", "import", "contacts", str(people))
    return committed_db_url


def _consent(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> Any:
    return cli_json(capsys, "--db", url, "--json", "consent", *args)


def _counts(url: str) -> dict[str, int]:
    """Rows of the ledger, the wordings, the suppression list and the events."""
    database = Database(url)
    try:
        with database.unit_of_work(read_only=True) as session:
            return {
                model.__tablename__: int(session.scalar(select(func.count()).select_from(model)))
                for model in (ConsentRecord, ConsentWording, Suppression, Event)
            }
    finally:
        database.dispose()


def test_grant_with_wording_writes_a_ledger_row_with_its_hash(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    before = _counts(url)
    granted = _consent(capsys, url, "grant", "nils@exemple.fr", "--channel", "sms",
                       "--source", "call", "--wording", WORDING)  # fmt: skip
    assert granted["granted"] is True and granted["channel"] == "sms"
    after = _counts(url)
    assert after["consent_records"] == before["consent_records"] + 1
    assert after["consent_wordings"] == before["consent_wordings"] + 1
    shown = _consent(capsys, url, "show", "nils@exemple.fr")
    [entry] = [e for e in shown["ledger"] if e["id"] == granted["ledger_id"]]
    digest = hashlib.sha256(WORDING.encode("utf-8")).hexdigest()
    assert (entry["channel"], entry["granted"], entry["source"]) == ("sms", True, "call")
    assert entry["wording_hash"] == digest
    # The same wording again: a second ledger row, the wording stored once.
    _consent(capsys, url, "grant", "nils@exemple.fr", "--channel", "email", "--wording", WORDING)
    again = _counts(url)
    assert again["consent_records"] == after["consent_records"] + 1
    assert again["consent_wordings"] == after["consent_wordings"]
    without = _consent(capsys, url, "grant", "nils@exemple.fr", "--channel", "phone")
    shown = _consent(capsys, url, "show", "nils@exemple.fr")
    [entry] = [e for e in shown["ledger"] if e["id"] == without["ledger_id"]]
    assert entry["wording_hash"] is None


def test_withdrawing_twice_writes_once_and_the_latest_word_wins(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    before = _counts(url)
    first = _consent(capsys, url, "withdraw", "uma@exemple.fr", "--channel", "email")
    assert first["changed"] is True
    once = _counts(url)
    assert once == {**before, "consent_records": before["consent_records"] + 1,
                    "suppressions": before["suppressions"] + 1,
                    "events": before["events"] + 1}  # fmt: skip
    second = _consent(capsys, url, "withdraw", "uma@exemple.fr", "--channel", "email")
    assert second["changed"] is False
    assert _counts(url) == once, "a second withdrawal writes nothing"

    shown = _consent(capsys, url, "show", "uma@exemple.fr")
    assert [(e["channel"], e["granted"]) for e in shown["ledger"]] == [
        ("email", True), ("email", False)]  # fmt: skip
    assert shown["states"]["email"]["granted"] is False
    assert shown["states"]["email"]["entry_id"] == shown["ledger"][-1]["id"]
    assert shown["suppressed"] == {"email": "withdrawn"}
    assert shown["decisions"]["email"]["allowed"] is False
    # SMS is another channel: never stated, B2C needs an opt-in.
    assert shown["states"]["sms"]["granted"] is None
    assert shown["decisions"]["sms"]["reason"] == "no_opt_in"

    # A new yes without lifting: the ledger says granted, the suppression still holds.
    _consent(capsys, url, "grant", "uma@exemple.fr", "--channel", "email")
    shown = _consent(capsys, url, "show", "uma@exemple.fr")
    assert [e["granted"] for e in shown["ledger"]] == [True, False, True]
    assert shown["states"]["email"]["granted"] is True
    assert shown["suppressed"] == {"email": "withdrawn"}
    assert shown["decisions"]["email"]["reason"] == "suppressed"
    # Withdrawing again after that yes is a change: a new ledger row, no second suppression.
    assert _consent(capsys, url, "withdraw", "uma@exemple.fr", "--channel", "email")["changed"]
    shown = _consent(capsys, url, "show", "uma@exemple.fr")
    assert [e["granted"] for e in shown["ledger"]] == [True, False, True, False]
    assert _counts(url)["suppressions"] == once["suppressions"]


def test_withdrawing_a_channel_without_an_address_twice_writes_once(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    first = _consent(capsys, url, "withdraw", "nils@exemple.fr", "--channel", "sms")
    assert first["changed"] is True
    once = _counts(url)
    assert _consent(capsys, url, "withdraw", "nils@exemple.fr", "--channel", "sms") == {
        **first, "changed": False}  # fmt: skip
    assert _counts(url) == once
    shown = _consent(capsys, url, "show", "nils@exemple.fr")
    assert shown["states"]["sms"]["granted"] is False and shown["suppressed"] == {}
    assert shown["decisions"]["sms"]["reason"] == "no_address"


def test_a_business_audience_may_get_email_without_opt_in(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    consumer = _consent(capsys, url, "show", "nils@exemple.fr")
    assert consumer["audience"] == "b2c"
    assert consumer["states"]["email"]["granted"] is None
    assert (consumer["decisions"]["email"]["allowed"], consumer["decisions"]["email"]["reason"]) \
        == (False, "no_opt_in")  # fmt: skip
    business = _consent(capsys, url, "show", "nils@exemple.fr", "--audience", "b2b")
    assert business["audience"] == "b2b"
    assert business["decisions"]["email"]["allowed"] is True
    assert business["decisions"]["email"]["reason"] == "b2b_no_objection"
    assert business["decisions"]["ad_audience"]["allowed"] is False  # opt-in even in B2B
    _consent(capsys, url, "withdraw", "nils@exemple.fr", "--channel", "email")
    objected = _consent(capsys, url, "show", "nils@exemple.fr", "--audience", "b2b")
    assert objected["decisions"]["email"]["allowed"] is False


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("grant", "uma@exemple.fr", "--channel", "fax"),
         "unknown channel 'fax': use one of email, sms, phone, ad_audience"),
        (("withdraw", "uma@exemple.fr", "--channel", "Email"),
         "unknown channel 'Email': use one of email, sms, phone, ad_audience"),
        (("show", "uma@exemple.fr", "--audience", "b2x"), "unknown audience 'b2x'"),
        (("grant", "nobody@exemple.fr", "--channel", "email"), "no contact matches"),
        (("withdraw", "999999", "--channel", "email"), "no contact"),
        (("show", "06 99 99 99 99"), "no contact matches"),
        (("grant", "uma@exemple.fr", "--channel", "email", "--lift-suppression"), "--wording"),
    ],
)  # fmt: skip
def test_bad_input_exits_1_with_a_precise_message_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], url: str, args: tuple[str, ...], words: str
) -> None:
    before = _counts(url)
    result = run(capsys, "--db", url, "consent", *args)
    assert result.code == 1
    assert words in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1
    as_json = run(capsys, "--db", url, "--json", "consent", *args)
    assert as_json.code == 1 and words in as_json.json()["error"]["message"]
    assert _counts(url) == before


@pytest.fixture
def bouncing() -> Iterator[tuple[BouncingSink, int]]:
    handler, port = BouncingSink(), free_port()
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def _send_campaign(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path, port: int, target: str
) -> dict[str, int]:
    template = write_template(tmp_path / "mail.yaml", TEMPLATE)
    db = ("--db", url, "--json")
    cli_json(capsys, *db, "campaign", "create", "news", "--template", str(template),
          "--target", target)  # fmt: skip
    cli_json(capsys, *db, "campaign", "schedule", "news")
    settings = Settings(database_url=url, email_transport="smtp", smtp_host=HOST, smtp_port=port,
                        smtp_timeout_s=5.0, email_from="news@exemple.fr")  # fmt: skip
    return run_worker(settings)


def test_lifting_lifts_ones_own_opt_out_but_never_a_bounce(
    capsys: pytest.CaptureFixture[str],
    url: str,
    tmp_path: Path,
    bouncing: tuple[BouncingSink, int],
) -> None:
    handler, port = bouncing
    target = 'email in ("uma@exemple.fr", "bea@exemple.fr")'
    assert _send_campaign(capsys, url, tmp_path, port, target) == {"sent": 1, "bounced": 1}
    assert handler.recipients() == {"uma@exemple.fr": 1}
    bea = _consent(capsys, url, "show", "bea@exemple.fr")
    assert bea["suppressed"] == {"email": "hard_bounce"}

    _consent(capsys, url, "withdraw", "uma@exemple.fr", "--channel", "email")
    _consent(capsys, url, "withdraw", "uma@exemple.fr", "--channel", "sms")
    uma = _consent(capsys, url, "show", "uma@exemple.fr")
    assert uma["suppressed"] == {"email": "withdrawn", "sms": "withdrawn"}

    lifted = _consent(capsys, url, "grant", "uma@exemple.fr", "--channel", "email",
                      "--lift-suppression", "--wording", WORDING)  # fmt: skip
    assert lifted["granted"] is True
    uma = _consent(capsys, url, "show", "uma@exemple.fr")
    assert uma["states"]["email"]["granted"] is True
    assert uma["ledger"][-1]["wording_hash"] == hashlib.sha256(WORDING.encode()).hexdigest()
    assert uma["suppressed"] == {"sms": "withdrawn"}, "only the channel granted is lifted"
    assert uma["decisions"]["email"]["allowed"] is True
    assert uma["decisions"]["sms"]["allowed"] is False

    _consent(capsys, url, "grant", "bea@exemple.fr", "--channel", "email",
             "--lift-suppression", "--wording", WORDING)  # fmt: skip
    bea = _consent(capsys, url, "show", "bea@exemple.fr")
    assert bea["states"]["email"]["granted"] is True
    assert bea["suppressed"] == {"email": "hard_bounce"}, "a bounce is not the person's opt-out"
    assert bea["decisions"]["email"]["allowed"] is False
    assert bea["decisions"]["email"]["reason"] == "suppressed"
