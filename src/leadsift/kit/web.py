"""What every HTTP route shares: one JSON shape for errors, body size limits, sessions."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadsift.config import Settings
from leadsift.db import Database
from leadsift.errors import LeadsiftError, PayloadTooLargeError, RateLimitedError

logger = logging.getLogger("leadsift.api")


# A contact's id in a URL: an id only (never read as a phone number), within what the
# database's integer columns hold (a larger one is refused, not a server error).
ContactId = Annotated[
    int, Path(ge=1, le=2**63 - 1, description="The contact's id (as returned by the API).")
]


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """`{"error": {"code", "message", …}}`: the one shape of every error answer."""
    return {"error": {"code": code, "message": message, **extra}}


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
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    details = [
        {"field": ".".join(str(p) for p in e["loc"][1:]) or "body", "message": e["msg"]}
        for e in exc.errors()
    ]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
    return JSONResponse(error_body("invalid_request", message, details=details), 422)


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error", exc_info=exc)
    return JSONResponse(error_body("internal", "unexpected error; see the server log"), 500)


def install_error_handlers(app: FastAPI) -> None:
    """Render leadsift errors, invalid requests and surprises as `{"error": …}`."""
    app.add_exception_handler(LeadsiftError, _leadsift_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
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


def reading_session(request: Request) -> Iterator[Session]:
    """A read-only unit of work per request (never waits for writers on SQLite)."""
    with database_of(request).unit_of_work(read_only=True) as db_session:
        yield db_session


def client_ip(request: Request) -> str:
    """The client's address (the proxy's, unless one is trusted in front)."""
    return request.client.host if request.client is not None else "unknown"
