"""SQL of users, teams, API keys, web sessions, owners, the audit log and workspace secrets."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, false, insert, or_, select, true
from sqlalchemy.orm import Session

from leadsift.access.models import (
    ApiKey,
    AuditEntry,
    ContactOwner,
    Team,
    TeamMember,
    User,
    WebSession,
    WorkspaceSecret,
)
from leadsift.access.schemas import Caller
from leadsift.kit.bulk import dialect_insert


def add_key(session: Session, key: ApiKey) -> ApiKey:
    """Store a key and flush so it has an id."""
    session.add(key)
    session.flush()
    return key


def key_by_prefix(session: Session, prefix: str) -> ApiKey | None:
    """The key whose public prefix is PREFIX."""
    return session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()


def keys(session: Session) -> list[ApiKey]:
    """Every key, oldest first."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def get_key(session: Session, key_id: int) -> ApiKey | None:
    """One key by id."""
    return session.get(ApiKey, key_id)


def secret(session: Session, name: str, candidate: bytes, at: datetime) -> bytes:
    """The secret called NAME, created from CANDIDATE when there is none (race-safe)."""
    insert = dialect_insert(session)
    session.execute(
        insert(WorkspaceSecret)
        .values(name=name, value=candidate, created_at=at)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    value = session.scalars(select(WorkspaceSecret.value).where(WorkspaceSecret.name == name))
    return bytes(value.one())


def user_by_name(session: Session, name: str) -> User | None:
    """The user called NAME."""
    return session.scalars(select(User).where(User.name == name)).first()


def get_user(session: Session, user_id: int) -> User | None:
    """One user by id."""
    return session.get(User, user_id)


def users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(select(User).order_by(User.name)))


def users_by_name(session: Session, names: Collection[str]) -> dict[str, User]:
    """The users among NAMES, by name."""
    if not names:
        return {}
    found = session.scalars(select(User).where(User.name.in_(sorted(names))))
    return {user.name: user for user in found}


def users_by_id(session: Session, ids: Collection[int]) -> dict[int, User]:
    """The users among IDS, by id."""
    if not ids:
        return {}
    return {user.id: user for user in session.scalars(select(User).where(User.id.in_(sorted(ids))))}


def team_by_name(session: Session, name: str) -> Team | None:
    """The team called NAME."""
    return session.scalars(select(Team).where(Team.name == name)).first()


def teams(session: Session) -> list[Team]:
    """Every team, by name."""
    return list(session.scalars(select(Team).order_by(Team.name)))


def add(session: Session, row: User | Team) -> None:
    """Store a new user or team and flush so it has an id."""
    session.add(row)
    session.flush()


def add_members(session: Session, team_id: int, user_ids: Collection[int]) -> None:
    """Put users in a team (already members stay)."""
    known = set(team_member_ids(session, team_id))
    # A user named twice is added once (dict.fromkeys keeps the order given).
    new = [u for u in dict.fromkeys(user_ids) if u not in known]
    session.add_all(TeamMember(team_id=team_id, user_id=u) for u in new)
    session.flush()


def team_member_ids(session: Session, team_id: int) -> list[int]:
    """The ids of a team's members."""
    query = select(TeamMember.user_id).where(TeamMember.team_id == team_id)
    return list(session.scalars(query.order_by(TeamMember.user_id)))


def member_names(session: Session) -> dict[int, list[str]]:
    """Team id -> its members' names."""
    query = (
        select(TeamMember.team_id, User.name)
        .join(User, User.id == TeamMember.user_id)
        .order_by(User.name)
    )
    found: dict[int, list[str]] = {}
    for team_id, name in session.execute(query):
        found.setdefault(team_id, []).append(name)
    return found


def teams_of_users(session: Session) -> dict[int, list[str]]:
    """User id -> the names of their teams."""
    query = select(TeamMember.user_id, Team.name).join(Team, Team.id == TeamMember.team_id)
    found: dict[int, list[str]] = {}
    for user_id, name in session.execute(query.order_by(Team.name)):
        found.setdefault(user_id, []).append(name)
    return found


def team_ids_of(session: Session, user_id: int) -> list[int]:
    """The teams a user belongs to."""
    return list(session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user_id)))


def members_of_teams(session: Session, team_ids: Collection[int]) -> list[int]:
    """The users of any of TEAM_IDS."""
    if not team_ids:
        return []
    query = select(TeamMember.user_id).where(TeamMember.team_id.in_(sorted(team_ids)))
    return sorted(set(session.scalars(query)))


def owner_of(session: Session, contact_id: int) -> ContactOwner | None:
    """Who works a contact, if anyone."""
    return session.get(ContactOwner, contact_id)


def visible_filter(caller: Caller, contact_id: Any) -> ColumnElement[bool]:
    """A condition on CONTACT_ID (a column) true for the contacts CALLER may see."""
    if caller.sees_everything:
        return true()
    users = sorted(caller.user_ids | {caller.user_id} if caller.user_id else caller.user_ids)
    teams = sorted(caller.team_ids)
    conditions = []
    if users:
        conditions.append(ContactOwner.user_id.in_(users))
    if teams:
        conditions.append(ContactOwner.team_id.in_(teams))
    if not conditions:
        return false()
    owned = select(ContactOwner.contact_id).where(or_(*conditions))
    condition: ColumnElement[bool] = contact_id.in_(owned)
    return condition


def is_visible(session: Session, caller: Caller, contact_id: int) -> bool:
    """Whether CALLER may see contact CONTACT_ID (assigned to them, their queue or team)."""
    if caller.sees_everything:
        return True
    query = select(ContactOwner.contact_id).where(
        ContactOwner.contact_id == contact_id, visible_filter(caller, ContactOwner.contact_id)
    )
    return session.scalars(query).first() is not None


def add_audit(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Append audit entries (no flush of the ORM session needed: a plain insert)."""
    if rows:
        session.execute(insert(AuditEntry), list(rows))


def audit_entries(
    session: Session, *, after_id: int = 0, target_type: str | None = None, limit: int = 100
) -> list[AuditEntry]:
    """Audit entries after AFTER_ID, oldest first, optionally about one kind of target."""
    query = select(AuditEntry).where(AuditEntry.id > after_id)
    if target_type is not None:
        query = query.where(AuditEntry.target_type == target_type)
    return list(session.scalars(query.order_by(AuditEntry.id).limit(limit)))


def add_web_session(session: Session, row: WebSession) -> None:
    """Store a signed-in browser's session."""
    session.add(row)
    session.flush()


def web_session(session: Session, token_hash: bytes, now: datetime) -> WebSession | None:
    """The unexpired session whose token hashes to TOKEN_HASH."""
    query = select(WebSession).where(
        WebSession.token_hash == token_hash, WebSession.expires_at > now
    )
    return session.scalars(query).first()


def end_web_sessions(
    session: Session,
    *,
    token_hash: bytes | None = None,
    user_id: int | None = None,
    before: datetime | None = None,
) -> None:
    """Delete one session (by token), a user's sessions, or those expired BEFORE."""
    query = delete(WebSession)
    if token_hash is not None:
        query = query.where(WebSession.token_hash == token_hash)
    if user_id is not None:
        query = query.where(WebSession.user_id == user_id)
    if before is not None:
        query = query.where(WebSession.expires_at <= before)
    session.execute(query)
