"""Predictive models over the API (both engines): the list and the cards as `leadsift model
list|show --json`, activation as `model activate` (administrators only, a damaged model
refused), and a contact's explanation with the active model's prediction as `explain --json`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from leadsift.access.schemas import Role, Scope
from leadsift.db import Database
from leadsift.scoring.models import StoredModel
from leadsift.scoring.schemas import TrainRequest
from leadsift.workspace import Workspace
from tests.api.conftest import user_key
from tests.api.test_route_policies import bearer
from tests.cli.helpers import run
from tests.files import write_csv
from tests.integration.test_predictive import _people

CapSys = pytest.CaptureFixture[str]
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def models(db_url: str, app_client: TestClient, tmp_path: Path) -> list[int]:
    """Two models trained on the same contacts: the first active, the second not."""
    assert app_client.app is not None
    header, rows, _ = _people(400)
    with Workspace(db_url) as workspace:
        workspace.import_contacts(write_csv(tmp_path / "people.csv", header, rows))
        first = workspace.train_model(TrainRequest(label="bought", positive="yes"))
        second = workspace.train_model(
            TrainRequest(label="bought", positive="yes", exclude=["age"], activate=False)
        )
    return [first.model_id, second.model_id]


@pytest.fixture
def admin(api_key: Callable[..., str]) -> dict[str, str]:
    """The header of an admin key acting for nobody."""
    return bearer(api_key("admin"))


def _listed(capsys: CapSys, db_url: str) -> list[dict[str, object]]:
    done = run(capsys, "--db", db_url, "--json", "model", "list")
    assert done.code == 0, done.err
    return list(done.json()["models"])


def test_models_and_cards_as_the_commands_give_them(
    models: list[int], db_url: str, app_client: TestClient, admin: dict[str, str],
    capsys: CapSys,
) -> None:  # fmt: skip
    first, second = models
    page = app_client.get("/api/v1/models?limit=1", headers=admin)
    assert page.status_code == 200, page.text
    rest = app_client.get(f"/api/v1/models?after={page.json()['next']}", headers=admin).json()
    assert page.json()["next"] == str(second) and rest["next"] is None
    assert page.json()["items"] + rest["items"] == _listed(capsys, db_url)
    for model_id in models:
        card = app_client.get(f"/api/v1/models/{model_id}", headers=admin)
        shown = run(capsys, "--db", db_url, "--json", "model", "show", str(model_id))
        assert card.json() == shown.json()
    assert card.json()["card"]["label"] == "bought = yes"
    missing = app_client.get("/api/v1/models/999", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"no model 999; models: {second}, {first}"


def test_an_administrator_activates_a_model(
    *,
    models: list[int], db_url: str, app_client: TestClient, admin: dict[str, str],
    committed_db: Database, api_key: Callable[..., str], capsys: CapSys,
) -> None:  # fmt: skip
    first, second = models
    url = f"/api/v1/models/{second}/activate"
    for token in (
        api_key("read"),
        user_key(committed_db, "max", Role.MANAGER, Scope.ADMIN),
        user_key(committed_db, "ann", Role.AGENT, Scope.ADMIN),
    ):
        assert app_client.post(url, headers=bearer(token)).status_code == 403
    assert [m["id"] for m in _listed(capsys, db_url) if m["active"]] == [first]
    answer = app_client.post(url, headers=admin)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["id"], answer.json()["active"]) == (second, True)
    assert [m["id"] for m in _listed(capsys, db_url) if m["active"]] == [second]
    # A damaged model is refused and the active one stays.
    with committed_db.unit_of_work() as session:
        damaged = update(StoredModel).where(StoredModel.id == first).values(document="{oops")
        session.execute(damaged)
    refused = app_client.post(f"/api/v1/models/{first}/activate", headers=admin)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "model_file_corrupt"
    assert [m["id"] for m in _listed(capsys, db_url) if m["active"]] == [second]
    assert app_client.post("/api/v1/models/0/activate", headers=admin).status_code == 422


def test_the_explanation_carries_the_prediction_as_explain_prints_it(
    *,
    models: list[int], db_url: str, app_client: TestClient, admin: dict[str, str],
    committed_db: Database, capsys: CapSys, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for module in ("qualification.promotion", "scoring.endpoints", "scoring.cli"):
        monkeypatch.setattr(f"leadsift.{module}.utcnow", lambda: NOW)
    shown = run(capsys, "--db", db_url, "--json", "contacts", "show", "p3@example.org").json()
    command = run(capsys, "--db", db_url, "--json", "explain", str(shown["id"]))
    assert command.code == 0, command.err
    answer = app_client.get(f"/api/v1/contacts/{shown['id']}/explanation", headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json() == command.json()
    prediction = answer.json()["prediction"]
    assert prediction["model_id"] == models[0] and 0.0 < prediction["probability"] < 1.0
    # Managers read models; agents do not.
    manager = bearer(user_key(committed_db, "max", Role.MANAGER))
    assert app_client.get("/api/v1/models", headers=manager).status_code == 200
    agent = bearer(user_key(committed_db, "ann", Role.AGENT))
    assert app_client.get("/api/v1/models", headers=agent).status_code == 403
    assert app_client.get(f"/api/v1/models/{models[0]}", headers=agent).status_code == 403


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/models?limit=0", "limit"),
        ("/api/v1/models?limit=501", "limit"),
        ("/api/v1/models?after=x1", "after"),
        ("/api/v1/models/0", "model_id"),
        (f"/api/v1/models/{2**63}", "model_id"),
        ("/api/v1/contacts/0/explanation", "contact_id"),
    ],
)
def test_bad_values_are_refused_in_the_error_shape(
    app_client: TestClient, admin: dict[str, str], url: str, field: str
) -> None:
    answer = app_client.get(url, headers=admin)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    assert [d["field"] for d in error["details"]] == [field]
