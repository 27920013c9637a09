"""Reports and costs over the API (both engines): each report answers the JSON (or CSV) its
command prints for the same options, costs are listed, added one by one or in batches answered
per item; agents get 403, bad values a 422 in the error shape."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadsift.access.schemas import Role, Scope
from leadsift.db import Database
from tests.api.conftest import user_key
from tests.api.test_route_policies import bearer
from tests.cli.helpers import run
from tests.cli.test_reports_cli import T0, _seed

CapSys = pytest.CaptureFixture[str]
NOW = T0 + timedelta(days=40)
PERIOD = ["--from", "2026-10-01", "--to", "2026-11-01"]
IN_PERIOD = "from=2026-10-01&to=2026-11-01"


@pytest.fixture
def seeded(db_url: str, app_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Contacts with a known history (and purchases) in the database the app serves, and the
    clock stopped: the command and the API report the same moment."""
    assert app_client.app is not None
    for module in ("analytics.endpoints", "analytics.cli", "analytics.cost_endpoints"):
        monkeypatch.setattr(f"leadsift.{module}.utcnow", lambda: NOW)
    return _seed(db_url)


@pytest.fixture
def admin(api_key: Callable[..., str]) -> dict[str, str]:
    """The header of an admin key acting for nobody."""
    return bearer(api_key("admin"))


def _command(capsys: CapSys, db_url: str, *args: str) -> Any:
    done = run(capsys, "--db", db_url, "--json", *args)
    assert done.code == 0, done.err
    return done.json()


REPORTS = [
    ("funnel", ["--by", "source", *PERIOD], f"by=source&{IN_PERIOD}"),
    ("funnel", [], ""),
    ("stage-times", PERIOD, IN_PERIOD),
    ("reasons", PERIOD, IN_PERIOD),
    ("roi", [], ""),
    ("roi", ["--by", "source", *PERIOD], f"by=source&{IN_PERIOD}"),
    ("attribution", PERIOD, IN_PERIOD),
    ("lift", ["--campaign", "autumn", "--window", "3w"], "campaign=autumn&window=3w"),
    ("campaigns", [], ""),
    ("sources", PERIOD, IN_PERIOD),
    ("agents", PERIOD, IN_PERIOD),
    ("interest-no-purchase", ["--threshold", "0", "--limit", "5"], "threshold=0&limit=5"),
]


@pytest.mark.parametrize(("name", "options", "query"), REPORTS)
def test_each_report_answers_what_its_command_prints(
    *,
    seeded: list[int], db_url: str, app_client: TestClient, admin: dict[str, str],
    capsys: CapSys, name: str, options: list[str], query: str,
) -> None:  # fmt: skip
    answer = app_client.get(f"/api/v1/reports/{name}?{query}", headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    command = _command(capsys, db_url, "report", name, *options)
    assert answer.json() == command
    assert command["rows"] or name in ("agents", "interest-no-purchase")


def test_one_contacts_attribution_and_the_csv_format(
    seeded: list[int], db_url: str, app_client: TestClient, admin: dict[str, str], capsys: CapSys
) -> None:
    first = seeded[0]
    mine = app_client.get(f"/api/v1/reports/attribution?contact={first}", headers=admin)
    expected = _command(capsys, db_url, "report", "attribution", "--contact", str(first))
    assert mine.json() == expected and expected["rows"]
    csv = app_client.get(f"/api/v1/reports/funnel?by=source&{IN_PERIOD}&format=csv", headers=admin)
    assert csv.status_code == 200
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv.headers["content-disposition"] == 'attachment; filename="funnel.csv"'
    command = run(capsys, "--db", db_url, "report", "funnel", "--by", "source", *PERIOD,
                  "--format", "csv")  # fmt: skip
    assert command.code == 0, command.err
    assert csv.text == command.out.rstrip("\n") + "\n"
    assert csv.text.startswith("group,contacts,leads,lead_rate,")


def test_administrators_and_managers_read_reports_agents_do_not(
    *,
    seeded: list[int], app_client: TestClient, committed_db: Database,
    api_key: Callable[..., str],
) -> None:  # fmt: skip
    manager = bearer(user_key(committed_db, "max", Role.MANAGER))
    agent = bearer(user_key(committed_db, "ann", Role.AGENT))
    for name, _, query in REPORTS:
        assert app_client.get(f"/api/v1/reports/{name}?{query}", headers=manager).status_code == 200
        refused = app_client.get(f"/api/v1/reports/{name}?{query}", headers=agent)
        assert refused.status_code == 403, name
        assert refused.json()["error"]["code"] == "forbidden"
        assert "needs the role admin, manager" in refused.json()["error"]["message"]
    ingest = app_client.get("/api/v1/reports/funnel", headers=bearer(api_key("ingest")))
    assert ingest.status_code == 403
    # One contact's conversions: a contact the manager may not see is a missing one.
    hidden = app_client.get(f"/api/v1/reports/attribution?contact={seeded[0]}", headers=manager)
    assert hidden.status_code == 404
    assert hidden.json() == {"error": {"code": "not_found", "message": f"no contact {seeded[0]}"}}


@pytest.mark.parametrize(
    ("url", "status", "code", "says"),
    [
        ("funnel?by=nope", 422, "invalid_input", "the funnel is split by one of all,"),
        ("roi?by=region", 422, "invalid_input", "ROI is split by one of campaign"),
        ("funnel?from=2026-13-01", 422, "invalid_request", "from:"),
        ("funnel?from=1850-01-01", 422, "invalid_request", "from:"),
        ("reasons?from=2026-11-01&to=2026-10-01", 422, "invalid_input", "--from must be before"),
        ("sources?format=html", 422, "invalid_request", "format:"),
        ("lift", 422, "invalid_request", "campaign:"),
        ("lift?campaign=autumn&window=0d", 422, "invalid_request", "window:"),
        ("lift?campaign=autumn&by=city", 422, "invalid_request", "by:"),
        ("lift?campaign=nope", 404, "not_found", "no campaign 'nope'"),
        ("interest-no-purchase?limit=0", 422, "invalid_request", "limit:"),
        ("interest-no-purchase?threshold=nan", 422, "invalid_request", "threshold:"),
        ("attribution?contact=0", 422, "invalid_request", "contact:"),
        # A misspelt option is an error, not ignored (a whole year's funnel instead).
        ("funnel?form=2026-10-01", 422, "invalid_request", "form: unknown parameter (this takes"),
        ("campaigns?by=source", 422, "invalid_request", "by: unknown parameter"),
    ],
)
def test_bad_options_are_refused_in_the_error_shape(
    *,
    seeded: list[int], app_client: TestClient, admin: dict[str, str], url: str, status: int,
    code: str, says: str,
) -> None:  # fmt: skip
    answer = app_client.get(f"/api/v1/reports/{url}", headers=admin)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and says in error["message"], error


def test_costs_added_listed_a_page_at_a_time_as_the_command_does(
    *,
    seeded: list[int], db_url: str, app_client: TestClient, admin: dict[str, str],
    capsys: CapSys,
) -> None:  # fmt: skip
    added = _command(capsys, db_url, "cost", "add", "--campaign", "autumn", "--amount", "90",
                     "--date", "2026-10-01", "--channel", "Email")  # fmt: skip
    body = {"campaign": "autumn", "amount": 90, "spent_on": "2026-10-01", "channel": "Email"}
    answer = app_client.post("/api/v1/costs", json=body, headers=admin)
    assert answer.status_code == 201, answer.text
    assert answer.json() == {**added, "id": added["id"] + 1}
    today = app_client.post("/api/v1/costs", json={"campaign": "ads", "amount": 5}, headers=admin)
    assert today.json()["spent_on"] == NOW.date().isoformat()
    listed = _command(capsys, db_url, "cost", "list")["costs"]
    assert [c["id"] for c in listed] == [added["id"] + 2, added["id"] + 1, added["id"]]
    seen, after = [], ""
    while True:
        page = app_client.get(f"/api/v1/costs?limit=1{after}", headers=admin).json()
        seen += page["items"]
        if page["next"] is None:
            break
        after = f"&after={page['next']}"
    assert seen == listed
    autumn = app_client.get("/api/v1/costs?campaign=autumn", headers=admin).json()
    expected = _command(capsys, db_url, "cost", "list", "--campaign", "autumn")["costs"]
    assert autumn == {"items": expected, "next": None} and len(expected) == 2
    missing = app_client.post(
        "/api/v1/costs", json={"campaign": "nope", "amount": 1}, headers=admin
    )
    assert missing.status_code == 404 and "no campaign 'nope'" in missing.json()["error"]["message"]


def test_a_batch_of_costs_is_answered_item_by_item(
    seeded: list[int], app_client: TestClient, admin: dict[str, str]
) -> None:
    batch = {"costs": [
        {"campaign": "autumn", "amount": 10, "spent_on": "2026-10-03"},
        {"campaign": "nope", "amount": 20},
        {"campaign": "ads", "amount": 30, "source": "google"},
    ]}  # fmt: skip
    answer = app_client.post("/api/v1/costs:batch", json=batch, headers=admin)
    assert answer.status_code == 207, answer.text
    result = answer.json()
    assert (result["added"], result["refused"]) == (2, 1)
    assert [(i["index"], i["status"]) for i in result["items"]] == [(0, 201), (1, 404), (2, 201)]
    assert result["items"][1]["cost"] is None
    assert result["items"][1]["error"]["code"] == "not_found"
    assert "no campaign 'nope'" in result["items"][1]["error"]["message"]
    assert result["items"][2]["cost"]["source"] == "google"
    stored = app_client.get("/api/v1/costs", headers=admin).json()["items"]
    assert sorted(c["id"] for c in stored) == sorted(
        i["cost"]["id"] for i in result["items"] if i["cost"]
    )
    # A batch that is not valid as a whole is refused whole: nothing is added.
    invalid = {"costs": [{"campaign": "autumn", "amount": 10}, {"campaign": "ads", "amount": -1}]}
    refused = app_client.post("/api/v1/costs:batch", json=invalid, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["field"] == "costs.1.amount"
    assert len(app_client.get("/api/v1/costs", headers=admin).json()["items"]) == 2
    empty = app_client.post("/api/v1/costs:batch", json={"costs": []}, headers=admin)
    assert empty.status_code == 422


def test_who_may_record_and_read_costs(
    *,
    seeded: list[int], app_client: TestClient, committed_db: Database,
    api_key: Callable[..., str],
) -> None:  # fmt: skip
    cost = {"campaign": "autumn", "amount": 12.5}
    manager = bearer(user_key(committed_db, "max", Role.MANAGER, Scope.ADMIN))
    assert app_client.post("/api/v1/costs", json=cost, headers=manager).status_code == 201
    agent = bearer(user_key(committed_db, "ann", Role.AGENT, Scope.ADMIN))
    for method, url, body in (("POST", "/api/v1/costs", cost), ("GET", "/api/v1/costs", None),
                              ("POST", "/api/v1/costs:batch", {"costs": [cost]})):  # fmt: skip
        answer = app_client.request(method, url, json=body, headers=agent)
        assert answer.status_code == 403, url
    reader = bearer(api_key("read"))
    assert app_client.post("/api/v1/costs", json=cost, headers=reader).status_code == 403
    assert len(app_client.get("/api/v1/costs", headers=reader).json()["items"]) == 1


def test_the_key_is_checked_before_the_query(app_client: TestClient) -> None:
    # Nobody without a key learns which parameters a route takes.
    answer = app_client.get("/api/v1/reports/funnel?form=2026-10-01")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthenticated"
