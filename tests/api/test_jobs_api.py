"""Long jobs over the API (both engines): an upload is queued (202, Location), the runner runs
it, the job shows its progress and result; only its creator or an admin sees it; scopes and
roles; Idempotency-Key; runs, pages, cancelling and limits."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from leadsift.access import service as access
from leadsift.access.schemas import COMMAND_LINE, Role, Scope
from leadsift.api import create_app
from leadsift.config import Settings
from leadsift.db import Database
from leadsift.jobs import endpoints, runner, service
from leadsift.kit.clock import utcnow
from tests.files import FRENCH_CRM_EXPECTED, write_french_crm

PLAYBOOK = "name: API jobs\neligibility: age >= 18\n"


def with_jobs(app: FastAPI) -> FastAPI:
    """The app with the jobs routes (until api.py includes them itself)."""
    paths = {context.path for context in iter_route_contexts(app.routes)}
    if "/api/v1/jobs/{job_id}" not in paths:
        app.include_router(endpoints.router)
    return app


@pytest.fixture(autouse=True)
def no_earlier_uploads(db_url: str) -> None:
    """Start with no stored upload: on PostgreSQL every test shares one database URL (so one
    uploads folder), and earlier tests leave the files of jobs they queued but never ran."""
    shutil.rmtree(service.uploads_dir(db_url), ignore_errors=True)


@pytest.fixture
def make_jobs_client(db_url: str) -> Iterator[Callable[..., TestClient]]:
    """Started apps with the jobs routes, settings overridden."""
    started: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        app = with_jobs(create_app(Settings(database_url=db_url, **overrides)))
        client = TestClient(app)
        client.__enter__()
        started.append(client)
        return client

    try:
        yield make
    finally:
        for client in reversed(started):
            client.__exit__(None, None, None)


@pytest.fixture
def client(make_jobs_client: Callable[..., TestClient]) -> TestClient:
    """The app with default settings and the jobs routes."""
    return make_jobs_client()


def bearer(key: str) -> dict[str, str]:
    """The header carrying an API key."""
    return {"Authorization": f"Bearer {key}"}


def user_key(database: Database, name: str, role: Role, scope: Scope = Scope.ADMIN) -> str:
    """A key acting for a new user of ROLE."""
    with database.unit_of_work() as session:
        access.add_user(session, name, role)
        return access.create_key(session, f"{name}'s key", scope, user=name).key


def upload(
    client: TestClient, key: str, content: bytes, path: str = "/api/v1/imports/contacts",
    name: str = "contacts.csv", **fields: Any,
) -> Any:  # fmt: skip
    """POST a file and form fields (an Idempotency-Key with idempotency_key=...)."""
    headers = bearer(key)
    if "idempotency_key" in fields:
        headers["Idempotency-Key"] = fields.pop("idempotency_key")
    files = {"file": (name, content, "text/csv")}
    return client.post(path, headers=headers, files=files, data=fields)


def test_an_upload_is_queued_then_run_with_progress_and_result(
    client: TestClient, api_key: Callable[..., str], committed_db: Database, tmp_path: Path
) -> None:
    admin = api_key("admin")
    crm = write_french_crm(tmp_path / "crm.csv").read_bytes()
    queued = upload(client, admin, crm, name="../../Clients 2025.csv", map=["Origine=source"])
    assert queued.status_code == 202, queued.text
    job = queued.json()
    assert queued.headers["Location"] == f"/api/v1/jobs/{job['id']}"
    assert (job["status"], job["kind"], job["progress"], job["result"]) == (
        "queued", "import_contacts", None, None
    )  # fmt: skip
    assert job["parameters"]["file"] == {
        "name": "Clients_2025.csv", "bytes": len(crm), "sha256": job["parameters"]["file"]["sha256"]
    }  # fmt: skip
    assert job["parameters"]["map"] == ["Origine=source"]
    assert client.get(queued.headers["Location"], headers=bearer(admin)).json() == job

    assert runner.run_one(committed_db, utcnow()) == job["id"]
    done = client.get(queued.headers["Location"], headers=bearer(admin)).json()
    assert (done["status"], done["error"]) == ("succeeded", None)
    assert done["progress"] == {"done": len(crm), "total": len(crm), "unit": "bytes"}
    assert {k: done["result"][k] for k in FRENCH_CRM_EXPECTED} == FRENCH_CRM_EXPECTED
    assert done["result"]["mapping"]["Origine"] == "source"
    rejects = client.get(done["rejects"], headers=bearer(admin))
    assert rejects.status_code == 200
    assert rejects.headers["content-type"].startswith("text/csv")
    assert len(rejects.text.splitlines()) == 1 + FRENCH_CRM_EXPECTED["rejected"]


def test_a_failed_job_says_why(
    client: TestClient, api_key: Callable[..., str], committed_db: Database
) -> None:
    admin = api_key("admin")
    queued = upload(client, admin, b"", name="empty.csv").json()
    runner.run_one(committed_db, utcnow())
    failed = client.get(f"/api/v1/jobs/{queued['id']}", headers=bearer(admin)).json()
    assert failed["status"] == "failed" and failed["result"] is None
    assert failed["error"]["code"] == "import_file"
    assert "empty.csv: the file is empty" in failed["error"]["message"]
    missing = client.get(f"/api/v1/jobs/{queued['id']}/rejects", headers=bearer(admin))
    assert missing.status_code == 404


def test_only_the_creator_or_an_admin_sees_a_job(
    client: TestClient, api_key: Callable[..., str], committed_db: Database
) -> None:
    creator = api_key("ingest", "website")
    queued = upload(client, creator, b"type,email\n", "/api/v1/imports/events", "events.csv")
    assert queued.status_code == 202, queued.text
    url = queued.headers["Location"]
    nobody = client.get("/api/v1/jobs/999999999", headers=bearer(creator)).json()
    others = {
        "another integration": api_key("ingest", "crm sync"),
        "a manager with an admin-scope key": user_key(committed_db, "mia", Role.MANAGER),
    }
    for who, key in others.items():
        answer = client.get(url, headers=bearer(key))
        assert answer.status_code == 404, who
        assert answer.json()["error"]["code"] == nobody["error"]["code"] == "not_found", who
        assert client.get("/api/v1/jobs", headers=bearer(key)).json()["items"] == [], who
        assert client.delete(url, headers=bearer(key)).status_code == 404, who
    admins = [api_key("admin"), user_key(committed_db, "ada", Role.ADMIN, Scope.INGEST)]
    for key in (creator, *admins):
        assert client.get(url, headers=bearer(key)).json()["id"] == queued.json()["id"]


def test_a_key_of_the_wrong_scope_or_role_is_refused(
    client: TestClient, api_key: Callable[..., str], committed_db: Database
) -> None:
    read, ingest = api_key("read"), api_key("ingest")
    agent = user_key(committed_db, "ali", Role.AGENT)
    refused = [
        (read, "post", "/api/v1/imports/events", "needs ingest"),
        (ingest, "post", "/api/v1/imports/contacts", "needs admin"),
        (ingest, "post", "/api/v1/scoring-runs", "needs admin"),
        (ingest, "post", "/api/v1/models/training-runs", "needs admin"),
        (read, "get", "/api/v1/jobs", "needs ingest"),
        (agent, "post", "/api/v1/qualification-runs", "needs the role admin"),
        (agent, "post", "/api/v1/models/scoring-runs", "needs the role admin"),
    ]
    for key, method, path, message in refused:
        answer = client.request(method, path, headers=bearer(key), json={})
        assert answer.status_code == 403, (path, answer.text)
        assert message in answer.json()["error"]["message"], path
    # Refused before the body is read: no upload is stored for a key that may not send it.
    assert upload(client, ingest, b"email\na@b.fr\n").status_code == 403
    root = service.uploads_dir(committed_db.url)
    assert not any(root.iterdir())


def test_an_idempotency_key_returns_the_same_job(
    client: TestClient, api_key: Callable[..., str], committed_db: Database
) -> None:
    admin = api_key("admin")
    content = b"email\nana@example.com\n"
    first = upload(client, admin, content, idempotency_key="import-2025-01")
    again = upload(client, admin, content, idempotency_key="import-2025-01")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["Location"] == first.headers["Location"]
    other = upload(client, admin, b"email\nbob@example.com\n", idempotency_key="import-2025-01")
    assert other.status_code == 409
    assert "used for another request" in other.json()["error"]["message"]
    fresh = upload(client, admin, content, idempotency_key="import-2025-02")
    assert fresh.json()["id"] != first.json()["id"]
    # One stored copy per job, none for the repeat or the refusal.
    assert len(list(service.uploads_dir(committed_db.url).iterdir())) == 2
    runs = [
        client.post("/api/v1/models/scoring-runs", headers={**bearer(admin), "Idempotency-Key": k})
        for k in ("s-1", "s-1")
    ]
    assert runs[0].json()["id"] == runs[1].json()["id"]


def test_runs_are_queued_checked_and_listed_page_by_page(
    client: TestClient, api_key: Callable[..., str]
) -> None:
    admin = bearer(api_key("admin"))
    ids = [
        client.post("/api/v1/scoring-runs", headers=admin).json()["id"],
        client.post(
            "/api/v1/qualification-runs", headers=admin,
            json={"playbook": {"yaml": PLAYBOOK, "source": "p.yaml"}, "dry_run": True},
        ).json()["id"],
        client.post("/api/v1/models/training-runs", headers=admin, json={
            "cv": 3, "holdout": {"last": 0.2, "order_by": "created_at"}}).json()["id"],
        client.post("/api/v1/models/scoring-runs", headers=admin).json()["id"],
    ]  # fmt: skip
    refused: list[tuple[str, dict[str, Any]]] = [
        ("qualification-runs", {"playbook": {"yaml": "name: x\neligibility: [\n"}}),
        ("scoring-runs", {"playbook": {"yaml": PLAYBOOK, "name": "both"}}),
        ("scoring-runs", {"dry_run": 1}),
        ("models/training-runs", {"order_by": "created_at"}),  # only inside a holdout
        ("models/training-runs", {"holdout": {"order_by": "created_at"}}),
        ("models/training-runs", {"holdout": {"last": 1.5}}),
        ("models/training-runs", {"activate": 0}),
    ]
    for path, body in refused:  # none queued: the listing below holds only the four
        answer = client.post(f"/api/v1/{path}", headers=admin, json=body)
        assert answer.status_code == 422, (path, answer.text)
    unknown = client.post(
        "/api/v1/qualification-runs", headers=admin, json={"playbook": {"name": "never"}}
    )
    assert unknown.status_code == 404 and "never" in unknown.json()["error"]["message"]

    first = client.get("/api/v1/jobs?limit=3", headers=admin).json()
    assert [j["id"] for j in first["items"]] == ids[::-1][:3] and first["next"] is not None
    second = client.get(f"/api/v1/jobs?limit=3&after={first['next']}", headers=admin).json()
    assert ([j["id"] for j in second["items"]], second["next"]) == ([ids[0]], None)
    training = first["items"][1]
    assert (training["kind"], training["parameters"]["cv"]) == ("model_train", 3)
    held = training["parameters"]
    assert (held["holdout_last"], held["order_by"]) == (0.2, "created_at")
    qualifying = first["items"][2]
    assert qualifying["parameters"]["playbook"]["name"] == "API jobs"
    assert "text" not in qualifying["parameters"]["playbook"]
    assert client.get("/api/v1/jobs?status=running", headers=admin).json()["items"] == []
    assert client.get("/api/v1/jobs?after=abc", headers=admin).status_code == 422


def test_only_a_queued_job_is_cancelled_and_its_upload_dropped(
    client: TestClient, api_key: Callable[..., str], committed_db: Database
) -> None:
    admin = bearer(api_key("admin"))
    queued = upload(client, admin["Authorization"][7:], b"email\nana@example.com\n").json()
    url = f"/api/v1/jobs/{queued['id']}"
    cancelled = client.delete(url, headers=admin)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    with committed_db.unit_of_work(read_only=True) as session:
        job = service.visible(session, COMMAND_LINE, queued["id"])
        assert not Path(job.parameters["file"]["path"]).exists()
    again = client.delete(url, headers=admin)
    assert again.status_code == 409 and "only a queued job" in again.json()["error"]["message"]
    assert runner.run_one(committed_db, utcnow()) is None  # nothing left to run


def test_an_upload_over_the_limit_is_refused_and_not_kept(
    make_jobs_client: Callable[..., TestClient],
    api_key: Callable[..., str],
    committed_db: Database,
) -> None:
    client = make_jobs_client(import_max_upload_bytes=100)
    admin = api_key("admin")
    answer = upload(client, admin, b"email\n" + b"someone@example.com\n" * 10)
    assert answer.status_code == 413
    assert "LEADSIFT_IMPORT_MAX_UPLOAD_BYTES" in answer.json()["error"]["message"]
    assert not any(service.uploads_dir(committed_db.url).iterdir())
    bad_region = upload(client, admin, b"email\n", default_region="XX")
    assert bad_region.status_code == 422
    assert bad_region.json()["error"]["details"][0]["field"] == "default_region"
    contacts = "/api/v1/imports/contacts"
    no_file = client.post(contacts, headers=bearer(admin), data={"update": "true"})
    assert no_file.status_code == 422 and "part `file`" in no_file.json()["error"]["message"]
    loose = upload(client, admin, b"email\n", dry_run="1")
    assert loose.status_code == 422 and "use true or false" in loose.json()["error"]["message"]
    unknown = upload(client, admin, b"email\n", colour="blue")
    assert unknown.status_code == 422 and unknown.json()["error"]["details"][0]["field"] == "colour"
