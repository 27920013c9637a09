"""The Contacts list: criteria filter and live count, keyset pages, who sees what, bulk actions
(assign, add to a campaign, export) and saved segments behind CSRF, in French and English."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote

import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadsift.access import repository as access_repository
from leadsift.access import service as access
from leadsift.access.models import AuditEntry
from leadsift.access.schemas import Role
from leadsift.agents import service as agents
from leadsift.contacts import service as contacts
from leadsift.contacts.models import Contact
from leadsift.contacts.schemas import ImportOptions
from leadsift.db import Database
from leadsift.kit.clock import utcnow
from leadsift.outreach import campaigns
from leadsift.outreach.schemas import CampaignSpec
from leadsift.qualification import service as qualification
from leadsift.segments import saved
from tests.files import synthetic_contacts, write_csv

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "consumer-25-35"
ENGLISH = {"Accept-Language": "en"}
TEMPLATE = """\
channel: email
default_language: fr
fr:
  subject: "{{ contact.first_name }}, votre offre"
  text: |
    Bonjour {{ contact.first_name }},
    Se désinscrire : {{ unsubscribe_url }}
"""


def _example(database: Database) -> dict[str, int]:
    """The example's 20 contacts, qualified by its playbook; their ids by email."""
    with database.unit_of_work() as session:
        contacts.import_contacts(session, EXAMPLE / "contacts.csv", ImportOptions())
        playbook = (EXAMPLE / "playbook.yaml").read_text(encoding="utf-8")
        qualification.qualify(session, playbook, "playbook.yaml")
    with database.unit_of_work(read_only=True) as session:
        return {c.email or c.phone or "": c.id for c in session.scalars(select(Contact))}


def _from_source(source: str) -> list[str]:
    """The example file's emails whose source is SOURCE (the expected answer, from the file)."""
    with (EXAMPLE / "contacts.csv").open(encoding="utf-8") as file:
        return [row["email"] for row in csv.DictReader(file) if row["source"] == source]


def _give(database: Database, contact_id: int, user: str) -> None:
    with database.unit_of_work() as session:
        agents.assign_contact(session, str(contact_id), to_user=user, to_team=None, caller=None)


def _listed_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<a href="/contacts/(\d+)">', html)]


def test_the_list_shows_the_contacts_with_their_stage_and_a_live_count(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database
) -> None:
    ids = _example(committed_db)
    sign_in(pages, "admin")
    listed = pages.get("/contacts", headers=ENGLISH)
    assert listed.status_code == 200
    assert sorted(_listed_ids(listed.text)) == sorted(ids.values())
    assert "camille.martin@example.com" in listed.text
    # The count comes apart, as the page loads (and again as the user types).
    assert 'hx-get="/contacts/count?q=" hx-trigger="load"' in listed.text
    assert 'hx-get="/contacts/count"' in listed.text
    assert "20 matching contacts" in pages.get("/contacts/count", headers=ENGLISH).text
    assert 'hx-trigger="input changed delay:150ms"' in listed.text
    # The filter and its count agree with the file itself.
    instagram = _from_source("instagram")
    assert len(instagram) == 5
    filtered = pages.get("/contacts", params={"q": 'source = "instagram"'}, headers=ENGLISH)
    assert sorted(_listed_ids(filtered.text)) == sorted(ids[e] for e in instagram)
    count = pages.get("/contacts/count", params={"q": 'source = "instagram"'}, headers=ENGLISH)
    assert count.status_code == 200
    assert "5 matching contacts" in count.text
    assert "<html" not in count.text  # a fragment for htmx
    leads = pages.get("/contacts/count", params={"q": 'stage = "lead"'}, headers=ENGLISH)
    assert "8 matching contacts" in leads.text  # the example's expected.json


def test_a_broken_expression_says_where_it_breaks(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database
) -> None:
    _example(committed_db)
    sign_in(pages, "admin")
    broken = pages.get("/contacts/count", params={"q": "age >= "}, headers=ENGLISH)
    assert broken.status_code == 200  # htmx swaps the message in
    assert "This expression has a problem:" in broken.text
    assert "line 1, column" in broken.text
    unknown = pages.get("/contacts", params={"q": "agee >= 3"}, headers=ENGLISH)
    assert "did you mean" in unknown.text and "age" in unknown.text
    assert _listed_ids(unknown.text) == []
    # The expression is shown back escaped, never as markup.
    hostile = pages.get("/contacts/count", params={"q": '<script>x</script> = "1"'})
    assert "<script>x" not in hostile.text


def test_keyset_pages_cover_every_contact_once(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database, tmp_path: Path
) -> None:
    header, rows = synthetic_contacts(63)
    with committed_db.unit_of_work() as session:
        contacts.import_contacts(
            session, write_csv(tmp_path / "c.csv", header, rows), ImportOptions()
        )
    sign_in(pages, "admin")
    first = pages.get("/contacts", params={"q": 'city = "Lyon"'}, headers=ENGLISH)
    first_ids = _listed_ids(first.text)
    assert len(first_ids) == 50
    found = re.search(r'href="(/contacts\?q=[^"]*&amp;after=(\d+))"', first.text)
    assert found is not None and int(found.group(2)) == first_ids[-1]
    second = pages.get(found.group(1).replace("&amp;", "&"), headers=ENGLISH)
    second_ids = _listed_ids(second.text)
    assert len(second_ids) == 13
    assert min(second_ids) > max(first_ids)
    assert "Next page" not in second.text and "First page" in second.text
    assert "city%20%3D%20%22Lyon%22" in second.text  # the count of the same filter
    count = pages.get("/contacts/count", params={"q": 'city = "Lyon"'}, headers=ENGLISH)
    assert "63 matching contacts" in count.text


def test_an_agent_sees_only_their_contacts(
    make_pages: Callable[..., TestClient], sign_in: Callable[..., str], committed_db: Database
) -> None:
    ids = _example(committed_db)
    alice, bob = make_pages(), make_pages()
    csrf = sign_in(alice, "alice", Role.AGENT)
    sign_in(bob, "bob", Role.AGENT)
    _give(committed_db, ids["camille.martin@example.com"], "alice")
    _give(committed_db, ids["lucas.bernard@example.com"], "bob")
    listed = alice.get("/contacts", headers=ENGLISH)
    assert _listed_ids(listed.text) == [ids["camille.martin@example.com"]]
    assert "lucas.bernard" not in listed.text
    assert "1 matching contacts" in alice.get("/contacts/count", headers=ENGLISH).text
    assert (
        "0 matching contacts"
        in alice.get("/contacts/count", params={"q": 'first_name = "Lucas"'}, headers=ENGLISH).text
    )
    # No bulk actions for agents: not shown, and refused when posted anyway.
    assert "Bulk actions" not in listed.text
    refused = alice.post("/contacts/export", data={"csrf_token": csrf, "scope": "all"})
    assert refused.status_code == 403


def test_bulk_assign_needs_the_csrf_token_and_assigns_the_ticked_rows(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database, audit_mark: int
) -> None:
    ids = _example(committed_db)
    csrf = sign_in(pages, "admin")
    with committed_db.unit_of_work() as session:
        access.add_user(session, "alice", Role.AGENT)
    chosen = [ids["camille.martin@example.com"], ids["emma.dubois@example.com"]]
    form = {"owner": "user:alice", "scope": "checked", "ids": [str(i) for i in chosen]}
    assert pages.post("/contacts/assign", data=form).status_code == 403
    with committed_db.unit_of_work(read_only=True) as session:
        assert all(access_repository.owner_of(session, i) is None for i in chosen)
    done = pages.post("/contacts/assign", data={**form, "csrf_token": csrf}, headers=ENGLISH)
    assert done.status_code == 200
    assert "2 contacts assigned to alice." in done.text
    with committed_db.unit_of_work(read_only=True) as session:
        owners = [
            access_repository.owner_of(session, i)
            for i in [*chosen, ids["hugo.thomas@example.com"]]
        ]
        alice = access_repository.user_by_name(session, "alice")
        assert alice is not None
        assert [o.user_id if o else None for o in owners] == [alice.id, alice.id, None]
        entries = access.audit_log(session, after_id=audit_mark, limit=1000)
        assert [e.action for e in entries].count("assigned") == 2
    # Every matching contact, through the filter; a bad owner is a message, not a crash.
    everyone = {"csrf_token": csrf, "owner": "user:alice", "scope": "all", "q": 'city = "Paris"'}
    assert (
        "2 contacts assigned" in pages.post("/contacts/assign", data=everyone, headers=ENGLISH).text
    )
    nobody = pages.post("/contacts/assign", data={**everyone, "owner": "user:nobody"})
    assert nobody.status_code == 404 and "nobody" in nobody.text


def test_export_is_the_cli_csv_of_the_chosen_contacts_and_is_audited(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database, audit_mark: int
) -> None:
    _example(committed_db)
    csrf = sign_in(pages, "manager", Role.MANAGER)
    # A manager without teams sees nobody: the export is empty but for its header.
    empty = pages.post("/contacts/export", data={"csrf_token": csrf, "scope": "all"})
    assert empty.status_code == 200 and len(empty.text.strip().splitlines()) == 1
    csrf = sign_in(pages, "admin")
    assert pages.post("/contacts/export", data={"scope": "all"}).status_code == 403
    answer = pages.post(
        "/contacts/export", data={"csrf_token": csrf, "scope": "all", "q": 'source = "instagram"'}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(answer.text)))
    assert sorted(r["email"] for r in table) == sorted(_from_source("instagram"))
    with committed_db.unit_of_work(read_only=True) as session:
        entries = access.audit_log(session, after_id=audit_mark, limit=1000)
        exports = [e for e in entries if e.action == "contacts_exported"]
    assert [e.details["count"] for e in exports] == [0, 5]
    assert exports[-1].actor != "cli"


def test_add_to_campaign_creates_a_draft_for_the_ticked_contacts(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database
) -> None:
    ids = _example(committed_db)
    with committed_db.unit_of_work() as session:
        spec = CampaignSpec(
            key="spring", template=yaml.safe_load(TEMPLATE), template_source="t.yaml", stage="lead"
        )
        campaigns.create(session, spec, utcnow())
    csrf = sign_in(pages, "admin")
    listed = pages.get("/contacts", headers=ENGLISH)
    assert '<option value="spring">spring</option>' in listed.text
    chosen = sorted([ids["camille.martin@example.com"], ids["hugo.thomas@example.com"]])
    form = {
        "csrf_token": csrf,
        "scope": "checked",
        "ids": [str(i) for i in chosen],
        "like": "spring",
        "key": "spring-2",
    }
    done = pages.post("/contacts/campaign", data=form, headers=ENGLISH)
    assert done.status_code == 200
    assert "Draft campaign spring-2 created for 2 contacts." in done.text
    with committed_db.unit_of_work(read_only=True) as session:
        created = campaigns.status(session, "spring-2")
    assert created.status == "draft"
    assert created.target == f"id in ({chosen[0]}, {chosen[1]})"
    again = pages.post("/contacts/campaign", data=form, headers=ENGLISH)
    assert again.status_code == 409 and "already exists" in again.text


def test_the_list_speaks_french_and_english(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database
) -> None:
    _example(committed_db)
    sign_in(pages, "admin")
    french = pages.get("/contacts", params={"q": 'stage = "lead"'})
    assert 'lang="fr"' in french.text
    assert "Actions groupées" in french.text and "Critères" in french.text
    assert "Bulk actions" not in french.text
    count = pages.get("/contacts/count", params={"q": 'stage = "lead"'})
    assert "8 contacts correspondants" in count.text
    broken = pages.get("/contacts/count", params={"q": "stage ="})
    assert "Cette expression pose problème" in broken.text
    english = pages.get("/contacts", params={"q": 'stage = "lead"'}, headers=ENGLISH)
    assert "Bulk actions" in english.text and "Criteria" in english.text
    assert (
        "8 matching contacts"
        in pages.get("/contacts/count", params={"q": 'stage = "lead"'}, headers=ENGLISH).text
    )


def _segment_audit(database: Database, segment_id: int) -> list[tuple[str, str]]:
    """(action, actor) of the audit entries about one segment, oldest first (on PostgreSQL the
    append-only log keeps other tests' entries: only this segment's are read)."""
    with database.unit_of_work(read_only=True) as session:
        entries = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.target_type == "segment", AuditEntry.target_id == segment_id)
            .order_by(AuditEntry.id)
        )
        return [(e.action, e.actor) for e in entries]


def _segment_links(html: str) -> dict[str, str]:
    """The saved segments' quick filters: name -> the criteria their link filters by."""
    nav = re.search(r'<nav class="row quick" aria-label="Saved segments">(.*?)</nav>', html, re.S)
    assert nav is not None, "no saved segments on the page"
    found = re.findall(r'<a href="/contacts\?q=([^"]*)"[^>]*>([^<]+)</a>', nav.group(1))
    return {name: unquote(query) for query, name in found}


def test_saved_segments_are_quick_filters_and_saving_one_works(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database
) -> None:
    ids = _example(committed_db)
    csrf = sign_in(pages, "admin")
    instagram = 'source = "instagram"'
    listed = pages.get("/contacts", params={"q": instagram}, headers=ENGLISH)
    # The save form carries the filter shown, and no segment exists yet.
    assert 'action="/contacts/segments"' in listed.text
    assert "Saved segments" not in listed.text
    assert pages.get("/contacts", headers=ENGLISH).text.count("Save as segment") == 0  # no q
    form = {"name": "Insta", "q": instagram, "description": "Instagram ads"}
    assert pages.post("/contacts/segments", data=form).status_code == 403  # no CSRF token
    done = pages.post("/contacts/segments", data={**form, "csrf_token": csrf}, headers=ENGLISH)
    assert done.status_code == 200
    assert "Segment insta saved." in done.text
    assert sorted(_listed_ids(done.text)) == sorted(ids[e] for e in _from_source("instagram"))
    with committed_db.unit_of_work(read_only=True) as session:
        stored = saved.get_segment(session, "insta")
    assert (stored.expression, stored.description) == (instagram, "Instagram ads")
    assert stored.created_by.startswith("user:")
    assert _segment_audit(committed_db, stored.id) == [("segment_saved", stored.created_by)]

    # Every page of the list shows it as a link filtering by its criteria.
    page = pages.get("/contacts", headers=ENGLISH)
    assert _segment_links(page.text) == {"insta": instagram}
    assert 'title="Instagram ads"' in page.text
    followed = pages.get(f"/contacts?q={quote(instagram)}", headers=ENGLISH)
    assert sorted(_listed_ids(followed.text)) == sorted(ids[e] for e in _from_source("instagram"))
    assert 'aria-current="true">insta</a>' in followed.text

    # Saving the name again updates it; an invalid expression says where it breaks.
    updated = {**form, "q": 'stage = "lead"', "csrf_token": csrf}
    assert (
        "Segment insta updated."
        in pages.post("/contacts/segments", data=updated, headers=ENGLISH).text
    )
    broken = pages.post("/contacts/segments", data={**updated, "q": "agee > 3"}, headers=ENGLISH)
    assert broken.status_code == 422
    assert "line 1, column 1: unknown field" in broken.text
    bad_name = pages.post("/contacts/segments", data={**updated, "name": "a b"}, headers=ENGLISH)
    assert bad_name.status_code == 422 and "segment name" in bad_name.text
    with committed_db.unit_of_work(read_only=True) as session:
        assert [(s.name, s.expression) for s in saved.list_segments(session)] == [
            ("insta", 'stage = "lead"')
        ]


def test_agents_use_segments_but_may_not_save_or_delete_them(
    make_pages: Callable[..., TestClient], sign_in: Callable[..., str], committed_db: Database
) -> None:
    ids = _example(committed_db)
    with committed_db.unit_of_work() as session:
        saved.save_segment(session, "leads", 'stage = "lead"')
    agent, manager = make_pages(), make_pages()
    csrf = sign_in(agent, "alice", Role.AGENT)
    _give(committed_db, ids["camille.martin@example.com"], "alice")
    listed = agent.get("/contacts", headers=ENGLISH)
    assert _segment_links(listed.text) == {"leads": 'stage = "lead"'}
    assert "Save as segment" not in agent.get("/contacts?q=age+>+3", headers=ENGLISH).text
    assert "Delete a saved segment" not in listed.text
    form = {"csrf_token": csrf, "name": "mine", "q": "age > 3"}
    assert agent.post("/contacts/segments", data=form).status_code == 403
    gone = {"csrf_token": csrf, "name": "leads"}
    assert agent.post("/contacts/segments/delete", data=gone).status_code == 403
    # A manager saves, but only an admin deletes.
    manager_csrf = sign_in(manager, "maud", Role.MANAGER)
    mine = manager.post("/contacts/segments", data={**form, "csrf_token": manager_csrf})
    assert mine.status_code == 200
    assert "Delete a saved segment" not in mine.text
    refused = manager.post("/contacts/segments/delete", data={**gone, "csrf_token": manager_csrf})
    assert refused.status_code == 403
    with committed_db.unit_of_work(read_only=True) as session:
        assert [s.name for s in saved.list_segments(session)] == ["leads", "mine"]


def test_an_admin_deletes_a_segment(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database
) -> None:
    _example(committed_db)
    with committed_db.unit_of_work() as session:
        saved.save_segment(session, "leads", 'stage = "lead"')
        paris = saved.save_segment(session, "paris", 'city = "Paris"').id
    csrf = sign_in(pages, "admin")
    listed = pages.get("/contacts", headers=ENGLISH)
    assert 'action="/contacts/segments/delete"' in listed.text
    assert '<option value="paris">paris</option>' in listed.text
    form = {"name": "paris", "q": 'stage = "lead"'}
    assert pages.post("/contacts/segments/delete", data=form).status_code == 403  # no CSRF
    done = pages.post(
        "/contacts/segments/delete", data={**form, "csrf_token": csrf}, headers=ENGLISH
    )
    assert done.status_code == 200 and "Segment paris deleted." in done.text
    assert _segment_links(done.text) == {"leads": 'stage = "lead"'}
    again = pages.post(
        "/contacts/segments/delete", data={**form, "csrf_token": csrf}, headers=ENGLISH
    )
    assert again.status_code == 404 and "no saved segment &#39;paris&#39;" in again.text
    assert [action for action, _ in _segment_audit(committed_db, paris)] == [
        "segment_saved", "segment_deleted"
    ]  # fmt: skip


def test_saved_segments_speak_french(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database
) -> None:
    _example(committed_db)
    with committed_db.unit_of_work() as session:
        saved.save_segment(session, "leads", 'stage = "lead"')
    csrf = sign_in(pages, "admin")
    french = pages.get("/contacts", params={"q": 'stage = "lead"'})
    for text in ("Segments enregistrés", "Enregistrer comme segment", "Nom du segment",
                 "Supprimer un segment enregistré"):  # fmt: skip
        assert text in french.text
    assert "Saved segments" not in french.text
    form = {"csrf_token": csrf, "name": "clients", "q": 'stage = "customer"'}
    assert "Segment clients enregistré." in pages.post("/contacts/segments", data=form).text
