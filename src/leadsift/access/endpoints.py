"""Who may call an API route: `Authorization: Bearer <key>` with the route's scope."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Awaitable, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from leadsift.access import service
from leadsift.access.schemas import ApiKeyView, Scope, allows
from leadsift.errors import AuthenticationError, PermissionDeniedError
from leadsift.kit.web import database_of

# Query parameters where clients sometimes put keys: refused, since URLs end up in logs.
_KEY_PARAMETERS = frozenset({"api_key", "apikey", "key", "token", "access_token"})
# A verified key is trusted this long without asking the database again (a revocation takes
# effect within this delay).
CACHE_SECONDS = 10.0


class KeyCache:
    """Verified keys by the SHA-256 of the key, for CACHE_SECONDS."""

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[ApiKeyView | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, digest: bytes, now: float) -> tuple[bool, ApiKeyView | None]:
        """(found, key) — a cached refusal is found with key None."""
        with self._lock:
            entry = self._entries.get(digest)
        if entry is None or entry[1] < now:
            return False, None
        return True, entry[0]

    def put(self, digest: bytes, key: ApiKeyView | None, now: float) -> None:
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


def _verify(request: Request, token: str) -> ApiKeyView | None:
    with database_of(request).unit_of_work(read_only=True) as session:
        return service.verify_key(session, token)


def require(scope: Scope) -> Callable[[Request], Awaitable[ApiKeyView]]:
    """A dependency admitting requests whose key has SCOPE (or admin)."""

    async def caller(request: Request) -> ApiKeyView:
        token = _bearer(request)
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        cache: KeyCache = request.app.state.api_keys
        now = time.monotonic()
        found, key = cache.get(digest, now)
        if not found:
            key = await run_in_threadpool(_verify, request, token)
            cache.put(digest, key, now)
        if key is None:
            raise AuthenticationError("invalid or revoked API key")
        if not allows(key.scope, scope):
            raise PermissionDeniedError(
                f"this key's scope is {key.scope}; this needs {scope.value} (or admin)"
            )
        return key

    return caller
