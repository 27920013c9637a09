"""Who may see a page: a signed-in browser session with a role, and CSRF on every change.

The session token lives in an HttpOnly, Secure, SameSite=Lax cookie; only its SHA-256 is
stored. A state-changing request (anything but GET, HEAD, OPTIONS) must carry the session's
CSRF token, in the `X-CSRF-Token` header (htmx sends it from the page's `hx-headers`) or the
`csrf_token` form field, and, when the browser says where it comes from, come from this site.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Collection
from typing import Final
from urllib.parse import urlsplit

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from leadsift.access import sessions
from leadsift.access.endpoints import POLICY_ATTRIBUTE, Policy
from leadsift.access.schemas import ALL_ROLES, Role
from leadsift.access.sessions import SessionCaller
from leadsift.errors import LeadsiftError, PermissionDeniedError
from leadsift.kit.web import database_of

SESSION_COOKIE: Final = "leadsift_session"
CSRF_HEADER: Final = "x-csrf-token"
CSRF_FIELD: Final = "csrf_token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


class SignInRequired(LeadsiftError):
    """No valid session: the browser goes to the sign-in page (then back)."""

    code = "sign_in_required"
    http_status = 401


class CsrfRefused(PermissionDeniedError):
    """A state-changing request without this session's CSRF token, or from another site."""

    code = "csrf_refused"


def _session_of(request: Request, token: str) -> SessionCaller | None:
    with database_of(request).unit_of_work(read_only=True) as session:
        return sessions.session_caller(session, token)


def signed_in(roles: Collection[Role] = ALL_ROLES) -> Callable[[Request], Awaitable[SessionCaller]]:
    """A dependency admitting a signed-in user with one of ROLES (CSRF-checked on changes)."""
    wanted = frozenset(roles)

    async def page_caller(request: Request) -> SessionCaller:
        token = request.cookies.get(SESSION_COOKIE)
        found = await run_in_threadpool(_session_of, request, token) if token else None
        if found is None:
            raise SignInRequired("sign in to see this page")
        request.state.page = found
        if request.method not in SAFE_METHODS:
            await check_csrf(request, found.csrf_token)
        if found.caller.role not in wanted:
            raise PermissionDeniedError("You may not see this page")
        return found

    setattr(page_caller, POLICY_ATTRIBUTE, Policy(public=False, roles=wanted, page=True))
    return page_caller


async def check_csrf(request: Request, expected: str) -> None:
    """Refuse REQUEST unless it carries EXPECTED and (when it says) comes from this site."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin and urlsplit(origin).netloc != request.url.netloc:
        raise CsrfRefused("this request comes from another site")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and _is_form(request):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused(
            "Your session has expired, or the form is stale: reload the page and try again."
        )


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
