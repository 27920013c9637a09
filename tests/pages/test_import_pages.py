"""The Import pages: upload, proposed mapping and preview, the import in the background with
its progress, the rejected rows; who may see an upload; CSRF; French and English."""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from leadsift.access.schemas import Role
from leadsift.contacts import import_jobs as jobs
from leadsift.contacts import import_views
from leadsift.contacts.lookup import find_contact
from leadsift.contacts.mapping import plan_columns
from leadsift.db import Database
from leadsift.errors import NotFoundError

# An odd name for the email column (not recognised: proposed as a custom attribute), a bad
# email on row 3, no phone on row 4.
CSV = (
    "Courriel pro;Prénom;Portable;Couleur\n"
    "Alice@Example.COM;Alice;06 12 34 56 78;bleu\n"
    "not-an-email;Bob;06 12 34 56 79;vert\n"
    "carol@example.com;Carol;;rouge\n"
)
FIXED = {"col-0": "email", "col-1": "first_name", "col-2": "phone", "col-3": "attrs.couleur"}
_SELECT = re.compile(r'<select id="(col-\d+)".*?</select>', re.S)
_FIGURE = re.compile(r'class="figure[^"]*">([\d\s\u202f]+)</div>([^<]+)<')


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    """Where the test app keeps uploads."""
    return tmp_path / "uploads"


@pytest.fixture
def browser(make_pages: Callable[..., TestClient], uploads: Path) -> Callable[[], TestClient]:
    """A new browser on a new app keeping uploads in the test's folder, in English."""

    def make() -> TestClient:
        client = make_pages()
        client.app.state.import_uploads = uploads  # type: ignore[attr-defined]
        client.cookies.set("leadsift_lang", "en")
        return client

    return make


def upload(
    client: TestClient, csrf: str, content: bytes = CSV.encode(), name: str = "c.csv"
) -> str:
    """Upload CONTENT; the new upload's id."""
    answer = client.post(
        "/import", data={"csrf_token": csrf}, files={"file": (name, content, "text/csv")}
    )
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert re.fullmatch(r"/import/[A-Za-z0-9_-]{32}", location)
    return location.rsplit("/", 1)[1]


def selected(html: str) -> dict[str, str]:
    """The chosen target of each column's select."""
    found = {}
    for match in _SELECT.finditer(html):
        option = re.search(r'<option value="([^"]+)" selected>', match.group(0))
        assert option is not None, match.group(1)
        found[match.group(1)] = option.group(1)
    return found


def finish(client: TestClient, upload_id: str) -> str:
    """Poll the progress as htmx does until the import is over; its last fragment."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = client.get(f"/import/{upload_id}/status", headers={"HX-Request": "true"})
        assert answer.status_code == 200
        if 'hx-trigger="every 500ms"' not in answer.text:
            return answer.text
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


def figures(html: str) -> dict[str, int]:
    """The page's big numbers by their label."""
    return {
        label.strip(): int(re.sub(r"\D", "", number)) for number, label in _FIGURE.findall(html)
    }


def test_upload_propose_fix_preview_import_and_download_the_rejected_rows(
    browser: Callable[[], TestClient], sign_in: Callable[..., str], committed_db: Database
) -> None:
    client = browser()
    csrf = sign_in(client, "mia", Role.MANAGER)
    form = client.get("/import")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text
    upload_id = upload(client, csrf)

    proposed = client.get(f"/import/{upload_id}")
    assert proposed.status_code == 200
    assert selected(proposed.text) == {
        "col-0": "attrs.courriel_pro",  # the odd name: a custom attribute, until fixed
        "col-1": "first_name",
        "col-2": "phone",
        "col-3": "attrs.couleur",
    }
    assert "+33612345678" in proposed.text  # the phone as it will be stored
    assert "No email, phone or external id: the row cannot be imported" in proposed.text
    assert "alice@example.com" not in proposed.text
    assert "1 of these 3 rows would be rejected." in proposed.text

    fixed = client.post(
        f"/import/{upload_id}/mapping",
        data=FIXED | {"region": "FR"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert fixed.status_code == 200
    assert fixed.text.lstrip().startswith('<section class="card" id="preview"')  # a fragment
    assert "alice@example.com" in fixed.text  # normalised
    assert '<td class="bad"><span class="error">✗ Not a valid email address' in fixed.text
    assert "No email, phone or external id" not in fixed.text  # Carol has her email now
    assert "1 of these 3 rows would be rejected." in fixed.text

    started = client.post(f"/import/{upload_id}/run", data=FIXED | {"csrf_token": csrf})
    assert started.status_code == 303
    assert started.headers["location"] == f"/import/{upload_id}/status"
    finish(client, upload_id)
    outcome = client.get(f"/import/{upload_id}/status")
    assert figures(outcome.text) == {"Rows read": 3, "Inserted": 2, "Updated": 0, "Rejected": 1}
    assert f'href="/import/{upload_id}/rejected.csv"' in outcome.text
    assert "Importing the same file again is safe" in outcome.text

    with committed_db.unit_of_work(read_only=True) as session:
        alice = find_contact(session, "alice@example.com")
        assert (alice.first_name, alice.phone, alice.attrs) == (
            "Alice",
            "+33612345678",
            {"couleur": "bleu"},
        )
        assert find_contact(session, "carol@example.com").first_name == "Carol"
        with pytest.raises(NotFoundError):
            find_contact(session, "+33612345679")  # Bob's row was rejected

    rejected = client.get(f"/import/{upload_id}/rejected.csv")
    assert rejected.status_code == 200
    assert rejected.headers["content-type"].startswith("text/csv")
    assert "attachment" in rejected.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(rejected.text))) == [
        ["row", "column", "value", "reason", "message"],
        ["3", "Courriel pro", "not-an-email", "invalid_email", "not a valid email address"],
    ]

    # Running it again is safe: the pipeline recognises every row.
    again = client.post(f"/import/{upload_id}/run", data=FIXED | {"csrf_token": csrf})
    assert again.status_code == 303
    finish(client, upload_id)
    repeat = client.get(f"/import/{upload_id}/status")
    assert figures(repeat.text) == {"Rows read": 3, "Inserted": 0, "Updated": 0, "Rejected": 1}
    assert "Unchanged: 2" in repeat.text


def test_progress_is_polled_while_the_import_runs_and_one_run_at_a_time(
    browser: Callable[[], TestClient], sign_in: Callable[..., str]
) -> None:
    client = browser()
    csrf = sign_in(client, "ada")
    release, seen = threading.Event(), []

    def slow_hook(_session: Session, touched: Sequence[int], _now: datetime) -> None:
        seen.append(len(touched))
        assert release.wait(30)

    client.app.state.after_import = (slow_hook,)  # type: ignore[attr-defined]
    upload_id = upload(client, csrf)
    assert client.post(f"/import/{upload_id}/run", data=FIXED | {"csrf_token": csrf}).is_redirect
    try:
        running = client.get(f"/import/{upload_id}/status", headers={"HX-Request": "true"})
        assert 'hx-trigger="every 500ms"' in running.text
        assert "<progress" in running.text
        assert "of the file read" in running.text
        page = client.get(f"/import/{upload_id}/status")
        assert "<html" in page.text and 'hx-get="/import/' in page.text
        # A second start while it runs starts nothing: the page shows the running one.
        twice = client.post(f"/import/{upload_id}/run", data=FIXED | {"csrf_token": csrf})
        assert twice.headers["location"] == f"/import/{upload_id}/status"
        assert client.get(f"/import/{upload_id}").headers["location"].endswith("/status")
        assert client.get(f"/import/{upload_id}/rejected.csv").status_code == 404
    finally:
        release.set()
    assert "Import finished" in finish(client, upload_id)
    assert seen == [2]  # the hooks (scoring) saw the contacts the import created


def test_a_mapping_that_cannot_be_used_is_explained_and_never_run(
    browser: Callable[[], TestClient], sign_in: Callable[..., str], committed_db: Database
) -> None:
    client = browser()
    csrf = sign_in(client, "ada")
    upload_id = upload(client, csrf)
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf}
    doubled = FIXED | {"col-0": "phone"}
    answer = client.post(f"/import/{upload_id}/mapping", data=doubled, headers=headers)
    assert "Two columns are imported as Phone: choose one." in answer.text
    bad_country = client.post(
        f"/import/{upload_id}/mapping", data=FIXED | {"region": "ZZ"}, headers=headers
    )
    assert "Unknown country code ZZ" in bad_country.text
    tampered = client.post(
        f"/import/{upload_id}/mapping", data=FIXED | {"col-3": "stage"}, headers=headers
    )
    assert "unknown field &#39;stage&#39;" in tampered.text
    refused = client.post(f"/import/{upload_id}/run", data=doubled | {"csrf_token": csrf})
    assert refused.status_code == 400
    assert selected(refused.text)["col-0"] == "phone"  # the form keeps what was chosen
    assert client.get(f"/import/{upload_id}/status").headers["location"] == f"/import/{upload_id}"
    with committed_db.unit_of_work(read_only=True) as session, pytest.raises(NotFoundError):
        find_contact(session, "carol@example.com")


def test_files_that_cannot_be_imported_get_the_form_again_with_the_reason(
    browser: Callable[[], TestClient],
    sign_in: Callable[..., str],
    uploads: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = browser()
    csrf = sign_in(client, "ada")
    empty = client.post("/import", data={"csrf_token": csrf}, files={"file": ("e.csv", b"")})
    assert empty.status_code == 400
    assert "This file cannot be imported:" in empty.text and "the file is empty" in empty.text
    header_only = client.post(
        "/import", data={"csrf_token": csrf}, files={"file": ("h.csv", b"email\n")}
    )
    assert "no data rows" in header_only.text
    missing = client.post("/import", data={"csrf_token": csrf})
    assert missing.status_code == 400 and "Choose a file to import." in missing.text
    monkeypatch.setattr(import_views, "MAX_UPLOAD_BYTES", 100)
    too_big = client.post(
        "/import", data={"csrf_token": csrf}, files={"file": ("big.csv", CSV.encode() * 10)}
    )
    assert too_big.status_code == 413 and "the upload page&#39;s limit" in too_big.text
    # A body declared far over the limit is refused before it is read.
    huge = client.post(
        "/import", data={"csrf_token": csrf}, files={"file": ("x.csv", b"a" * 70_000)}
    )
    assert huge.status_code == 413 and "the upload page&#39;s limit" in huge.text
    assert "Back to the dashboard" in huge.text  # the error page, not the form
    assert [p for p in uploads.iterdir()] == []  # nothing refused is kept


def test_changes_need_the_csrf_token(
    browser: Callable[[], TestClient], sign_in: Callable[..., str], uploads: Path
) -> None:
    client = browser()
    csrf = sign_in(client, "ada")
    files = {"file": ("c.csv", CSV.encode(), "text/csv")}
    assert client.post("/import", files=files).status_code == 403
    upload_id = upload(client, csrf)
    assert len(list(uploads.iterdir())) == 1  # only the upload with its token
    assert client.post(f"/import/{upload_id}/mapping", data=FIXED).status_code == 403
    assert client.post(f"/import/{upload_id}/run", data=FIXED).status_code == 403
    assert client.get(f"/import/{upload_id}/status").status_code == 303  # never run


def test_agents_may_not_import(
    browser: Callable[[], TestClient], sign_in: Callable[..., str]
) -> None:
    client = browser()
    csrf = sign_in(client, "andy", Role.AGENT)
    assert client.get("/import").status_code == 403
    files = {"file": ("c.csv", CSV.encode(), "text/csv")}
    assert client.post("/import", data={"csrf_token": csrf}, files=files).status_code == 403
    refused = client.get("/import")
    assert 'href="/import"' not in refused.text  # nor in their navigation


def test_only_the_uploader_sees_an_upload(
    browser: Callable[[], TestClient], sign_in: Callable[..., str]
) -> None:
    owner, other = browser(), browser()
    upload_id = upload(owner, sign_in(owner, "mia", Role.MANAGER))
    csrf = sign_in(other, "ada", Role.ADMIN)  # even an admin
    for path in ("", "/status", "/rejected.csv"):
        assert other.get(f"/import/{upload_id}{path}").status_code == 404, path
    for path in ("/mapping", "/run"):
        answer = other.post(f"/import/{upload_id}{path}", data=FIXED | {"csrf_token": csrf})
        assert answer.status_code == 404, path
    for forged in ("../../etc", "x" * 32, upload_id[:-1]):
        assert other.get(f"/import/{forged}").status_code == 404
    assert owner.get(f"/import/{upload_id}").status_code == 200


def test_the_pages_speak_french_and_english(
    browser: Callable[[], TestClient], sign_in: Callable[..., str]
) -> None:
    client = browser()
    csrf = sign_in(client, "ada")
    upload_id = upload(client, csrf)
    english = client.get(f"/import/{upload_id}")
    assert 'lang="en"' in english.text
    assert "Preview of the first rows" in english.text and ">First name<" in english.text
    client.cookies.set("leadsift_lang", "fr")
    french = client.get(f"/import/{upload_id}")
    assert 'lang="fr"' in french.text
    assert "Aperçu des premières lignes" in french.text and ">Prénom<" in french.text
    assert "Ni e-mail, ni téléphone, ni identifiant externe" in french.text
    assert "Importer des contacts" in client.get("/import").text
    client.post(f"/import/{upload_id}/run", data=FIXED | {"csrf_token": csrf})
    done = finish(client, upload_id)
    assert "Import terminé" in done and "Télécharger les lignes rejetées" in done
    assert "Adresse e-mail invalide" in done


# --- the helpers' rules ---------------------------------------------------------------------


def test_stored_names_are_plain_file_names() -> None:
    assert jobs.clean_name("../../etc/passwd") == "passwd"
    assert jobs.clean_name("C:\\Users\\me\\clients été.csv") == "clients été.csv"
    assert jobs.clean_name(".upload.json") == "upload.json"
    assert jobs.clean_name(None) == "upload.csv"
    assert jobs.clean_name("a" * 300 + ".xlsx").endswith("a.xlsx")
    assert len(jobs.clean_name("a" * 300 + ".xlsx")) == 120


def test_mapping_choices_doubles_and_items() -> None:
    plans = plan_columns(["Email", "Age", "Colour", "a=b"])
    assert jobs.choices(plans, plans[0])[-1] == "attrs.email_attr"  # never a standard name
    assert jobs.choices(plans, plans[2])[-1] == "attrs.colour"
    assert jobs.choices(plans, plans[0])[0] == "ignore"
    assert jobs.doubled(["email", "phone", "email", "attrs.x", "attrs.x", "ignore"]) == ["email"]
    assert jobs.overrides(["Email", "a=b"], ["phone", "ignore"]) == ("Email=phone",)


def test_uploads_are_found_by_their_owner_only_and_swept_after_a_day(tmp_path: Path) -> None:
    root = jobs.private_root(tmp_path / "u")
    stored = jobs.store_upload(root, 7, "c.csv", io.BytesIO(CSV.encode()), 10_000)
    assert stored.headers == ("Courriel pro", "Prénom", "Portable", "Couleur")
    assert jobs.find_upload(root, stored.id, 7).file.read_text(encoding="utf-8") == CSV
    with pytest.raises(NotFoundError):
        jobs.find_upload(root, stored.id, 8)
    jobs.sweep(root, now=time.time() + jobs.KEEP_SECONDS - 60)
    assert stored.folder.exists()
    jobs.sweep(root, now=time.time() + jobs.KEEP_SECONDS + 60)
    assert not stored.folder.exists()


def test_a_run_silent_too_long_is_reported_stopped(tmp_path: Path) -> None:
    state: dict[str, Any] = {"phase": "running", "done": 1, "total": 2, "summary": None}
    (tmp_path / ".state.json").write_text(json.dumps(state), encoding="utf-8")
    assert jobs.read_state(tmp_path).phase == "running"
    late = jobs.read_state(tmp_path, now=time.time() + jobs.STALE_SECONDS + 1)
    assert (late.phase, late.error) == ("failed", jobs.STOPPED)
