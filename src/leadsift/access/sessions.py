"""Web sign-in: passwords, and the sessions of signed-in browsers (token in a cookie)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from leadsift.access import passwords, repository
from leadsift.access.models import User, WebSession
from leadsift.access.schemas import Caller
from leadsift.access.service import audit, caller_of_user, find_user
from leadsift.errors import AuthenticationError, InvalidInputError
from leadsift.kit.clock import utcnow

# A session lasts a working day; signing in again is cheap, a stolen cookie ages out.
LIFETIME: Final = timedelta(hours=12)
# The same message whatever was wrong: never tell which names exist.
_REFUSED: Final = "wrong name or password, or the user is disabled"


@dataclass(frozen=True)
class SignedIn:
    """A browser's session: the cookie's token (shown once), its CSRF token and expiry."""

    token: str
    csrf_token: str
    expires_at: datetime
    user_id: int


@dataclass(frozen=True)
class SessionCaller:
    """Who a session cookie belongs to, as a caller, with the session's CSRF token."""

    caller: Caller
    user: User
    csrf_token: str


def set_password(session: Session, name: str, password: str, caller: Caller | None) -> None:
    """Set NAME's password (refused when weak); their other browser sessions end."""
    user = find_user(session, name)
    problem = passwords.check_strength(password)
    if problem is not None:
        raise InvalidInputError(f"{problem}; choose another for {user.name!r}")
    user.password_hash = passwords.hash_password(password)
    repository.end_web_sessions(session, user_id=user.id)
    audit(session, caller, "password_set", ("user", user.id))
    session.flush()


def sign_in(session: Session, name: str, password: str, now: datetime | None = None) -> SignedIn:
    """Check NAME's PASSWORD and open a session; one refusal message whatever was wrong."""
    now = now or utcnow()
    user = repository.user_by_name(session, name.strip().lower())
    # An unknown name costs one hash too (the decoy): timing never tells which names exist.
    matches = passwords.verify_password(password, user.password_hash if user else None)
    if user is None or not matches or user.disabled_at is not None:
        raise AuthenticationError(_REFUSED)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = now + LIFETIME
    repository.end_web_sessions(session, before=now)
    repository.add_web_session(
        session,
        WebSession(
            token_hash=_digest(token),
            user_id=user.id,
            csrf_token=csrf,
            created_at=now,
            expires_at=expires,
        ),
    )
    audit(session, caller_of_user(session, user), "signed_in", ("user", user.id), at=now)
    return SignedIn(token=token, csrf_token=csrf, expires_at=expires, user_id=user.id)


def session_caller(
    session: Session, token: str, now: datetime | None = None
) -> SessionCaller | None:
    """The signed-in user behind a cookie's TOKEN (None: unknown, expired or disabled)."""
    found = repository.web_session(session, _digest(token), now or utcnow())
    if found is None:
        return None
    user = repository.get_user(session, found.user_id)
    if user is None or user.disabled_at is not None:
        return None
    return SessionCaller(caller_of_user(session, user), user, found.csrf_token)


def sign_out(session: Session, token: str) -> None:
    """End the session behind TOKEN (nothing happens for an unknown one)."""
    repository.end_web_sessions(session, token_hash=_digest(token))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()
