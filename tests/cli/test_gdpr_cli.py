"""GDPR rights through the CLI: after `gdpr erase`, a dump of the whole database holds none of
the person's personal data, and re-importing them gives a suppressed contact; `gdpr export`
holds everything about them; `gdpr purge` erases stale prospects only."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

import leadsift.models  # every table registered before the ORM flushes a visitor link
from leadsift.config import Settings
from leadsift.contacts.models import Contact
from leadsift.db import Database
from leadsift.engagement.service import identify_visitor
from leadsift.kit.clock import utcnow
from leadsift.outreach.models import PromoCode, Suppression
from tests.cli.helpers import run
from tests.outreach_helpers import cli_json, run_worker, write_template

# The person erased: an accented first name (stored escaped in JSON columns on SQLite).
FIRST, LAST = "Zéphyrine", "Quintavalle"
EMAIL, PHONE_RAW, PHONE = "zephyrine.quintavalle@exemple.fr", "06 12 34 56 78", "+33612345678"
# Someone else, whose data must survive.
OTHER = ("Ottilie", "Marchetti", "ottilie.marchetti@exemple.fr", "07 98 76 54 32", "+33798765432")
HEADER = "first_name,last_name,email,phone,city,loyalty_tier,consent_email,consent_sms,language"
PEOPLE = (
    f"{HEADER}\n"
    f"{FIRST},{LAST},{EMAIL},{PHONE_RAW},Grenoble,gold,oui,oui,fr\n"
    f"{OTHER[0]},{OTHER[1]},{OTHER[2]},{OTHER[3]},Grenoble,silver,oui,oui,fr\n"
)
PLAYBOOK = """\
name: Offre Grenoble
eligibility: city = "Grenoble"
interest:
  half_life: 30d
  rules:
    - {event: page_view, points: 5}
    - {event: email_clicked, points: 10}
qualify: interest >= 1000
"""
PROMO = """\
channel: email
default_language: fr
fr:
  subject: "{{ contact.first_name }}, -20 %"
  text: |
    Bonjour {{ contact.first_name }} {{ contact.last_name }},
    Votre code : {{ promo_code }}
    Se désinscrire : {{ unsubscribe_url }}
"""


def _work(url: str, outbox: Path) -> dict[str, int]:
    settings = Settings(database_url=url, email_transport="file", outbox_dir=str(outbox))
    return run_worker(settings)


def _update(url: str, condition: Any, **values: Any) -> None:
    """Change contacts' columns directly (typed, as the ORM stores them on either backend)."""
    database = Database(url)
    try:
        with database.unit_of_work() as session:
            session.execute(update(Contact).where(condition).values(**values))
    finally:
        database.dispose()


def _pg_dump(url: str) -> str | None:
    executable = shutil.which("pg_dump")
    if executable is None:
        return None
    libpq_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    done = subprocess.run(
        [executable, "--data-only", "--no-owner", f"--dbname={libpq_url}"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    # A pg_dump older than the server refuses to run: the SELECT dump below says the same.
    if done.returncode != 0:
        return None
    # Recent pg_dump brackets its output with \restrict/\unrestrict and a random key: not data.
    lines = done.stdout.decode("utf-8").splitlines()
    return "\n".join(line for line in lines if not line.startswith(("\\restrict", "\\unrestrict")))


def dump(url: str) -> str:
    """The whole database as text: iterdump on SQLite; pg_dump, else every row, on PostgreSQL."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(make_url(url).database or "")
        try:
            return "\n".join(connection.iterdump())
        finally:
            connection.close()
    found = _pg_dump(url)
    if found is not None:
        return found
    database = Database(url)
    try:
        with database.engine.connect() as connection:
            return "\n".join(
                str(row)
                for table in leadsift.models.metadata.sorted_tables
                for row in connection.execute(select(table))
            )
    finally:
        database.dispose()


def _forms(value: str) -> set[str]:
    """VALUE as written, and as JSON escapes it (SQLite's JSON columns), lower case."""
    return {value.lower(), json.dumps(value)[1:-1].lower()}


def _present(haystack: str, value: str) -> bool:
    lowered = haystack.lower()
    return any(form in lowered for form in _forms(value))


def _build_history(
    capsys: pytest.CaptureFixture[str], url: str, tmp_path: Path, people: Path
) -> int:
    """The person with events (a stitched page view), stages, scores, a message, a redeemed
    code, and an import rejection quoting their email; returns their contact id."""
    db = ("--db", url, "--json")
    cli_json(capsys, *db, "import", "contacts", str(people))
    playbook = write_template(tmp_path / "playbook.yaml", PLAYBOOK)
    cli_json(capsys, *db, "qualify", "--playbook", str(playbook))
    person = cli_json(capsys, *db, "contacts", "show", EMAIL)["id"]
    now = utcnow()
    anonymous = {"type": "page_view", "anonymous_id": "anon-zq-1",
                 "occurred_at": (now - timedelta(days=2)).isoformat(),
                 "properties": {"path": "/pricing", "typed": f"{FIRST} {LAST}"}}  # fmt: skip
    events = tmp_path / "visit.jsonl"
    events.write_text(json.dumps(anonymous) + "\n", encoding="utf-8")
    cli_json(capsys, *db, "import", "events", str(events))
    database = Database(url)
    with database.unit_of_work() as session:
        assert identify_visitor(session, "anon-zq-1", person, via="form", now=now) == 1
    database.dispose()
    known = [
        {"type": "email_clicked", "email": EMAIL,
         "occurred_at": (now - timedelta(days=1)).isoformat(),
         "properties": {"note": f"{FIRST} asked for {PHONE_RAW}"}},
        {"type": "page_view", "anonymous_id": "anon-zq-1", "occurred_at": now.isoformat(),
         "properties": {"path": "/menu"}},
        {"type": "page_view", "email": OTHER[2], "occurred_at": now.isoformat(),
         "properties": {"path": "/", "who": OTHER[0]}},
    ]  # fmt: skip
    events.write_text("\n".join(json.dumps(e) for e in known) + "\n", encoding="utf-8")
    assert cli_json(capsys, *db, "import", "events", str(events))["inserted"] == 3
    cli_json(capsys, *db, "promo", "program", "create", "welcome", "--discount", "20%")
    template = write_template(tmp_path / "promo.yaml", PROMO)
    cli_json(capsys, *db, "campaign", "create", "spring", "--template", str(template),
          "--stage", "lead", "--promo", "welcome")  # fmt: skip
    cli_json(capsys, *db, "campaign", "schedule", "spring")
    assert _work(url, tmp_path / "outbox") == {"sent": 2}
    database = Database(url)
    with database.unit_of_work(read_only=True) as session:
        code = session.scalar(select(PromoCode.code).where(PromoCode.contact_id == person))
    database.dispose()
    assert code is not None
    redeemed = cli_json(capsys, *db, "promo", "redeem", str(code), "--amount", "30")
    assert redeemed["stage"] == "customer" and redeemed["contact_id"] == person
    # Their email with the other person's phone: a rejected row whose message quotes the email.
    conflict = tmp_path / "conflict.csv"
    conflict.write_text(f"email,phone\n{EMAIL},{OTHER[3]}\n", encoding="utf-8")
    rejected = cli_json(capsys, *db, "import", "contacts", str(conflict))
    assert rejected["rejected_by_reason"] == {"identity_conflict": 1}
    return int(person)


@pytest.fixture
def people(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    return path


def test_export_then_erase_leaves_no_personal_data_and_a_reimport_stays_suppressed(
    capsys: pytest.CaptureFixture[str], committed_db_url: str, tmp_path: Path, people: Path
) -> None:
    url = committed_db_url
    db = ("--db", url, "--json")
    person = _build_history(capsys, url, tmp_path, people)
    assert _present(dump(url), EMAIL) and _present(dump(url), FIRST)

    out = tmp_path / "export.json"
    assert cli_json(capsys, *db, "gdpr", "export", EMAIL, "--out", str(out))["contact_id"] == person
    exported = json.loads(out.read_text(encoding="utf-8"))
    identity = exported["identity"]
    assert (identity["email"], identity["phone"]) == (EMAIL, PHONE)
    assert identity["phone_raw"] == PHONE_RAW
    assert (identity["first_name"], identity["last_name"], identity["city"]) == (
        FIRST, LAST, "Grenoble")  # fmt: skip
    assert identity["attrs"]["loyalty_tier"] == "gold"
    assert {(c["channel"], c["granted"]) for c in exported["consents"]} == {
        ("email", True), ("sms", True)}  # fmt: skip
    types = sorted(e["type"] for e in exported["events"])
    assert types == ["email_clicked", "email_sent", "page_view", "page_view", "purchase"]
    stitched = [e for e in exported["events"] if e["anonymous_id"] == "anon-zq-1"]
    assert {e["properties"]["path"] for e in stitched} == {"/pricing", "/menu"}
    assert exported["stages"][0]["to_stage"] == "lead"
    assert exported["stages"][-1]["to_stage"] == "customer"
    assert len(exported["scores"]) == 1 and exported["scores"][0]["interest"] > 0
    assert [(m["status"], m["channel"]) for m in exported["messages"]] == [("sent", "email")]
    [code] = exported["codes"]
    assert code["redeemed_amount"] == 30 and code["redeemed_at"] is not None
    assert [v["anonymous_id"] for v in exported["visitor_links"]] == ["anon-zq-1"]

    before = dump(url)
    refused = run(capsys, "--db", url, "gdpr", "erase", EMAIL)
    assert refused.code == 2 and "--yes" in refused.err
    assert dump(url) == before, "without --yes nothing changes"

    erased = cli_json(capsys, *db, "gdpr", "erase", EMAIL, "--yes")
    assert erased["erased"] is True
    deleted = erased["deleted"]
    assert deleted["contacts"] == 1 and deleted["import_rejections"] == 1
    assert deleted["events"] == 5 and deleted["visitor_links"] == 1
    after = dump(url)
    for value in (EMAIL, PHONE, PHONE_RAW, FIRST, LAST):
        assert not _present(after, value), f"{value!r} is still in the database"
    for value in OTHER:
        assert _present(after, value), f"{value!r} of someone else went too"
    assert run(capsys, *db, "contacts", "show", EMAIL).code == 1

    database = Database(url)
    with database.unit_of_work(read_only=True) as session:
        suppressed = {(s.kind, s.channel, s.reason) for s in session.scalars(select(Suppression))}
        kept = session.scalars(select(PromoCode)).all()
    database.dispose()
    assert suppressed == {("email", "all", "erased"), ("phone", "all", "erased")}
    redeemed = [c for c in kept if c.redeemed_at is not None]
    assert [(c.contact_id, c.redeemed_amount) for c in redeemed] == [(None, 30)]

    # The same old file again: a new contact nobody may message.
    assert cli_json(capsys, *db, "import", "contacts", str(people))["created"] == 1
    back = cli_json(capsys, *db, "contacts", "show", EMAIL)["id"]
    assert back != person
    shown = cli_json(capsys, *db, "consent", "show", EMAIL)
    assert shown["suppressed"] == {"all": "erased"}
    for channel in ("email", "sms"):
        assert shown["states"][channel]["granted"] is True  # the file's old "oui"
        decision = shown["decisions"][channel]
        assert (decision["allowed"], decision["reason"]) == (False, "suppressed")
    # Not even the person's own new "yes" lifts an erasure.
    cli_json(capsys, *db, "consent", "grant", EMAIL, "--channel", "email", "--lift-suppression",
          "--wording", "J'accepte les offres par e-mail.")  # fmt: skip
    shown = cli_json(capsys, *db, "consent", "show", EMAIL)
    assert shown["suppressed"] == {"all": "erased"}
    assert shown["decisions"]["email"]["allowed"] is False
    template = write_template(tmp_path / "promo.yaml", PROMO.replace("{{ promo_code }}", "-"))
    cli_json(capsys, *db, "campaign", "create", "autumn", "--template", str(template),
          "--target", 'city = "Grenoble"')  # fmt: skip
    preview = cli_json(capsys, *db, "campaign", "preview", "autumn", "--contact", EMAIL)
    assert preview["decision"]["allowed"] is False
    assert preview["decision"]["reason"] == "suppressed"
    assert preview["skipped"] == {"suppressed": 1}
    scheduled = cli_json(capsys, *db, "campaign", "schedule", "autumn")
    assert scheduled["prepared"]["recipients"] == 1
    assert scheduled["prepared"]["skipped"] == {"suppressed": 1}


PURGE_PEOPLE = [
    ("Opal", "opal@exemple.fr"),  # old prospect, only opened an email lately: purged
    ("Cleo", "cleo@exemple.fr"),  # old prospect who clicked lately: kept
    ("Cass", "cass@exemple.fr"),  # old customer, silent: kept
    ("Neve", "neve@exemple.fr"),  # a new prospect: kept
]


def test_purge_erases_stale_prospects_only(
    capsys: pytest.CaptureFixture[str], committed_db_url: str, tmp_path: Path
) -> None:
    url = committed_db_url
    db = ("--db", url, "--json")
    people = tmp_path / "purge.csv"
    rows = "".join(f"{first},{address},oui\n" for first, address in PURGE_PEOPLE)
    people.write_text("first_name,email,consent_email\n" + rows, encoding="utf-8")
    cli_json(capsys, *db, "import", "contacts", str(people))
    now = utcnow()
    recent, ancient = now - timedelta(days=30), now - timedelta(days=4 * 365)
    events = [
        {"type": "email_opened", "email": "opal@exemple.fr", "occurred_at": recent.isoformat()},
        {"type": "email_clicked", "email": "opal@exemple.fr", "occurred_at": ancient.isoformat()},
        {"type": "email_clicked", "email": "cleo@exemple.fr", "occurred_at": recent.isoformat()},
        {"type": "email_opened", "email": "cleo@exemple.fr", "occurred_at": recent.isoformat()},
    ]
    file = tmp_path / "events.jsonl"
    file.write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")
    assert cli_json(capsys, *db, "import", "events", str(file))["inserted"] == 4
    _update(url, Contact.email != "neve@exemple.fr", created_at=now - timedelta(days=3 * 365 + 30))
    _update(url, Contact.email == "cass@exemple.fr", stage="customer")

    dry = cli_json(capsys, *db, "gdpr", "purge", "--dry-run")
    assert (dry["prospects"], dry["dry_run"], dry["deleted"]) == (1, True, {})
    assert run(capsys, *db, "contacts", "show", "opal@exemple.fr").code == 0

    done = cli_json(capsys, *db, "gdpr", "purge")
    assert done["prospects"] == 1
    assert done["deleted"]["contacts"] == 1 and done["deleted"]["events"] == 2
    assert run(capsys, *db, "contacts", "show", "opal@exemple.fr").code == 1
    for _, address in PURGE_PEOPLE[1:]:
        assert run(capsys, *db, "contacts", "show", address).code == 0, address
    assert not _present(dump(url), "opal@exemple.fr")
    # Retention ended, they did not object: nothing suppressed.
    database = Database(url)
    with database.unit_of_work(read_only=True) as session:
        assert session.scalars(select(Suppression)).all() == []
    database.dispose()
    assert cli_json(capsys, *db, "gdpr", "purge")["prospects"] == 0


def test_erasure_deletes_the_rejections_quoting_the_person_and_no_others(
    capsys: pytest.CaptureFixture[str], committed_db_url: str, tmp_path: Path
) -> None:
    url = committed_db_url
    db = ("--db", url, "--json")
    files = {
        # A short CRM id, and an email with "_" (a LIKE wildcard): neither may match others.
        "people.csv": "external_id,first_name,email,phone\n33,Pat,ab_c@exemple.fr,06 12 12 12 12\n"
        ",Quinn,abxc@exemple.fr,06 23 23 23 23\n,Rae,rae@exemple.fr,06 34 34 34 34\n",
        "others.csv": "email,phone\nabxc@exemple.fr,06 34 34 34 34\n",
        "pat.csv": "external_id,email\n33,rae@exemple.fr\n",
    }
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        cli_json(capsys, *db, "import", "contacts", str(tmp_path / name))
    erased = cli_json(capsys, *db, "gdpr", "erase", "ab_c@exemple.fr", "--yes")
    assert erased["deleted"]["import_rejections"] == 1
    left = dump(url)
    assert _present(left, "abxc@exemple.fr belongs to contact")
    assert not _present(left, "external_id 33 belongs")


def test_a_purge_of_many_prospects_at_once(
    capsys: pytest.CaptureFixture[str], committed_db_url: str, tmp_path: Path
) -> None:
    url = committed_db_url
    db = ("--db", url, "--json")
    many = 600  # 1,800 identifiers: more than one SQL expression may hold on SQLite
    rows = "".join(
        f"old{i}@exemple.fr,06 40 00 {i // 100:02d} {i % 100:02d}\n" for i in range(many)
    )
    (tmp_path / "old.csv").write_text("email,phone\n" + rows, encoding="utf-8")
    cli_json(capsys, *db, "import", "contacts", str(tmp_path / "old.csv"))
    (tmp_path / "clash.csv").write_text(
        "email,phone\nold1@exemple.fr,06 40 00 00 02\n", encoding="utf-8"
    )
    assert cli_json(capsys, *db, "import", "contacts", str(tmp_path / "clash.csv"))["rejected"] == 1
    _update(url, Contact.id > 0, created_at=utcnow() - timedelta(days=4 * 365))
    done = cli_json(capsys, *db, "gdpr", "purge")
    assert done["prospects"] == many
    assert done["deleted"]["contacts"] == many and done["deleted"]["import_rejections"] == 1
    assert not _present(dump(url), "old1@exemple.fr")


def test_ids_of_erased_or_undone_contacts_are_never_given_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, committed_db_url: str
) -> None:
    """Old links carry contact ids: a new person must never inherit an erased person's id."""
    db = ("--db", committed_db_url, "--json")

    def imported(name: str, *emails: str) -> dict[str, Any]:
        path = tmp_path / f"{name}.csv"
        path.write_text("email\n" + "\n".join(emails) + "\n", encoding="utf-8")
        return cli_json(capsys, *db, "import", "contacts", str(path))

    imported("first", "a1@exemple.fr", "a2@exemple.fr")
    highest = cli_json(capsys, *db, "contacts", "show", "a2@exemple.fr")["id"]
    cli_json(capsys, *db, "gdpr", "erase", "a2@exemple.fr", "--yes")
    imported("second", "new@exemple.fr")
    assert cli_json(capsys, *db, "contacts", "show", "new@exemple.fr")["id"] > highest
    batch = imported("third", "b1@exemple.fr")["batch_id"]
    undone = cli_json(capsys, *db, "contacts", "show", "b1@exemple.fr")["id"]
    cli_json(capsys, *db, "import", "undo", str(batch))
    imported("fourth", "c1@exemple.fr")
    assert cli_json(capsys, *db, "contacts", "show", "c1@exemple.fr")["id"] > undone
