"""The pages every user shares: sign-in and sign-out, the language switch, errors, assets."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from leadsift.access import sessions
from leadsift.access.endpoints import public
from leadsift.access.sessions import SessionCaller, SignedIn
from leadsift.errors import AuthenticationError, LeadsiftError
from leadsift.kit.ratelimit import RateLimiter
from leadsift.kit.web import client_ip, database_of, error_response
from leadsift.web.auth import SESSION_COOKIE, CsrfRefused, SignInRequired, check_csrf, signed_in
from leadsift.web.i18n import LANGUAGE_COOKIE, LANGUAGES
from leadsift.web.templating import render

router = APIRouter(include_in_schema=False)
# Sign-in form's own CSRF token (double submit: cookie and field), before any session.
SIGN_IN_COOKIE: Final = "leadsift_sign_in"
# Where a signed-in user lands.
HOME: Final = "/dashboard"
# Paths answered by the JSON API or the tracking endpoints, never as pages.
NOT_PAGES: Final = ("/api/", "/t/", "/u/", "/openapi.json", "/static/")
_STATIC = Path(__file__).resolve().parent / "static"


def mount_static(app: FastAPI) -> None:
    """Serve the pages' own and vendored files (no CDN) under /static."""
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")


def _safe_next(target: str | None) -> str:
    # Only a path of this site: never an open redirect to another one.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME
    parts = urlsplit(target)
    return HOME if parts.scheme or parts.netloc else target


@router.get("/", dependencies=[Depends(public("the entry point: sends to the dashboard"))])
def home() -> RedirectResponse:
    """The dashboard (or the sign-in page first)."""
    return RedirectResponse(HOME, status_code=303)


@router.get("/sign-in", dependencies=[Depends(public("the sign-in form"))])
def sign_in_form(request: Request, next: str | None = None, error: str | None = None) -> Response:
    """The sign-in form, with its own CSRF token."""
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "web/templates/sign_in.html",
        {"form_token": token, "next": _safe_next(next), "error": error},
        status=401 if error else 200,
    )
    response.set_cookie(SIGN_IN_COOKIE, token, httponly=True, secure=True, samesite="strict")
    return response


def _sign_in(request: Request, name: str, password: str) -> SignedIn:
    with database_of(request).unit_of_work() as session:
        return sessions.sign_in(session, name, password)


@router.post("/sign-in", dependencies=[Depends(public("checks a name and password"))])
async def sign_in(
    request: Request,
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=2000)] = HOME,
) -> Response:
    """Open a session and go to NEXT; the form again with a message when refused."""
    await check_csrf(request, request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(8))
    limiter: RateLimiter = request.app.state.sign_in_limiter
    if limiter.acquire(client_ip(request), time.monotonic()) > 0:
        return sign_in_form(request, next, "Too many attempts; wait a moment and try again.")
    try:
        opened = await run_in_threadpool(_sign_in, request, name, password)
    except AuthenticationError as refused:
        return sign_in_form(request, next, refused.message)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        max_age=int(sessions.LIFETIME.total_seconds()),
        httponly=True,
        secure=True,
        samesite="lax",
    )
    response.delete_cookie(SIGN_IN_COOKIE)
    return response


def _sign_out(request: Request, token: str) -> None:
    with database_of(request).unit_of_work() as session:
        sessions.sign_out(session, token)


@router.post("/sign-out")
async def sign_out(
    request: Request, _page: Annotated[SessionCaller, Depends(signed_in())]
) -> Response:
    """End this browser's session."""
    await run_in_threadpool(_sign_out, request, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, secure=True, samesite="lax")
    return response


@router.get("/language/{code}", dependencies=[Depends(public("remembers the page language"))])
def language(code: str, next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    """Switch the pages to French or English (remembered for a year)."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE, code, max_age=365 * 86_400, secure=True, samesite="lax"
        )
    return response


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith(NOT_PAGES)


def page_error(request: Request, exc: Exception) -> Response:
    """A leadsift error on a page: sign-in when needed, else an error page; JSON for the API."""
    assert isinstance(exc, LeadsiftError)  # noqa: S101 — registered for this class only
    if not _is_page(request):
        return error_response(exc)
    if isinstance(exc, SignInRequired):
        target = "/sign-in?next=" + quote(request.url.path, safe="/")
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    status = exc.http_status
    title = {404: "Page not found", 403: "You may not see this page"}.get(status)
    if isinstance(exc, CsrfRefused):
        title = "Something went wrong"
    return render(
        request,
        "web/templates/error.html",
        {"title": title or "Something went wrong", "message": exc.message},
        status=status,
    )


def install_pages(app: FastAPI) -> None:
    """Add the shared pages, the assets and HTML errors for pages to APP."""
    app.state.sign_in_limiter = RateLimiter(rate_per_second=0.5, burst=10)
    app.include_router(router)
    mount_static(app)
    app.add_exception_handler(LeadsiftError, page_error)
