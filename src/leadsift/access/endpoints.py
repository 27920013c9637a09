"""Who may call an API route: every route declares a policy.

`allow(scope, roles)` admits `Authorization: Bearer <key>` requests whose key has the scope and
whose user has one of the roles (integration keys, acting for no person, are limited by their
scope alone), within the key's rate limit (a token bucket per key: 429 with `Retry-After`
beyond), and gives the route the `Caller`; `public(why)` marks a route anyone may call
(tracking, unsubscribe) and says why. A test walks every route of the app and fails on a route
with neither.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import Request, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from leadsift.access import service
from leadsift.access.schemas import ALL_ROLES, Caller, Role, Scope, allows
from leadsift.errors import AuthenticationError, PermissionDeniedError, RateLimitedError
from leadsift.kit.query import refuse_unknown_query
from leadsift.kit.ratelimit import RateLimiter
from leadsift.kit.web import database_of, settings_of

# Query parameters where clients sometimes put keys: refused, since URLs end up in logs.
_KEY_PARAMETERS = frozenset({"api_key", "apikey", "key", "token", "access_token"})
# A verified key is trusted this long without asking the database again (a revocation takes
# effect within this delay).
CACHE_SECONDS = 10.0
# Says in the OpenAPI document that keyed routes take `Authorization: Bearer <key>`; it checks
# nothing (the key is read and refused by `_bearer` below, with the API's own errors).
_BEARER_DOC: Final = HTTPBearer(
    auto_error=False,
    scheme_name="apiKey",
    description="An API key (`leadsift apikey create`), as `Authorization: Bearer <key>`.",
)
# The 429 of keyed routes, for their `error_responses(described=RATE_LIMITED)`.
RATE_LIMITED: Final = {
    429: "Too many requests with this API key (`LEADSIFT_API_BURST` at once, then "
    "`LEADSIFT_API_RATE_PER_SECOND`): retry after `Retry-After` seconds."
}


class KeyCache:
    """Verified keys by the SHA-256 of the key, for CACHE_SECONDS."""

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[Caller | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, digest: bytes, now: float) -> tuple[bool, Caller | None]:
        """(found, key) — a cached refusal is found with key None."""
        with self._lock:
            entry = self._entries.get(digest)
        if entry is None or entry[1] < now:
            return False, None
        return True, entry[0]

    def put(self, digest: bytes, key: Caller | None, now: float) -> None:
        """Remember a verification."""
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (key, now + CACHE_SECONDS)


def _bearer(request: Request) -> str:
    if _KEY_PARAMETERS & set(request.query_params):
        raise AuthenticationError(
            "API keys in the URL are refused (URLs end up in logs): "
            "send `Authorization: Bearer <key>` instead, and revoke the key you just exposed"
        )
    header = request.headers.get("authorization")
    if not header:
        raise AuthenticationError("missing API key: send `Authorization: Bearer <key>`")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("use `Authorization: Bearer <key>`")
    return token.strip()


def _throttle(request: Request, digest: bytes) -> None:
    """Take one token from the key's bucket, or refuse with 429 and when to come back."""
    limiter = getattr(request.app.state, "api_rate_limiter", None)
    if not isinstance(limiter, RateLimiter):
        # Made on first use from the app's settings (the event loop runs this: no race).
        settings = settings_of(request)
        limiter = RateLimiter(settings.api_rate_per_second, settings.api_burst)
        request.app.state.api_rate_limiter = limiter
    wait = limiter.acquire(digest.hex(), time.monotonic())
    if wait > 0:
        seconds = RateLimiter.retry_after(wait)
        raise RateLimitedError(
            f"too many requests with this API key; retry in {seconds} s", retry_after=seconds
        )


def _verify(request: Request, token: str) -> Caller | None:
    with database_of(request).unit_of_work(read_only=True) as session:
        key = service.verify_key(session, token)
        return service.caller_of_key(session, key) if key is not None else None


@dataclass(frozen=True)
class Policy:
    """Who may call a route: anyone (with the reason), or a key's scope and the user's roles."""

    public: bool
    scope: Scope | None = None
    roles: frozenset[Role] = ALL_ROLES
    why: str = ""
    # A web page: a signed-in browser session (cookie) of a user with one of ROLES, and a
    # CSRF token on every state-changing request (leadsift.web.auth).
    page: bool = False


POLICY_ATTRIBUTE = "__leadsift_policy__"


def allow(scope: Scope, roles: Collection[Role] = ALL_ROLES) -> Callable[..., Awaitable[Caller]]:
    """A dependency admitting keys with SCOPE (or admin) whose user has one of ROLES."""
    wanted = frozenset(roles)

    async def caller(
        request: Request,
        _documented: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER_DOC)],
    ) -> Caller:
        token = _bearer(request)
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        cache: KeyCache = request.app.state.api_keys
        now = time.monotonic()
        found, who = cache.get(digest, now)
        if not found:
            who = await run_in_threadpool(_verify, request, token)
            cache.put(digest, who, now)
        if who is None:
            raise AuthenticationError("invalid or revoked API key, or its user is disabled")
        # Per key, once it is known to be valid: unknown keys cannot spend another's tokens.
        _throttle(request, digest)
        if not allows(who.scope, scope):
            needed = scope.value if scope is Scope.ADMIN else f"{scope.value} (or admin)"
            raise PermissionDeniedError(f"this key's scope is {who.scope}; this needs {needed}")
        if who.role is not None and who.role not in wanted:
            names = ", ".join(sorted(r.value for r in wanted))
            raise PermissionDeniedError(
                f"this needs the role {names}; the key's user is {who.role.value}"
            )
        # Every keyed route takes its query as declared: a misspelt option (or one without a
        # name) is refused with 422, never silently ignored; checked after the key.
        refuse_unknown_query(request)
        return who

    setattr(caller, POLICY_ATTRIBUTE, Policy(public=False, scope=scope, roles=wanted))
    return caller


def public(why: str) -> Callable[[], None]:
    """A dependency marking a route anyone may call, and why (it checks nothing)."""

    def anyone() -> None:
        return None

    setattr(anyone, POLICY_ATTRIBUTE, Policy(public=True, why=why))
    return anyone


def route_policies(route: APIRoute) -> list[Policy]:
    """The policies a route's dependencies declare (a route needs exactly one)."""
    found: list[Policy] = []
    pending: list[Any] = [route.dependant]
    while pending:
        dependant = pending.pop()
        policy = getattr(dependant.call, POLICY_ATTRIBUTE, None)
        if isinstance(policy, Policy):
            found.append(policy)
        pending.extend(dependant.dependencies)
    return found
