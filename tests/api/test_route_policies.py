"""Every route of the API declares who may call it, and no route answers without a valid key.

The check walks the routes the app serves (`iter_route_contexts`: since FastAPI 0.165,
`app.routes` holds each included router as one `_IncludedRouter` entry, not its routes), so a
new route is covered the day it is added; a route without a policy fails with its method and
path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import ANY

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from leadsift.access import service as access
from leadsift.access.endpoints import POLICY_ATTRIBUTE, Policy, allow, public, route_policies
from leadsift.access.schemas import Role, Scope
from leadsift.api import create_app
from leadsift.config import Settings
from leadsift.db import Database

# The routes anyone may call. Adding one to the app fails this test until it is added here:
# making a route public is a decision, not an accident.
EXPECTED_PUBLIC = {
    ("GET", "/openapi.json"),
    ("GET", "/t/leadsift.js"),
    ("POST", "/t/e"),
    ("OPTIONS", "/t/e"),
    ("POST", "/t/form"),
    ("OPTIONS", "/t/form"),
    ("GET", "/t/o/{token}.gif"),
    ("GET", "/t/c/{token:path}"),
    ("GET", "/u/{token}"),
    ("POST", "/u/{token}"),
    ("GET", "/"),
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("GET", "/language/{code}"),
}
# Mounts serve files, not code: each is listed with what it serves, and nothing else may be.
EXPECTED_MOUNTS = {"/static": StaticFiles}
# A key whose scope the route does not accept (admin scope accepts everything).
WRONG_SCOPE = {Scope.ADMIN: Scope.READ, Scope.READ: Scope.INGEST, Scope.INGEST: Scope.READ}
_PARAMETER = re.compile(r"\{[^}]+\}")
_WITH_BODY = {"POST", "PUT", "PATCH"}


@dataclass(frozen=True)
class ServedRoute:
    """One method of one route the app serves, with the policy it declares."""

    method: str
    path: str
    route: APIRoute
    policy: Policy

    @property
    def url(self) -> str:
        """The path with every parameter set to 1 (e.g. /api/v1/contacts/1)."""
        return _PARAMETER.sub("1", self.path)


@dataclass
class RouteCheck:
    """The routes that declare exactly one usable policy, and what is wrong with the others."""

    served: list[ServedRoute] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _label(context: RouteContext) -> str:
    methods = ",".join(sorted(context.methods or ())) or "ANY"
    return f"{methods} {context.path}"


def _policies(context: RouteContext, route: APIRoute) -> list[Policy]:
    """The route's policies, with those `include_router(dependencies=...)` adds: they run for
    the route but are not in `route.dependant`, which is all route_policies() reads."""
    added = [d for d in context.dependencies if d not in route.dependencies]
    from_inclusion = [getattr(d.dependency, POLICY_ATTRIBUTE, None) for d in added]
    return route_policies(route) + [p for p in from_inclusion if isinstance(p, Policy)]


def _policy_problem(policies: list[Policy]) -> str | None:
    if not policies:
        return "no policy: add allow(scope, roles) or public(why) to its dependencies"
    if len(policies) > 1:
        return f"{len(policies)} policies: a route declares exactly one"
    policy = policies[0]
    if policy.public and not policy.why.strip():
        return "public without a reason: say why in public(why)"
    if not policy.public and policy.scope is None and not policy.page:
        return "a key policy without a scope"
    return None


def check_routes(app: FastAPI) -> RouteCheck:
    """Every route the app serves, and a line per route that is not an APIRoute or does not
    declare exactly one policy (public ones with their reason)."""
    check = RouteCheck()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount) and isinstance(
            route.app, EXPECTED_MOUNTS.get(route.path, type(None))
        ):
            continue
        if not isinstance(route, APIRoute):
            kind = type(route).__name__
            check.problems.append(f"{_label(context)}: a {kind}, which cannot declare a policy")
            continue
        policies = _policies(context, route)
        problem = _policy_problem(policies)
        if problem is not None:
            check.problems.append(f"{_label(context)}: {problem}")
            continue
        path = str(context.path)
        check.served += [
            ServedRoute(m, path, route, policies[0]) for m in sorted(route.methods or ())
        ]
    return check


def unstarted_app(tmp_path: Path) -> FastAPI:
    """The real app, built but not started (enough to list its routes)."""
    return create_app(Settings(database_url=f"sqlite:///{tmp_path / 'routes.db'}"))


def bearer(token: str) -> dict[str, str]:
    """The header carrying an API key."""
    return {"Authorization": f"Bearer {token}"}


def call(client: TestClient, served: ServedRoute, headers: dict[str, str], **options: Any) -> Any:
    """Request a route with a minimal body ({} where it takes one)."""
    if served.method in _WITH_BODY and "content" not in options:
        options.setdefault("json", {})
    return client.request(served.method, served.url, headers=headers, **options)


def guarded(client: TestClient) -> list[ServedRoute]:
    """The routes of a started app that need a key (pages need a session: tests/web)."""
    assert isinstance(client.app, FastAPI)
    check = check_routes(client.app)
    assert check.problems == []
    return [s for s in check.served if not s.policy.public and not s.policy.page]


def test_every_route_declares_exactly_one_policy(tmp_path: Path) -> None:
    app = unstarted_app(tmp_path)
    check = check_routes(app)
    assert check.problems == [], "routes without a usable policy:\n" + "\n".join(check.problems)
    # The walk reached inside every included router.
    assert {s.path for s in check.served} >= {
        "/api/v1/events",
        "/api/v1/contacts/{contact_id}",
        "/api/v1/sms/inbound",
        "/api/v1/calls/next",
        "/t/e",
        "/u/{token}",
        "/openapi.json",
    }
    contexts = [c for c in iter_route_contexts(app.routes) if c.path not in EXPECTED_MOUNTS]
    assert len({(s.method, s.path) for s in check.served}) == sum(
        len(c.methods or ()) for c in contexts
    )
    assert all(s.policy.why.strip() for s in check.served if s.policy.public)


def test_the_public_routes_are_exactly_the_expected_ones(tmp_path: Path) -> None:
    served = check_routes(unstarted_app(tmp_path)).served
    public_routes = {(s.method, s.path) for s in served if s.policy.public}
    assert public_routes == EXPECTED_PUBLIC
    assert {(s.method, s.path) for s in served if s.policy.page} >= {("POST", "/sign-out")}
    assert {(s.method, s.path) for s in served if not s.policy.public} >= {
        ("POST", "/api/v1/events"),
        ("GET", "/api/v1/contacts/{contact_id}"),
        ("PUT", "/api/v1/contacts/{contact_id}/owner"),
        ("GET", "/api/v1/users"),
    }


async def _plain(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("plain")


def _throwaway_app() -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/api")
    router.add_api_route("/guarded", lambda: None, dependencies=[Depends(allow(Scope.READ))])
    router.add_api_route("/forgotten", lambda: None, methods=["POST"])
    app.include_router(router)
    # A policy given when including a router is a policy of each of its routes.
    included = APIRouter()
    included.add_api_route("/included-public", lambda: None)
    app.include_router(included, dependencies=[Depends(public("given at inclusion"))])
    app.add_api_route("/no-reason", lambda: None, dependencies=[Depends(public("  "))])
    both = [Depends(public("why not")), Depends(allow(Scope.ADMIN))]
    app.add_api_route("/both", lambda: None, dependencies=both)
    app.add_route("/plain", _plain)
    return app


def test_the_check_reports_every_route_without_a_usable_policy() -> None:
    problems = {
        p.split(": ", 1)[0]: p.split(": ", 1)[1] for p in check_routes(_throwaway_app()).problems
    }
    assert problems == {
        # FastAPI's default documentation pages are plain routes: no policy, no key.
        "GET,HEAD /openapi.json": "a Route, which cannot declare a policy",
        "GET,HEAD /docs": "a Route, which cannot declare a policy",
        "GET,HEAD /docs/oauth2-redirect": "a Route, which cannot declare a policy",
        "GET,HEAD /redoc": "a Route, which cannot declare a policy",
        "POST /api/forgotten": (
            "no policy: add allow(scope, roles) or public(why) to its dependencies"
        ),
        "GET /no-reason": "public without a reason: say why in public(why)",
        "GET /both": "2 policies: a route declares exactly one",
        "GET,HEAD /plain": "a Route, which cannot declare a policy",
    }
    served = check_routes(_throwaway_app()).served
    assert {(s.method, s.path) for s in served} == {
        ("GET", "/api/guarded"),
        ("GET", "/included-public"),
    }


def _unauthenticated(answer: Any, served: ServedRoute, how: str) -> None:
    where = f"{served.method} {served.path} {how}"
    assert answer.status_code == 401, f"{where}: {answer.status_code} {answer.text}"
    assert answer.json() == {"error": {"code": "unauthenticated", "message": ANY}}, where
    assert answer.headers["WWW-Authenticate"] == "Bearer", where


def test_no_route_answers_without_a_valid_key(
    app_client: TestClient, api_key: Callable[..., str], committed_db: Database
) -> None:
    admin = api_key("admin")
    with committed_db.unit_of_work() as session:
        revoked = access.create_key(session, "revoked", Scope.ADMIN)
        access.revoke_key(session, revoked.id)
    attempts = {
        "without a key": {},
        "with an unknown key": bearer("lsk_" + "x" * 43),
        "with a revoked key": bearer(revoked.key),
        "with another scheme": {"Authorization": f"Basic {admin}"},
        "with an empty bearer": {"Authorization": "Bearer "},
    }
    routes = guarded(app_client)
    assert len(routes) >= 8
    for served in routes:
        for how, headers in attempts.items():
            _unauthenticated(call(app_client, served, headers), served, how)
        # A valid key in the URL is refused (and the header-less request with it).
        in_url = call(app_client, served, {}, params={"api_key": admin})
        _unauthenticated(in_url, served, "with the key in the URL")
        assert "URL" in in_url.json()["error"]["message"]


def test_a_key_of_another_scope_is_refused_with_403(
    app_client: TestClient, api_key: Callable[..., str]
) -> None:
    keys = {scope: api_key(scope.value) for scope in Scope}
    for served in guarded(app_client):
        assert served.policy.scope is not None
        wrong = WRONG_SCOPE[served.policy.scope]
        answer = call(app_client, served, bearer(keys[wrong]))
        where = f"{served.method} {served.path} with a {wrong.value} key"
        assert answer.status_code == 403, f"{where}: {answer.status_code} {answer.text}"
        error = answer.json()["error"]
        assert error["code"] == "forbidden", where
        assert f"needs {served.policy.scope.value}" in error["message"], where


def test_a_user_of_another_role_is_refused_with_403(
    app_client: TestClient, committed_db: Database
) -> None:
    limited = [s for s in guarded(app_client) if s.policy.roles != frozenset(Role)]
    assert {(s.method, s.path) for s in limited} >= {
        ("POST", "/api/v1/events"),
        ("PUT", "/api/v1/contacts/{contact_id}/owner"),
        ("GET", "/api/v1/users"),
    }
    with committed_db.unit_of_work() as session:
        for role in Role:
            access.add_user(session, f"someone-{role.value}", role)
        keys = {
            role: access.create_key(session, "k", Scope.ADMIN, user=f"someone-{role.value}").key
            for role in Role
        }
    for served in limited:
        for role in set(Role) - served.policy.roles:
            answer = call(app_client, served, bearer(keys[role]))
            where = f"{served.method} {served.path} as {role.value}"
            assert answer.status_code == 403, f"{where}: {answer.status_code} {answer.text}"
            assert "needs the role" in answer.json()["error"]["message"], where


def test_a_malformed_body_is_refused_before_the_key_is_looked_at(
    app_client: TestClient,
) -> None:
    """FastAPI decodes a declared JSON body before it runs the dependencies: malformed JSON
    gets 422 without a key (nothing is read or written); a well-formed body that is invalid
    still gets 401 first, since the dependencies run before the body is validated. Routes
    reading their body themselves (POST /api/v1/events) answer 401."""
    with_bodies = [s for s in guarded(app_client) if s.method in _WITH_BODY]
    assert with_bodies
    for served in with_bodies:
        where = f"{served.method} {served.path}"
        broken = call(app_client, served, {"Content-Type": "application/json"}, content=b"{")
        invalid = call(app_client, served, {}, json={"no such field": 1})
        if served.route.body_field is None:
            assert broken.status_code == 401, where
        else:
            assert broken.status_code == 422, f"{where}: {broken.status_code}"
            assert broken.json()["error"]["code"] == "invalid_request", where
        assert invalid.status_code == 401, f"{where}: {invalid.status_code}"


def test_the_openapi_document_is_public_and_the_docs_pages_are_off(
    app_client: TestClient,
) -> None:
    document = app_client.get("/openapi.json")
    assert document.status_code == 200
    assert document.headers["content-type"].startswith("application/json")
    assert "/api/v1/contacts/{contact_id}" in document.json()["paths"]
    for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert app_client.get(page).status_code == 404, page
