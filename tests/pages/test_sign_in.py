"""Signing in and out of the web application: cookies, CSRF, redirects, refusals."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from leadsift.access import service as access
from leadsift.access.schemas import Role
from leadsift.db import Database
from tests.pages.conftest import PASSWORD, add_user, csrf_of


def _post_sign_in(client: TestClient, name: str, password: str, **extra: str) -> object:
    form = client.get("/sign-in")
    data = {"name": name, "password": password, "csrf_token": csrf_of(form.text), **extra}
    return client.post("/sign-in", data=data)


def test_a_page_sends_a_stranger_to_the_sign_in_form_and_back(
    pages: TestClient, committed_db: Database
) -> None:
    answer = pages.get("/calls")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=/calls"
    # htmx requests are told where to go instead (a redirect would swap the form in).
    assert pages.get("/calls", headers={"HX-Request": "true"}).headers["HX-Redirect"] == (
        "/sign-in?next=/calls"
    )
    add_user(committed_db, "alice")
    signed = _post_sign_in(pages, "alice", PASSWORD, next="/calls")
    assert signed.status_code == 303  # type: ignore[attr-defined]
    assert signed.headers["location"] == "/calls"  # type: ignore[attr-defined]
    cookie = signed.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "leadsift_session=" in cookie
    for flag in ("HttpOnly", "Secure", "SameSite=lax"):
        assert flag.lower() in cookie.lower(), flag


def test_wrong_password_unknown_name_and_disabled_user_get_the_same_refusal(
    pages: TestClient, committed_db: Database
) -> None:
    add_user(committed_db, "alice")
    add_user(committed_db, "bob")
    with committed_db.unit_of_work() as session:
        access.disable_user(session, "bob")
    answers = [
        _post_sign_in(pages, "alice", "not the password"),
        _post_sign_in(pages, "nobody", PASSWORD),
        _post_sign_in(pages, "bob", PASSWORD),
    ]
    for answer in answers:
        assert answer.status_code == 401  # type: ignore[attr-defined]
        assert "leadsift_session" not in pages.cookies
    pages.cookies.set("leadsift_lang", "en")
    refused = _post_sign_in(pages, "nobody", PASSWORD)
    assert "wrong name or password, or the user is disabled" in refused.text  # type: ignore[attr-defined]


def test_sign_in_needs_its_form_token(pages: TestClient, committed_db: Database) -> None:
    add_user(committed_db, "alice")
    pages.get("/sign-in")
    forged = pages.post("/sign-in", data={"name": "alice", "password": PASSWORD})
    assert forged.status_code == 403
    assert "leadsift_session" not in pages.cookies


def test_next_never_leaves_the_site(pages: TestClient, committed_db: Database) -> None:
    add_user(committed_db, "alice")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"):
        pages.cookies.clear()
        answer = _post_sign_in(pages, "alice", PASSWORD, next=target)
        assert answer.headers["location"] == "/dashboard", target  # type: ignore[attr-defined]
    assert pages.get("/language/en?next=//evil.example").headers["location"] == "/dashboard"


def test_sign_out_needs_the_csrf_token_and_ends_the_session(
    pages: TestClient, sign_in: Callable[..., str]
) -> None:
    csrf = sign_in(pages, "alice")
    assert pages.post("/sign-out").status_code == 403
    assert pages.post("/sign-out", headers={"Origin": "https://evil.example"}).status_code == 403
    answer = pages.post("/sign-out", data={"csrf_token": csrf})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in"
    assert pages.post("/sign-out", data={"csrf_token": csrf}).status_code == 303  # to sign-in


def test_a_disabled_user_is_signed_out_at_once(
    pages: TestClient, sign_in: Callable[..., str], committed_db: Database
) -> None:
    sign_in(pages, "carol", Role.AGENT)
    with committed_db.unit_of_work() as session:
        access.disable_user(session, "carol")
    assert pages.get("/calls").status_code == 303


def test_the_language_is_chosen_remembered_and_switched(pages: TestClient) -> None:
    assert 'lang="fr"' in pages.get("/sign-in").text  # French by default
    english = pages.get("/sign-in", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert 'lang="en"' in english.text
    assert "Sign in" in english.text
    switched = pages.get("/language/fr?next=/sign-in")
    assert switched.status_code == 303
    french = pages.get("/sign-in", headers={"Accept-Language": "en"})
    assert "Se connecter" in french.text


def test_assets_are_served_by_the_app(pages: TestClient) -> None:
    for path in (
        "/static/vendor/htmx.min.js",
        "/static/vendor/chart.umd.min.js",
        "/static/app.css",
    ):
        answer = pages.get(path)
        assert answer.status_code == 200, path
        assert len(answer.content) > 1000, path
