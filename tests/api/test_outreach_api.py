"""The outreach endpoints in-process: promo code redemption (`POST /api/v1/promo/redeem`), the
unsubscribe page and its one-click POST (`/u/{token}`), and the inbound SMS webhook's
validation. Codes and unsubscribe links are read from the messages the file channel wrote."""

from __future__ import annotations

import email
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from leadsift.config import Settings
from leadsift.db import Database
from leadsift.engagement.models import Event
from leadsift.outreach.models import PromoCode, PromoProgram, Suppression
from tests.cli.helpers import run
from tests.outreach_helpers import (
    PROMO_TEMPLATE,
    cli_json,
    run_worker,
    write_people,
    write_template,
)

PEOPLE = [("Ana", "ana@exemple.fr", "oui"), ("Ben", "ben@exemple.fr", "oui")]
LATE = [("Cyd", "cyd@exemple.fr", "oui")]
PLAYBOOK = 'name: Offre\neligibility: email contains "@exemple.fr"\n'
_CODE = re.compile(r"Votre code : (\S+)")


@dataclass(frozen=True)
class Received:
    """What one contact found in their mailbox: their code and unsubscribe token."""

    code: str
    token: str


def _work(url: str, outbox: Path) -> dict[str, int]:
    settings = Settings(database_url=url, email_transport="file", outbox_dir=str(outbox))
    return run_worker(settings)


def _mailboxes(outbox: Path) -> dict[str, Received]:
    """Each recipient's code and unsubscribe token, from the .eml files written."""
    found: dict[str, Received] = {}
    for path in sorted((outbox / "email").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        match = _CODE.search(body.get_content())
        assert match is not None
        token = str(message["List-Unsubscribe"]).strip("<>").rsplit("/u/", 1)[1]
        found[str(message["To"])] = Received(match.group(1), token)
    return found


@pytest.fixture
def mail(capsys: pytest.CaptureFixture[str], db_url: str, tmp_path: Path) -> dict[str, Received]:
    """Ana and Ben (leads) got a code of the open program "welcome"; Cyd one of "bygone",
    expired."""
    db = ("--db", db_url, "--json")
    cli_json(capsys, *db, "import", "contacts", str(write_people(tmp_path / "p.csv", PEOPLE)))
    playbook = write_template(tmp_path / "playbook.yaml", PLAYBOOK)
    cli_json(capsys, *db, "qualify", "--playbook", str(playbook))
    template = write_template(tmp_path / "promo.yaml", PROMO_TEMPLATE)
    cli_json(capsys, *db, "promo", "program", "create", "welcome", "--discount", "20%")
    cli_json(capsys, *db, "campaign", "create", "spring", "--template", str(template),
          "--stage", "lead", "--promo", "welcome")  # fmt: skip
    cli_json(capsys, *db, "campaign", "schedule", "spring")
    cli_json(capsys, *db, "import", "contacts", str(write_people(tmp_path / "l.csv", LATE)))
    cli_json(capsys, *db, "promo", "program", "create", "bygone", "--discount", "5 EUR",
          "--until", "2099-12-31T23:59+01:00")  # fmt: skip
    cli_json(capsys, *db, "campaign", "create", "winter", "--template", str(template),
          "--target", 'email = "cyd@exemple.fr"', "--promo", "bygone")  # fmt: skip
    cli_json(capsys, *db, "campaign", "schedule", "winter")
    assert _work(db_url, tmp_path / "outbox") == {"sent": 3}
    # The program ends after its codes were sent (a campaign refuses an ended program).
    database = Database(db_url)
    with database.unit_of_work() as session:
        session.execute(
            update(PromoProgram)
            .where(PromoProgram.key == "bygone")
            .values(valid_until=datetime(2021, 12, 31, 22, 59, tzinfo=UTC))
        )
    database.dispose()
    return _mailboxes(tmp_path / "outbox")


def _redeem(client: TestClient, key: str | None, body: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post("/api/v1/promo/redeem", json=body, headers=headers)


def _contact_id(capsys: pytest.CaptureFixture[str], url: str, address: str) -> int:
    return int(cli_json(capsys, "--db", url, "--json", "contacts", "show", address)["id"])


def test_a_code_is_redeemed_once_by_its_owner_while_valid(
    capsys: pytest.CaptureFixture[str],
    app_client: TestClient,
    api_key: Callable[..., str],
    committed_db: Database,
    mail: dict[str, Received],
) -> None:
    db_url, key = committed_db.url, api_key("ingest")
    ana, ben = mail["ana@exemple.fr"], mail["ben@exemple.fr"]
    with committed_db.unit_of_work(read_only=True) as session:
        stored = set(session.scalars(select(PromoCode.code)))
    assert {ana.code, ben.code, mail["cyd@exemple.fr"].code} == stored
    ana_id = _contact_id(capsys, db_url, "ana@exemple.fr")

    done = _redeem(app_client, key, {"code": ana.code.lower(), "amount": 42.5})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["code"], body["program"], body["campaign"]) == (ana.code, "welcome", "spring")
    assert (body["contact_id"], body["stage"], body["amount"]) == (ana_id, "customer", 42.5)
    shown = cli_json(capsys, "--db", db_url, "--json", "contacts", "show", "ana@exemple.fr")
    assert (shown["stage"], shown["stage_reason"]) == ("customer", "promo_redeemed")

    again = _redeem(app_client, key, {"code": ana.code})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_used"
    assert "already redeemed" in again.json()["error"]["message"]

    unknown = _redeem(app_client, key, {"code": "ZZZZ-ZZZZ-ZZ"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"

    foreign = _redeem(app_client, key, {"code": ben.code, "contact_id": ana_id})
    assert foreign.status_code == 409
    assert foreign.json()["error"]["code"] == "foreign"

    expired = _redeem(app_client, key, {"code": mail["cyd@exemple.fr"].code})
    assert expired.status_code == 409
    assert expired.json()["error"]["code"] == "expired"
    assert "2021-12-31" in expired.json()["error"]["message"]

    # Ben's own code still works: a refusal changed nothing.
    assert _redeem(app_client, key, {"code": ben.code}).status_code == 200
    with committed_db.unit_of_work(read_only=True) as session:
        purchases = session.scalar(select(func.count()).where(Event.type == "purchase"))
    assert purchases == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"code": "ABCD", "coupon": "x"}', "coupon"),
        ('{"code": "ABCD", "amount": -1}', "amount"),
        ('{"code": "ABCD", "amount": 1e400}', "amount"),  # valid JSON, an infinite float
        ('{"code": ""}', "code"),
        ('{"amount": 3}', "code"),
        ('{"code": "ABCD", "contact_id": 0}', "contact_id"),
    ],
)
def test_a_bad_redeem_request_is_422_naming_the_field(
    app_client: TestClient, api_key: Callable[..., str], body: str, field: str
) -> None:
    headers = {"Authorization": f"Bearer {api_key('ingest')}", "Content-Type": "application/json"}
    answer = app_client.post("/api/v1/promo/redeem", content=body.encode(), headers=headers)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["message"].startswith(f"{field}:")


def test_an_infinite_amount_redeems_nothing(
    capsys: pytest.CaptureFixture[str],
    app_client: TestClient,
    api_key: Callable[..., str],
    committed_db: Database,
    mail: dict[str, Received],
) -> None:
    code = mail["ana@exemple.fr"].code
    headers = {"Authorization": f"Bearer {api_key('ingest')}", "Content-Type": "application/json"}
    body = f'{{"code": "{code}", "amount": 1e400}}'.encode()
    assert app_client.post("/api/v1/promo/redeem", content=body, headers=headers).status_code == 422
    for amount in ("inf", "nan", "-3"):
        refused = run(capsys, "--db", committed_db.url, "promo", "redeem", code, "--amount", amount)
        assert refused.code == 1 and "--amount" in refused.err, refused.err
    with committed_db.unit_of_work(read_only=True) as session:
        assert session.scalar(select(PromoCode.redeemed_at).where(PromoCode.code == code)) is None


def test_redeeming_needs_an_ingest_key(
    app_client: TestClient, api_key: Callable[..., str], mail: dict[str, Received]
) -> None:
    code = mail["ana@exemple.fr"].code
    assert _redeem(app_client, None, {"code": code}).status_code == 401
    assert _redeem(app_client, "lsk_forged", {"code": code}).status_code == 401
    assert _redeem(app_client, api_key("read"), {"code": code}).status_code == 403
    assert _redeem(app_client, api_key("ingest"), {"code": code}).status_code == 200


def _unsubscribe_traces(database: Database) -> tuple[int, int]:
    with database.unit_of_work(read_only=True) as session:
        suppressions = session.scalar(select(func.count()).select_from(Suppression))
        events = session.scalar(select(func.count()).where(Event.type == "email_unsubscribed"))
    return int(suppressions or 0), int(events or 0)


def test_the_unsubscribe_page_changes_nothing_and_a_forged_token_is_404(
    capsys: pytest.CaptureFixture[str],
    app_client: TestClient,
    committed_db: Database,
    db_url: str,
    mail: dict[str, Received],
) -> None:
    token = mail["ana@exemple.fr"].token
    for _ in range(3):
        page = app_client.get(f"/u/{token}")
        assert page.status_code == 200 and "<form" in page.text
    assert _unsubscribe_traces(committed_db) == (0, 0)
    shown = cli_json(capsys, "--db", db_url, "--json", "consent", "show", "ana@exemple.fr")
    assert shown["decisions"]["email"]["allowed"] is True

    body, signature = token.rsplit(".", 1)
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    for forged in (f"{body}.{flipped}", "not-a-token", token + "x"):
        assert app_client.get(f"/u/{forged}").status_code == 404
        answer = app_client.post(f"/u/{forged}", data={"List-Unsubscribe": "One-Click"})
        assert answer.status_code == 404
    assert _unsubscribe_traces(committed_db) == (0, 0)

    done = app_client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "set-cookie" not in done.headers
    assert _unsubscribe_traces(committed_db) == (1, 1)
    shown = cli_json(capsys, "--db", db_url, "--json", "consent", "show", "ana@exemple.fr")
    assert shown["decisions"]["email"]["reason"] == "suppressed"
    assert app_client.post(f"/u/{token}", data={}).status_code == 200  # twice: still done
    assert _unsubscribe_traces(committed_db) == (1, 1)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"from": "not a phone", "text": "STOP"}, "'from'", "not a phone number"),
        ({"from": "+33 1", "text": "STOP"}, "'from'", "not a phone number"),
        ({"from": "12", "text": "STOP"}, "from:", "at least 3 characters"),
        ({"from": "+33612345678"}, "text:", "required"),
        ({"from": "+33612345678", "text": "STOP", "to": "x"}, "to:", "not permitted"),
        (
            {"from": "+33612345678", "text": "Oui", "received_at": "2026-01-01T10:00"},
            "received_at:",
            "timezone",
        ),
    ],
)
def test_an_inbound_sms_with_a_bad_number_is_422_with_a_precise_message(
    app_client: TestClient,
    api_key: Callable[..., str],
    body: dict[str, Any],
    field: str,
    words: str,
) -> None:
    headers = {"Authorization": f"Bearer {api_key('ingest')}"}
    answer = app_client.post("/api/v1/sms/inbound", json=body, headers=headers)
    assert answer.status_code == 422
    message = answer.json()["error"]["message"]
    assert message.startswith(field) and words in message, message
