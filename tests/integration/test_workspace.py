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
