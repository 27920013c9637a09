"""Password hashing for the web sign-in: scrypt from the standard library; pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Final

# OWASP's scrypt floor (N=2^17, r=8, p=1) costs 128 MiB and ~0.3 s a sign-in on this class of
# machine; 2^15 keeps a sign-in near 0.1 s at 32 MiB, well above what offline guessing likes.
COST: Final = 2**15
BLOCK_SIZE: Final = 8
PARALLELISM: Final = 1
MIN_LENGTH: Final = 10
MAX_LENGTH: Final = 200
# A hash that matches no password: compared against when the user does not exist, so that a
# sign-in for an unknown name takes as long as one with a wrong password.
DECOY: Final = (
    "scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
)


def check_strength(password: str) -> str | None:
    """Why PASSWORD is refused (too short, too long, only one repeated character), or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    if len(set(password)) < 4:
        return "a password needs at least 4 different characters"
    return None


def hash_password(password: str, *, cost: int = COST) -> str:
    """`scrypt$N$r$p$salt$hash` for PASSWORD, with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, cost, BLOCK_SIZE, PARALLELISM)
    encoded = [base64.b64encode(part).decode("ascii") for part in (salt, digest)]
    return f"scrypt${cost}${BLOCK_SIZE}${PARALLELISM}${encoded[0]}${encoded[1]}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether PASSWORD matches the STORED hash (constant time; False for no or odd hashes)."""
    try:
        scheme, cost, block, parallel, salt, digest = (stored or DECOY).split("$")
        expected = base64.b64decode(digest)
        found = _scrypt(password, base64.b64decode(salt), int(cost), int(block), int(parallel))
    except ValueError:
        return False
    return scheme == "scrypt" and stored is not None and hmac.compare_digest(found, expected)


def _scrypt(password: str, salt: bytes, cost: int, block: int, parallel: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=cost,
        r=block,
        p=parallel,
        maxmem=256 * 1024 * 1024,
        dklen=32,
    )
