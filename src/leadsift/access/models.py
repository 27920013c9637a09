"""ORM models of who may do what: users, teams, API keys (hash only), contact owners, the
audit log, and the workspace's secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from leadsift.kit.orm import Base, IdType, JsonType, UtcDateTime


class User(Base):
    """A person working the funnel: an admin, a manager or a sales agent."""

    __tablename__ = "users"
    __table_args__ = (Index("uq_users_name", "name", unique=True),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    # A short handle (e.g. "alice"), used on the command line and in assignment rules.
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    # Round-robin weight and the most open prospects they may hold (None: no limit).
    weight: Mapped[int] = mapped_column(Integer, default=1)
    capacity: Mapped[int | None] = mapped_column(Integer)
    away_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # For the web application's sign-in (access.passwords: scrypt); None: cannot sign in.
    password_hash: Mapped[str | None] = mapped_column(String(200))


class Team(Base):
    """A group of users with a shared queue; its managers see its members' contacts."""

    __tablename__ = "teams"
    __table_args__ = (Index("uq_teams_name", "name", unique=True),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TeamMember(Base):
    """A user's membership of a team."""

    __tablename__ = "team_members"
    __table_args__ = (Index("ix_team_members_user", "user_id"),)

    team_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class ContactOwner(Base):
    """Who works a contact: a user, or a team's shared queue (exactly one of the two)."""

    __tablename__ = "contact_owners"
    __table_args__ = (
        Index("ix_contact_owners_user", "user_id"),
        Index("ix_contact_owners_team", "team_id"),
        # The call queue reads an agent's (or a team's) open prospects best first, LIMIT k:
        # one index range in rank order, never a sort of the whole queue.
        *(
            Index(
                f"ix_contact_owners_{owner}_rank",
                f"{owner}_id",
                "queue_rank",
                "contact_id",
                sqlite_where=text("queue_rank IS NOT NULL"),
                postgresql_where=text("queue_rank IS NOT NULL"),
            )
            for owner in ("user", "team")
        ),
    )

    contact_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("teams.id"))
    # Which assignment rule chose the owner ("rule 2", "default", "manual").
    rule: Mapped[str] = mapped_column(String(40))
    assigned_by: Mapped[str] = mapped_column(String(60))
    assigned_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Call order, refreshed when scores or stages move (agents.repository.refresh_ranks):
    # PREDICTED + priority when the model scored the contact, else fit + interest; NULL once
    # the contact is no longer a qualified prospect (out of the queue).
    queue_rank: Mapped[float | None] = mapped_column(Float)


class AuditEntry(Base):
    """Who did what to which record, when: ids and codes only, never personal data.

    Append-only: triggers refuse any UPDATE or DELETE of its rows (migration 0007).
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    # "user:12", "key:3", "cli" (whoever runs the command line on the database) or "system".
    actor: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str] = mapped_column(String(30))
    target_id: Mapped[int | None] = mapped_column(IdType)
    # Codes and counts (a role, a stage, a reason, a number of rows): no names, no addresses.
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class ApiKey(Base):
    """A key for the REST API: its public prefix, the SHA-256 of the whole key, and its scope."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("uq_api_keys_prefix", "prefix", unique=True),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(20))
    # The first characters of the key, shown in listings and used to find the row.
    prefix: Mapped[str] = mapped_column(String(20))
    # The key is 256 random bits: a plain SHA-256 is enough (no password stretching needed).
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # The user the key acts for (their role limits what it sees); None: an integration key
    # (a website, a CRM sync) limited by its scope alone.
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WorkspaceSecret(Base):
    """A random secret made once per workspace (e.g. the key that signs tracking links)."""

    __tablename__ = "workspace_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebSession(Base):
    """A signed-in browser: the SHA-256 of its cookie's token, its CSRF token and its expiry."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        Index("uq_web_sessions_token", "token_hash", unique=True),
        Index("ix_web_sessions_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    # Sent back by every state-changing request (form field or X-CSRF-Token header).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
