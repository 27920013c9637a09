"""The playbook editor in a browser session: validation as you type, a dry run that changes
nothing, apply (a new active version, stages moved, audited); admins only."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from leadsift.access.models import AuditEntry
from leadsift.access.schemas import Role
from leadsift.contacts.models import Contact
from leadsift.db import Database
from leadsift.qualification import playbooks, repository
from leadsift.qualification.models import PlaybookVersion, StageChange

CURRENT = """name: Test offer
eligibility: age >= 18
fit:
  - {when: 'city = "Lyon"', points: 5, label: Lyon}
"""
# Ages of the people in each stage (None: unknown).
PEOPLE: dict[str, dict[str, int | None]] = {
    "contact": {"Ann": 30, "Bea": 31, "Cid": 32, "Dan": 15, "Eve": 16, "Fay": None},
    "unqualified": {"Gus": 40},
    "customer": {"Hal": 50},
}
HTMX = {"HX-Request": "true"}


@pytest.fixture
def admin(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database
) -> tuple[TestClient, str]:
    """An admin in an English browser; the CURRENT playbook active; the PEOPLE stored."""
    pages.cookies.set("leadsift_lang", "en")
    csrf = sign_in(pages, "ada", Role.ADMIN)
    now = datetime(2026, 11, 30, tzinfo=UTC)
    with committed_db.unit_of_work() as session:
        book = playbooks.load(session, CURRENT, "pb.yaml")
        playbooks.store_version(session, book, CURRENT, "pb.yaml")
        for stage, people in PEOPLE.items():
            for name, age in people.items():
                session.add(
                    Contact(
                        email=f"{name.lower()}@example.com", first_name=name, age=age,
                        stage=stage, attrs={}, created_at=now, updated_at=now,
                    )
                )  # fmt: skip
    return pages, csrf


def _stages(database: Database) -> dict[str, str]:
    with database.unit_of_work(read_only=True) as session:
        rows = session.execute(select(Contact.first_name, Contact.stage))
        return {str(name): stage for name, stage in rows}


def _count(database: Database, model: type) -> int:
    with database.unit_of_work(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _moved(html: str, move: str) -> int:
    found = re.search(rf'data-move="{move}">([^<]*)<', html)
    assert found is not None, move
    return int(found.group(1))


def test_the_editor_shows_the_active_playbook_checked_as_you_type(
    admin: tuple[TestClient, str],
) -> None:
    client, _ = admin
    page = client.get("/playbook")
    assert page.status_code == 200
    assert "name: Test offer" in page.text and "version 1" in page.text
    assert 'hx-post="/playbook/validate"' in page.text
    assert 'hx-trigger="load, input changed delay:300ms"' in page.text


def test_validation_says_valid_or_lists_each_problem_with_its_line(
    admin: tuple[TestClient, str],
) -> None:
    client, csrf = admin
    valid = client.post(
        "/playbook/validate", data={"csrf_token": csrf, "playbook": CURRENT}, headers=HTMX
    )
    assert valid.status_code == 200 and "<html" not in valid.text
    assert (
        "Valid playbook: Test offer" in valid.text and "1 fit rules, 0 interest rules" in valid.text
    )
    broken = CURRENT.replace("age >= 18", "agee >= 18").replace("points: 5", "points: five")
    refused = client.post(
        "/playbook/validate", data={"csrf_token": csrf, "playbook": broken}, headers=HTMX
    )
    assert "2 problems" in refused.text
    rows = re.findall(
        r'<tr class="problem"><td class="num">(\d+)</td><td><code>([^<]*)</code>', refused.text
    )
    assert rows == [("2", "eligibility"), ("4", "fit[0].points")]
    assert "age" in refused.text  # the "did you mean" of an unknown field
    syntax = client.post(
        "/playbook/validate", data={"csrf_token": csrf, "playbook": "name: [oops\n"}, headers=HTMX
    )
    assert "1 problem<" in syntax.text and 'class="problem"' in syntax.text


def test_a_dry_run_counts_the_moves_and_their_reasons_and_changes_nothing(
    admin: tuple[TestClient, str], committed_db: Database
) -> None:
    client, csrf = admin
    before = _stages(committed_db)
    answer = client.post(
        "/playbook/dry-run", data={"csrf_token": csrf, "playbook": CURRENT}, headers=HTMX
    )
    assert answer.status_code == 200, answer.text
    assert "Dry run: nothing was changed" in answer.text
    assert "7 contacts evaluated, 7 change stage." in answer.text
    assert _moved(answer.text, "contact-lead-criteria_met") == 3
    assert _moved(answer.text, "contact-unqualified-criteria_not_met") == 2
    assert _moved(answer.text, "contact-unqualified-missing_information") == 1
    assert _moved(answer.text, "unqualified-lead-criteria_met") == 1
    assert re.search(r'data-stage="lead">4<', answer.text)
    for name in ("Ann", "Bea", "Cid", "Dan", "Eve", "Gus"):
        assert f">{name}</a>" in answer.text  # examples, linked to their pages
    assert _stages(committed_db) == before
    assert _count(committed_db, PlaybookVersion) == 1 and _count(committed_db, StageChange) == 0


def test_apply_stores_a_new_version_moves_the_stages_and_is_audited(
    admin: tuple[TestClient, str], committed_db: Database
) -> None:
    client, csrf = admin
    stricter = CURRENT.replace("age >= 18", "age >= 31")
    answer = client.post("/playbook/apply", data={"csrf_token": csrf, "playbook": stricter})
    assert answer.status_code == 200, answer.text
    assert "Playbook Test offer applied as version 2." in answer.text
    assert "<html" in answer.text and "age &gt;= 31" in answer.text  # the editor, kept
    stages = _stages(committed_db)
    assert {n for n, s in stages.items() if s == "lead"} == {"Bea", "Cid", "Gus"}
    assert stages["Ann"] == stages["Dan"] == stages["Fay"] == "unqualified"
    assert stages["Hal"] == "customer"  # not a stage qualify evaluates
    with committed_db.unit_of_work(read_only=True) as session:
        active = repository.active_version(session)
        assert active is not None and (active.version, active.source_text) == (2, stricter)
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "playbook_applied")
        ).one()
        assert entry.target_id == active.id and entry.details["changed"] == 7
        assert entry.actor.startswith("user:")
    assert "version 2" in client.get("/playbook").text


def test_a_broken_playbook_is_neither_dry_run_nor_applied(
    admin: tuple[TestClient, str], committed_db: Database
) -> None:
    client, csrf = admin
    before = _stages(committed_db)
    for action in ("dry-run", "apply"):
        answer = client.post(
            f"/playbook/{action}", data={"csrf_token": csrf, "playbook": "name: x\n"}
        )
        assert answer.status_code == 422 and "Nothing was changed." in answer.text
    assert _stages(committed_db) == before and _count(committed_db, PlaybookVersion) == 1


def test_only_admins_see_the_editor_and_changes_need_the_csrf_token(
    admin: tuple[TestClient, str],
    make_pages: Callable[..., TestClient],
    sign_in: Callable[..., str],
    committed_db: Database,
) -> None:
    client, _ = admin
    before = _stages(committed_db)
    assert client.post("/playbook/apply", data={"playbook": CURRENT}).status_code == 403
    for role in (Role.AGENT, Role.MANAGER):
        other = make_pages()
        csrf = sign_in(other, f"someone-{role.value}", role)
        assert other.get("/playbook").status_code == 403
        data = {"csrf_token": csrf, "playbook": CURRENT}
        assert other.post("/playbook/apply", data=data).status_code == 403
        assert other.post("/playbook/dry-run", data=data).status_code == 403
        assert 'href="/playbook"' not in other.get("/calls").text
    assert _stages(committed_db) == before


def test_the_editor_speaks_french_by_default_and_english_on_request(
    admin: tuple[TestClient, str],
) -> None:
    client, csrf = admin
    client.cookies.delete("leadsift_lang")
    page = client.get("/playbook")
    assert page.headers["Content-Language"] == "fr"
    assert "Éditeur de playbook" in page.text and "Simulation" in page.text
    dry = client.post(
        "/playbook/dry-run", data={"csrf_token": csrf, "playbook": CURRENT}, headers=HTMX
    )
    assert "Simulation : rien n&#39;a été modifié" in dry.text and "critères remplis" in dry.text
    client.cookies.set("leadsift_lang", "en")
    english = client.get("/playbook")
    assert "Playbook editor" in english.text and "Dry run" in english.text
