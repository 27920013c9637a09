"""Who may do what: API keys, users and teams, who is calling, and the audit log."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from leadsift.access import repository
from leadsift.access.models import ApiKey, Team, User
from leadsift.access.schemas import (
    ApiKeyView,
    AuditView,
    Caller,
    CreatedApiKey,
    Role,
    Scope,
    TeamView,
    UserView,
)
from leadsift.errors import ConflictError, InvalidInputError, NotFoundError
from leadsift.kit.clock import utcnow

KEY_PREFIX = "lsk_"
_PREFIX_LENGTH = len(KEY_PREFIX) + 8


def _hash(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def parse_scope(text: str) -> Scope:
    """A scope from its name, or an error listing the scopes."""
    try:
        return Scope(text.strip().lower())
    except ValueError:
        names = ", ".join(s.value for s in Scope)
        raise InvalidInputError(f"unknown scope {text!r}; scopes are {names}") from None


def create_key(
    session: Session,
    name: str,
    scope: Scope,
    *,
    user: str | None = None,
    caller: Caller | None = None,
) -> CreatedApiKey:
    """A new key of SCOPE, acting for USER when given (their role limits what it sees); only
    its hash is stored, the key itself is returned once."""
    name = name.strip()
    if not name:
        raise InvalidInputError("--name: give the key a name saying who uses it")
    owner = find_user(session, user) if user is not None else None
    if owner is not None and owner.disabled_at is not None:
        raise InvalidInputError(f"user {owner.name!r} is disabled: a key for them would not work")
    for _ in range(5):  # 48 random bits of prefix: a collision is rare, but possible
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        if repository.key_by_prefix(session, key[:_PREFIX_LENGTH]) is None:
            break
    else:  # pragma: no cover
        raise ConflictError("could not draw an unused key prefix; try again")
    row = repository.add_key(
        session,
        ApiKey(
            name=name,
            scope=scope.value,
            prefix=key[:_PREFIX_LENGTH],
            key_hash=_hash(key),
            created_at=utcnow(),
            user_id=owner.id if owner is not None else None,
        ),
    )
    audit(session, caller, "key_created", ("api_key", row.id), details={"scope": scope.value})
    return CreatedApiKey(**ApiKeyView.model_validate(row).model_dump(), key=key)


def verify_key(session: Session, key: str) -> ApiKeyView | None:
    """The live key matching KEY (constant-time comparison of hashes), else None."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    row = repository.key_by_prefix(session, key[:_PREFIX_LENGTH])
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(bytes(row.key_hash), _hash(key)):
        return None
    return ApiKeyView.model_validate(row)


def list_keys(session: Session) -> list[ApiKeyView]:
    """Every key, without secrets."""
    return [ApiKeyView.model_validate(row) for row in repository.keys(session)]


def revoke_key(session: Session, key_id: int, caller: Caller | None = None) -> ApiKeyView:
    """Revoke a key; requests with it are refused from now on."""
    row = repository.get_key(session, key_id)
    if row is None:
        raise NotFoundError(f"no API key {key_id}; `leadsift apikey list` shows them")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
        audit(session, caller, "key_revoked", ("api_key", row.id))
    return ApiKeyView.model_validate(row)


def workspace_secret(session: Session, name: str) -> bytes:
    """A 256-bit secret of this workspace (made on first use, the same for every process)."""
    return repository.secret(session, name, secrets.token_bytes(32), utcnow())


def caller_of_key(session: Session, key: ApiKeyView) -> Caller | None:
    """Who a verified key acts for: its user (None when disabled) or an integration."""
    if key.user_id is None:
        return Caller(actor=f"key:{key.id}", scope=key.scope)
    user = repository.get_user(session, key.user_id)
    if user is None or user.disabled_at is not None:
        return None
    return caller_of_user(session, user, scope=key.scope)


def caller_of_user(session: Session, user: User, *, scope: str = Scope.ADMIN.value) -> Caller:
    """A user as a caller: their role, their teams, and for managers their teams' members."""
    role = Role(user.role)
    team_ids = frozenset(repository.team_ids_of(session, user.id))
    members = repository.members_of_teams(session, team_ids) if role is Role.MANAGER else []
    return Caller(
        actor=f"user:{user.id}",
        user_id=user.id,
        role=role,
        team_ids=team_ids,
        user_ids=frozenset(members) | {user.id},
        scope=scope,
    )


def as_user(session: Session, name: str) -> Caller:
    """The caller for `--agent NAME` on the command line; refused for a disabled user."""
    user = find_user(session, name)
    if user.disabled_at is not None:
        raise InvalidInputError(f"user {user.name!r} is disabled (`leadsift user list`)")
    return caller_of_user(session, user)


def audit(
    session: Session,
    caller: Caller | None,
    action: str,
    target: tuple[str, int | None],
    *,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append one audit entry: who, what, which record (kind, id), when — ids and codes only."""
    target_type, target_id = target
    repository.add_audit(
        session,
        [
            {
                "at": at or utcnow(),
                "actor": (caller.actor if caller is not None else "cli"),
                "action": action,
                "target_type": target_type,
                "target_id": target_id,
                "details": details or {},
            }
        ],
    )


def audit_log(
    session: Session, *, after_id: int = 0, target_type: str | None = None, limit: int = 100
) -> list[AuditView]:
    """Audit entries, oldest first."""
    rows = repository.audit_entries(
        session, after_id=after_id, target_type=target_type, limit=limit
    )
    return [AuditView.model_validate(row) for row in rows]


_HANDLE = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


def _handle(name: str, what: str) -> str:
    handle = name.strip().lower()
    if _HANDLE.fullmatch(handle) is None:
        raise InvalidInputError(
            f"{what} name {name!r}: use lower-case letters, digits, '.', '_' or '-' "
            "(at most 100, starting with a letter or digit), e.g. 'alice' or 'lyon-east'"
        )
    return handle


def parse_role(text: str) -> Role:
    """A role from its name, or an error listing the roles."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise InvalidInputError(f"unknown role {text!r}; roles are {names}") from None


def find_user(session: Session, name: str) -> User:
    """The user called NAME, or a clear error."""
    user = repository.user_by_name(session, name.strip().lower())
    if user is None:
        raise NotFoundError(f"no user {name!r}; `leadsift user list` shows them")
    return user


def find_team(session: Session, name: str) -> Team:
    """The team called NAME, or a clear error."""
    team = repository.team_by_name(session, name.strip().lower())
    if team is None:
        raise NotFoundError(f"no team {name!r}; `leadsift team list` shows them")
    return team


def _check_load(weight: int, capacity: int | None) -> None:
    if not 1 <= weight <= 100:
        raise InvalidInputError(f"--weight must be between 1 and 100, got {weight}")
    if capacity is not None and capacity < 0:
        raise InvalidInputError(f"--capacity must be 0 or more, got {capacity}")


def add_user(
    session: Session,
    name: str,
    role: Role,
    *,
    teams: Collection[str] = (),
    weight: int = 1,
    capacity: int | None = None,
    caller: Caller | None = None,
) -> UserView:
    """Add a user with a role (and teams); names are unique."""
    handle = _handle(name, "user")
    _check_load(weight, capacity)
    if repository.user_by_name(session, handle) is not None:
        raise ConflictError(f"user {handle!r} already exists (`leadsift user list`)")
    found = [find_team(session, team) for team in teams]
    user = User(name=handle, role=role.value, weight=weight, capacity=capacity, created_at=utcnow())
    repository.add(session, user)
    for team in found:
        repository.add_members(session, team.id, [user.id])
    audit(session, caller, "user_added", ("user", user.id), details={"role": role.value})
    return _user_view(session, user)


def update_user(
    session: Session,
    name: str,
    *,
    role: Role | None = None,
    weight: int | None = None,
    capacity: int | None = None,
    away_until: datetime | None = None,
    back: bool = False,
    caller: Caller | None = None,
) -> UserView:
    """Change a user's role, round-robin weight, capacity or absence."""
    user = find_user(session, name)
    _check_load(weight if weight is not None else user.weight, capacity)
    if role is not None and role.value != user.role:
        audit(
            session,
            caller,
            "role_changed",
            ("user", user.id),
            details={"from": user.role, "to": role.value},
        )
        user.role = role.value
    if weight is not None:
        user.weight = weight
    if capacity is not None:
        user.capacity = capacity
    if away_until is not None or back:
        user.away_until = None if back else away_until
        audit(session, caller, "absence_set", ("user", user.id), details={"away": not back})
    session.flush()
    return _user_view(session, user)


def disable_user(session: Session, name: str, caller: Caller | None = None) -> UserView:
    """Disable a user: their keys stop working and assignment skips them."""
    user = find_user(session, name)
    if user.disabled_at is None:
        user.disabled_at = utcnow()
        session.flush()
        audit(session, caller, "user_disabled", ("user", user.id))
    return _user_view(session, user)


def find_user_view(session: Session, name: str) -> UserView:
    """The user called NAME, as listed."""
    return _user_view(session, find_user(session, name))


def _user_view(session: Session, user: User) -> UserView:
    view = UserView.model_validate(user)
    view.teams = repository.teams_of_users(session).get(user.id, [])
    return view


def list_users(session: Session) -> list[UserView]:
    """Every user with their teams."""
    teams = repository.teams_of_users(session)
    views = []
    for user in repository.users(session):
        view = UserView.model_validate(user)
        view.teams = teams.get(user.id, [])
        views.append(view)
    return views


def add_team(
    session: Session, name: str, members: Collection[str] = (), caller: Caller | None = None
) -> TeamView:
    """Add a team (or add members to an existing one)."""
    handle = _handle(name, "team")
    team = repository.team_by_name(session, handle)
    if team is None:
        team = Team(name=handle, created_at=utcnow())
        repository.add(session, team)
        audit(session, caller, "team_added", ("team", team.id))
    users = [find_user(session, member) for member in members]
    repository.add_members(session, team.id, [u.id for u in users])
    for user in users:
        audit(session, caller, "team_member_added", ("user", user.id), details={"team_id": team.id})
    members = repository.member_names(session).get(team.id, [])
    return TeamView(id=team.id, name=team.name, members=members)


def list_teams(session: Session) -> list[TeamView]:
    """Every team with its members."""
    members = repository.member_names(session)
    return [
        TeamView(id=team.id, name=team.name, members=members.get(team.id, []))
        for team in repository.teams(session)
    ]
