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
    user_id: int | None = None


class CreatedApiKey(ApiKeyView):
    """A new key: the only time its secret is shown."""

    key: str


class Role(StrEnum):
    """What a user may see: everything, their teams' contacts, or their own and their queues."""

    ADMIN = "admin"
    MANAGER = "manager"
    AGENT = "agent"


ALL_ROLES: frozenset[Role] = frozenset(Role)


class UserView(BaseModel):
    """A user as listed, with their teams."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: str
    weight: int
    capacity: int | None = None
    away_until: datetime | None = None
    disabled_at: datetime | None = None
    created_at: datetime
    teams: list[str] = []


class TeamView(BaseModel):
    """A team and its members' names."""

    id: int
    name: str
    members: list[str]


class Caller(BaseModel):
    """Who is asking: a user (with their role and teams) or an integration / the command line.

    `user_id` None means no person: an integration key limited by its scope, or whoever runs
    the command line on the database; both see every contact.
    """

    model_config = ConfigDict(frozen=True)

    actor: str
    user_id: int | None = None
    role: Role | None = None
    team_ids: frozenset[int] = frozenset()
    # For managers: the users of their teams (themselves included).
    user_ids: frozenset[int] = frozenset()
    scope: str = Scope.ADMIN.value

    @property
    def sees_everything(self) -> bool:
        """Admins, integrations and the command line see every contact."""
        return self.user_id is None or self.role is Role.ADMIN


COMMAND_LINE = Caller(actor="cli")


class AuditView(BaseModel):
    """One audit log entry."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: int | None = None
    details: dict[str, object] = {}
