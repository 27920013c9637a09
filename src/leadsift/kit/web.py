"""What every HTTP route shares: one JSON shape for errors, body size limits, sessions."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Annotated, Any, Final

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadsift.config import Settings
from leadsift.db import Database
from leadsift.errors import DatabaseError, LeadsiftError, PayloadTooLargeError, RateLimitedError

logger = logging.getLogger("leadsift.api")


# A contact's id in a URL: an id only (never read as a phone number), within what the
# database's integer columns hold (a larger one is refused, not a server error).
ContactId = Annotated[
    int, Path(ge=1, le=2**63 - 1, description="The contact's id (as returned by the API).")
]
# Text without NUL, which PostgreSQL cannot store nor compare in text columns: refused (422)
# rather than a server error.
NO_NUL: Final = r"^[^\x00]*$"


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """`{"error": {"code", "message", …}}`: the one shape of every error answer."""
    return {"error": {"code": code, "message": message, **extra}}


class FieldProblem(BaseModel):
    """One refused part of a request."""

    field: str = Field(description="Where: a dotted path into the body, or a parameter's name.")
    message: str


class ErrorDetail(BaseModel):
    """What went wrong: a stable code to branch on and a message saying what to fix."""

    code: str = Field(description="Stable and machine-readable, e.g. not_found, invalid_request.")
    message: str = Field(description="What is wrong and how to fix it, for a person.")
    details: list[FieldProblem] | None = Field(
        default=None, description="Every refused field (invalid_request only)."
    )


class ErrorBody(BaseModel):
    """The body of every error answer of the API."""

    error: ErrorDetail


_ERROR_DESCRIPTIONS: Final = {
    400: "The body cannot be read (not JSON, not UTF-8, or a broken form).",
    401: "No API key, or one that is unknown, revoked or of a disabled user "
    "(keys go in `Authorization: Bearer <key>`, never in the URL).",
    403: "The key's scope, or its user's role, does not allow this.",
    404: "Not found.",
    409: "The request contradicts the current state.",
    413: "The request body is over the size limit.",
    422: "The request is not valid: the error says which field and why.",
    429: "Too many requests from this address: retry after `Retry-After` seconds.",
}
_KEY_RATE_LIMITED: Final = (
    "Too many requests with this key, or from this address: retry after `Retry-After` seconds."
)
_ERROR_HEADERS: Final[dict[int, dict[str, Any]]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def error_responses(
    *statuses: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses: the shared error body, the default description
    of each status unless DESCRIBED gives the route's own, and the headers it always carries."""
    described = dict(described or {})
    if 401 in statuses and 429 not in described:
        # A route that takes a key is rate limited per key as well.
        described[429] = _KEY_RATE_LIMITED
    documented: dict[int | str, dict[str, Any]] = {}
    for status in sorted({*statuses, *described}):
        text = described[status] if status in described else _ERROR_DESCRIPTIONS[status]
        entry: dict[str, Any] = {"model": ErrorBody, "description": text}
        if status in _ERROR_HEADERS:
            entry["headers"] = {
                name: {**header, "required": True}
                for name, header in _ERROR_HEADERS[status].items()
            }
        documented[status] = entry
    return documented


def link_not_found(page: str | None) -> dict[int | str, dict[str, Any]]:
    """The 404 of a route of signed links in emails: PAGE says what its own page (text/html)
    means; a token the path cannot hold (a slash, a line break) matches no route and gets the
    error body, like any path nothing serves."""
    content: dict[str, Any] = {
        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
    }
    description = "A token no route can hold (a slash or a line break): the error body."
    if page is not None:
        content["text/html"] = {"schema": {"type": "string"}}
        description = f"{page} Or: {description[0].lower()}{description[1:]}"
    return {404: {"description": description, "content": content}}


def _leadsift_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LeadsiftError)  # noqa: S101 — registered for this class only
    return error_response(exc)


def error_response(exc: LeadsiftError) -> JSONResponse:
    """A leadsift error as its JSON answer, with its status (and Retry-After, WWW-Authenticate)."""
    headers = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after)
    if exc.http_status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(exc.code, exc.message), exc.http_status, headers=headers)


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 — registered for this class only
    details = [
        {"field": ".".join(str(p) for p in e["loc"][1:]) or "body", "message": e["msg"]}
        for e in exc.errors()
    ]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
    return JSONResponse(error_body("invalid_request", message, details=details), 422)


_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """The methods the app serves at the request's path (several routes may share a path)."""
    routes = request.app.router.routes

    def served(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] is Match.FULL for route in routes)

    return [method for method in _METHODS if served(method)]


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Routing's own refusals (no such path, a method the path does not serve) and a body
    FastAPI cannot decode, in the shape of every other error; a 405 lists every method of the
    path, not only those of the first route matching it (GET and POST /u/{token} are two)."""
    assert isinstance(exc, HTTPException)  # noqa: S101 — registered for this class only
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
        body = error_body("method_not_allowed", f"this path serves {headers['Allow']} only")
    elif exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode (JSON not in UTF-8, a broken form).
        message = f"{exc.detail}: send JSON in UTF-8, or the form the route takes"
        body = error_body("malformed_body", message)
    elif exc.status_code == 404:
        body = error_body("not_found", "no such path; the API is described at /openapi.json")
    else:
        body = error_body("http_error", str(exc.detail))
    return JSONResponse(body, exc.status_code, headers=headers)


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error", exc_info=exc)
    return JSONResponse(error_body("internal", "unexpected error; see the server log"), 500)


def install_error_handlers(app: FastAPI) -> None:
    """Render leadsift errors, invalid requests, routing's refusals and surprises as
    `{"error": …}`."""
    app.add_exception_handler(LeadsiftError, _leadsift_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


class BodyLimit:
    """Refuse request bodies over the limit of their path prefix with 413, before reading them
    when Content-Length says so, else as soon as the streamed bytes pass the limit."""

    def __init__(self, app: ASGIApp, limits: Sequence[tuple[str, int]]) -> None:
        self.app = app
        self.limits = sorted(limits, key=lambda item: -len(item[0]))

    def _limit(self, path: str) -> int | None:
        return next((size for prefix, size in self.limits if path.startswith(prefix)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self._limit(scope.get("path", "")) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLargeError(f"the request body is over {limit} bytes")
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int) -> JSONResponse:
    message = f"the request body is over {limit} bytes; send less per request"
    return JSONResponse(error_body("payload_too_large", message), 413)


def database_of(request: Request) -> Database:
    """The workspace database of the app serving this request."""
    database = request.app.state.database
    assert isinstance(database, Database)  # noqa: S101 — set by create_app
    return database


def settings_of(request: Request) -> Settings:
    """The settings of the app serving this request."""
    settings = request.app.state.settings
    assert isinstance(settings, Settings)  # noqa: S101 — set by create_app
    return settings


@contextmanager
def writing_session(request: Request) -> Iterator[Session]:
    """A unit of work answering 503, not 500, when the database cannot be had (SQLite's one
    writer busy for longer than the busy timeout, PostgreSQL down)."""
    try:
        with database_of(request).unit_of_work() as db_session:
            yield db_session
    except OperationalError as problem:
        raise DatabaseError(
            "the database cannot take this request now (a long job may be writing): "
            "retry in a minute"
        ) from problem


def reading_session(request: Request) -> Iterator[Session]:
    """A read-only unit of work per request (never waits for writers on SQLite)."""
    with database_of(request).unit_of_work(read_only=True) as db_session:
        yield db_session


def client_ip(request: Request) -> str:
    """The client's address (the proxy's, unless one is trusted in front)."""
    return request.client.host if request.client is not None else "unknown"
