"""The library facade: `from leadsift import Workspace`."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadsift import ImportOptions, Workspace
from leadsift.errors import NotFoundError
from tests.files import write_french_crm


def test_workspace_imports_and_finds_contacts(committed_db_url: str, tmp_path: Path) -> None:
    path = write_french_crm(tmp_path / "crm.csv")
    with Workspace(committed_db_url) as workspace:
        dry = workspace.import_contacts(path, ImportOptions(dry_run=True))
        assert (dry.created, workspace.count_contacts()) == (4, 0)
        summary = workspace.import_contacts(path)
        assert (summary.created, workspace.count_contacts()) == (4, 4)
        assert workspace.contact("06.12.34.56.78").email == "jerome.lefevre@exemple.fr"
        undone = workspace.undo_import(summary.batch_id or 0)
        assert (undone.contacts_deleted, workspace.count_contacts()) == (4, 0)
        with pytest.raises(NotFoundError):
            workspace.contact("jerome.lefevre@exemple.fr")


def test_workspace_qualifies_counts_and_explains(committed_db_url: str) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "consumer-25-35"
    with Workspace(committed_db_url) as workspace:
        imported = workspace.import_contacts(example / "contacts.csv")
        dry = workspace.qualify(example / "playbook.yaml", dry_run=True)
        assert workspace.count_contacts('stage = "lead"') == 0
        summary = workspace.qualify(example / "playbook.yaml")
        assert summary.stages == dry.stages and summary.playbook_version == 1
        leads = workspace.count_contacts('stage = "lead"')
        assert leads == summary.stages["lead"] > 0
        undone = workspace.undo_import(
            imported.batch_id or 0
        )  # contacts go, with their history and evaluations
        assert undone.contacts_deleted == summary.evaluated
        assert workspace.count_contacts() == 0


def test_the_facade_records_events_and_scores(tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("email,age\nann@example.com,30\n", encoding="utf-8")
    playbook = tmp_path / "playbook.yaml"
    playbook.write_text(
        "name: Facade\neligibility: age >= 18\ninterest:\n  half_life: 14d\n  rules:\n"
        "    - {event: form_submitted, points: 40}\nqualify: interest >= 30\n",
        encoding="utf-8",
    )
    with Workspace(f"sqlite:///{tmp_path / 'ws.db'}") as workspace:
        workspace.import_contacts(contacts)
        workspace.qualify(playbook)
        result = workspace.record_events([{"type": "form_submitted", "email": "ann@example.com"}])
        assert (result.inserted, result.errors) == (1, [])
        contact = workspace.contact("ann@example.com")
        assert (contact.stage, contact.stage_reason) == ("qualified", "hand_raiser")
        assert contact.scores["interest"] == pytest.approx(40.0, abs=0.01)
        summary = workspace.score()
        assert summary.stages["qualified"] == 1
        assert workspace.explain("ann@example.com").interest is not None
