"""API keys (created, listed, revoked, verified) and the workspace's signing secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy.orm import Session

from leadsift.access import repository
from leadsift.access.models import ApiKey
from leadsift.access.schemas import ApiKeyView, CreatedApiKey, Scope
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


def create_key(session: Session, name: str, scope: Scope) -> CreatedApiKey:
    """A new key of SCOPE; only its hash is stored, the key itself is returned once."""
    name = name.strip()
    if not name:
        raise InvalidInputError("--name: give the key a name saying who uses it")
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
        ),
    )
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


def revoke_key(session: Session, key_id: int) -> ApiKeyView:
    """Revoke a key; requests with it are refused from now on."""
    row = repository.get_key(session, key_id)
    if row is None:
        raise NotFoundError(f"no API key {key_id}; `leadsift apikey list` shows them")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return ApiKeyView.model_validate(row)


def workspace_secret(session: Session, name: str) -> bytes:
    """A 256-bit secret of this workspace (made on first use, the same for every process)."""
    return repository.secret(session, name, secrets.token_bytes(32), utcnow())
