"""The API scores a contact with the active model as its events arrive, before answering."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from leadsift.scoring.schemas import TrainRequest
from leadsift.workspace import Workspace
from tests.files import write_csv
from tests.integration.test_predictive import _people


def test_an_event_through_the_api_writes_the_contacts_probability(
    db_url: str, app_client: TestClient, api_key: Callable[..., str], tmp_path: Path
) -> None:
    header, rows, _ = _people(400)
    with Workspace(db_url) as workspace:
        workspace.import_contacts(write_csv(tmp_path / "people.csv", header, rows))
        trained = workspace.train_model(TrainRequest(label="bought", positive="yes"))
        contact_id = workspace.contact("p3@example.org").id
    headers = {"Authorization": f"Bearer {api_key('admin')}"}
    before = app_client.get(f"/api/v1/contacts/{contact_id}", headers=headers).json()
    assert before["scores"]["probability"] is None  # nobody scored yet
    answer = app_client.post(
        "/api/v1/events", json={"type": "page_view", "email": "p3@example.org"}, headers=headers
    )
    assert answer.json()["inserted"] == 1
    after = app_client.get(f"/api/v1/contacts/{contact_id}", headers=headers).json()["scores"]
    assert 0.0 < after["probability"] < 1.0
    with Workspace(db_url) as workspace:
        explained = workspace.explain(contact_id).prediction
    assert explained is not None
    assert explained["model_id"] == trained.model_id
    assert explained["probability"] == after["probability"]
    assert after["priority"] == explained["priority"]
