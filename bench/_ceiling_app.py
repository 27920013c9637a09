"""A POST /api/v1/events with no database, written five ways, to measure the HTTP ceiling.

Each app validates one event or a batch of up to 1,000 (pydantic, extra='forbid'; the union is
tried left to right, batch first), checks `Authorization: Bearer <API_KEY>` and answers
`{"inserted": n, "duplicates": 0, "errors": []}`:

- ``app``: FastAPI, the body as a typed parameter, async endpoint and auth dependency,
  ``response_model`` — the idiomatic way;
- ``app_sync``: the same with a plain ``def`` endpoint, which FastAPI runs in its thread pool
  (as an endpoint calling synchronous SQLAlchemy would be);
- ``app_request``: a FastAPI endpoint taking the raw ``Request``, parsed with
  ``TypeAdapter.validate_json(await request.body())``, answered with prebuilt bytes;
- ``app_route``: the same handler as a plain Starlette ``Route`` added to a FastAPI app
  (no FastAPI dependency machinery on that path);
- ``app_asgi``: the same parsing under a bare ASGI callable — no framework at all, the floor.

``GET /api/v1/_stats`` returns the events counted so far. With ``CEILING_CHECK_KEYS=1`` the
apps also remember every idempotency key and contact number (for checking the load scripts,
not for timing): repeated keys are answered as duplicates and counted.

    uvicorn bench._ceiling_app:app_route --workers 1 --no-access-log
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

import orjson
from fastapi import Body, Depends, FastAPI, Header, HTTPException, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from starlette.responses import Response
from starlette.routing import Route

API_KEY = "bench-key"
PATH = "/api/v1/events"
STATS_PATH = "/api/v1/_stats"
MAX_BATCH = 1000
CHECK_KEYS = os.environ.get("CEILING_CHECK_KEYS") == "1"
_BEARER = f"Bearer {API_KEY}".encode()


class Event(BaseModel):
    """One tracked event."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(min_length=1, max_length=64)
    email: str = Field(min_length=3, max_length=320)
    occurred_at: AwareDatetime
    properties: dict[str, JsonValue] = Field(default_factory=dict)
    idempotency_key: str = Field(min_length=1, max_length=128)


class Batch(BaseModel):
    """Up to 1,000 events in one request."""

    model_config = ConfigDict(extra="forbid")

    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH)


class Result(BaseModel):
    """What the endpoint answers."""

    inserted: int
    duplicates: int
    errors: list[dict[str, Any]]


# Batch first, left to right. A smart union (pydantic's default) also tries Event on a batch, and
# that failed attempt copies the whole batch into its error: 3× slower on 1,000 events.
Payload = Batch | Event
PAYLOAD: TypeAdapter[Batch | Event] = TypeAdapter(
    Annotated[Payload, Field(union_mode="left_to_right")]
)


class _Counts:
    """Events seen since start; with CHECK_KEYS, the keys and contact numbers too."""

    requests = 0
    events = 0
    duplicates = 0
    keys: set[str] = set()  # noqa: RUF012 — process-wide on purpose
    contacts: set[int] = set()  # noqa: RUF012


def _record(payload: Event | Batch) -> tuple[int, int]:
    """Count the payload's events; return (inserted, duplicates)."""
    events = [payload] if isinstance(payload, Event) else payload.events
    _Counts.requests += 1
    _Counts.events += len(events)
    if not CHECK_KEYS:
        return len(events), 0
    duplicates = 0
    for event in events:
        if event.idempotency_key in _Counts.keys:
            duplicates += 1
        _Counts.keys.add(event.idempotency_key)
        _Counts.contacts.add(int(event.email[1 : event.email.index("@")]))
    _Counts.duplicates += duplicates
    return len(events) - duplicates, duplicates


def _stats() -> dict[str, int]:
    """The counters as JSON-ready numbers."""
    contacts = _Counts.contacts
    return {
        "requests": _Counts.requests,
        "events": _Counts.events,
        "duplicates": _Counts.duplicates,
        "distinct_contacts": len(contacts),
        "contact_min": min(contacts, default=0),
        "contact_max": max(contacts, default=0),
    }


def _authorised(header: bytes | None) -> bool:
    """Whether an Authorization header value carries the API key."""
    return header is not None and hmac.compare_digest(header, _BEARER)


def _answer(payload: Event | Batch) -> bytes:
    """The JSON answer for a valid payload."""
    inserted, duplicates = _record(payload)
    return orjson.dumps({"inserted": inserted, "duplicates": duplicates, "errors": []})


_UNAUTHORISED = orjson.dumps({"detail": "missing or wrong API key"})


def _invalid(exc: PydanticValidationError) -> bytes:
    """The 422 body for a payload pydantic rejected."""
    return orjson.dumps(
        {"detail": exc.errors(include_url=False, include_context=False, include_input=False)}
    )


# ---- FastAPI, idiomatic: typed body parameter, auth dependency, response_model ----------------


async def require_key(authorization: Annotated[str | None, Header()] = None) -> None:
    """Refuse a request without the right bearer key."""
    if authorization is None or not _authorised(authorization.encode()):
        raise HTTPException(status_code=401, detail="missing or wrong API key")


async def stats() -> dict[str, int]:
    """Counters for the bench script's checks."""
    return _stats()


app = FastAPI(title="ceiling: FastAPI body parameter")
app_sync = FastAPI(title="ceiling: FastAPI body parameter, sync endpoint")


@app.post(PATH, response_model=Result, dependencies=[Depends(require_key)])
async def post_events(payload: Annotated[Payload, Body(union_mode="left_to_right")]) -> Result:
    """Accept one event or a batch."""
    inserted, duplicates = _record(payload)
    return Result(inserted=inserted, duplicates=duplicates, errors=[])


@app_sync.post(PATH, response_model=Result, dependencies=[Depends(require_key)])
def post_events_sync(payload: Annotated[Payload, Body(union_mode="left_to_right")]) -> Result:
    """Accept one event or a batch (run in the thread pool)."""
    inserted, duplicates = _record(payload)
    return Result(inserted=inserted, duplicates=duplicates, errors=[])


# ---- Raw request: TypeAdapter.validate_json on the body bytes, bytes answered -----------------


async def post_events_raw(request: Request) -> Response:
    """Accept one event or a batch, parsed straight from the body bytes."""
    if not _authorised(request.headers.get("authorization", "").encode() or None):
        return Response(_UNAUTHORISED, 401, media_type="application/json")
    try:
        payload = PAYLOAD.validate_json(await request.body())
    except PydanticValidationError as exc:
        return Response(_invalid(exc), 422, media_type="application/json")
    return Response(_answer(payload), media_type="application/json")


app_request = FastAPI(title="ceiling: FastAPI endpoint taking the Request")
app_request.add_api_route(PATH, post_events_raw, methods=["POST"])
app_route = FastAPI(title="ceiling: Starlette Route inside a FastAPI app")
app_route.router.routes.append(Route(PATH, post_events_raw, methods=["POST"]))
for _app in (app, app_sync, app_request, app_route):
    _app.add_api_route(STATS_PATH, stats, methods=["GET"])


# ---- Bare ASGI: no framework ------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _send(send: Send, status: int, body: bytes) -> None:
    """Send a complete JSON response."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """The endpoint as a bare ASGI callable."""
    if scope["type"] != "http":  # lifespan: nothing to set up
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == STATS_PATH:
        await _send(send, 200, orjson.dumps(_stats()))
        return
    if scope["path"] != PATH or scope["method"] != "POST":
        await _send(send, 404, b'{"detail":"Not Found"}')
        return
    if not _authorised(dict(scope["headers"]).get(b"authorization")):
        await _send(send, 401, _UNAUTHORISED)
        return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    try:
        payload = PAYLOAD.validate_json(b"".join(chunks))
    except PydanticValidationError as exc:
        await _send(send, 422, _invalid(exc))
        return
    await _send(send, 200, _answer(payload))
