"""Signed tokens: only the exact token the secret's holder made verifies."""

from __future__ import annotations

import string

from leadsift.kit.signing import sign, verify

SECRET = b"s" * 32
ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def test_a_genuine_token_verifies_for_its_purpose_only() -> None:
    token = sign(SECRET, "unsubscribe", {"c": 7})
    assert verify(SECRET, "unsubscribe", token) == {"c": 7}
    assert verify(SECRET, "click", token) is None
    assert verify(b"t" * 32, "unsubscribe", token) is None


def test_another_spelling_of_the_same_mac_is_refused() -> None:
    """The MAC's last base64 character carries spare bits: a token with them set is not ours."""
    for n in range(50):
        token = sign(SECRET, "open", {"c": n})
        body, _, mac = token.partition(".")
        spare = ALPHABET[ALPHABET.index(mac[-1]) ^ 1]  # same significant bits, a spare bit set
        assert verify(SECRET, "open", f"{body}.{mac[:-1]}{spare}") is None
        assert verify(SECRET, "open", token) == {"c": n}
