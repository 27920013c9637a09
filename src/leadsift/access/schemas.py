"""What the access domain returns: API keys (never their secret, except once at creation)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Scope(StrEnum):
    """What a key may do: send events, read data, or everything."""

    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


def allows(granted: str, needed: Scope) -> bool:
    """Whether a key of scope GRANTED may do what NEEDED requires (admin may do all)."""
    return granted in (Scope.ADMIN.value, needed.value)


class ApiKeyView(BaseModel):
    """An API key as listed: its prefix, never the key."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    scope: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class CreatedApiKey(ApiKeyView):
    """A new key: the only time its secret is shown."""

    key: str
