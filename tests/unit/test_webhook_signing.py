"""Webhook signatures (Stripe style): a receiver accepts only the exact body, signed with its
secret, at a time within its tolerance."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from leadsift.webhooks.signing import new_secret, signature, verify

SECRET = "whsec_test-secret"  # noqa: S105 — a test secret
BODY = b'{"data":{"contact_id":7},"id":"qualified-3","type":"contact.qualified"}'
SENT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
T = int(SENT.timestamp())


def test_the_header_is_the_hmac_of_time_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, BODY, T) == f"t={T},v1={expected}"


def test_a_genuine_delivery_verifies_within_the_tolerance() -> None:
    header = signature(SECRET, BODY, T)
    assert verify(SECRET, header, BODY, SENT)
    assert verify(SECRET, header, BODY, SENT + timedelta(seconds=300))
    assert verify(SECRET, header, BODY, SENT - timedelta(seconds=300))  # a clock a little behind


def test_a_replay_outside_the_tolerance_is_refused() -> None:
    header = signature(SECRET, BODY, T)
    assert not verify(SECRET, header, BODY, SENT + timedelta(seconds=301))
    assert not verify(SECRET, header, BODY, SENT + timedelta(hours=1), tolerance=3599)
    assert verify(SECRET, header, BODY, SENT + timedelta(hours=1), tolerance=3600)


def test_a_tampered_body_another_secret_or_a_moved_timestamp_is_refused() -> None:
    header = signature(SECRET, BODY, T)
    assert not verify(SECRET, header, BODY.replace(b"7", b"8"), SENT)
    assert not verify(SECRET, header, BODY + b" ", SENT)
    assert not verify("whsec_other", header, BODY, SENT)
    # The time is signed: a replay with a fresh t= does not verify.
    moved = header.replace(f"t={T}", f"t={T + 600}")
    assert not verify(SECRET, moved, BODY, SENT + timedelta(seconds=600))


def test_malformed_headers_are_refused_without_error() -> None:
    mac = signature(SECRET, BODY, T).split("v1=")[1]
    for header in ("", "t=,v1=", f"v1={mac}", f"t={T}", f"t=x{T},v1={mac}", "garbage", "é" * 10,
                   f"t={T},v1=é{mac}", f"t={T},v1={mac}," + "x" * 3000):  # fmt: skip
        assert not verify(SECRET, header, BODY, SENT), header


def test_any_of_several_signatures_may_match_and_order_does_not_matter() -> None:
    mac = signature(SECRET, BODY, T).split("v1=")[1]
    assert verify(SECRET, f"v1={'0' * 64}, v1={mac}, t={T}", BODY, SENT)


def test_secrets_are_fresh_and_long() -> None:
    first, second = new_secret(), new_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(first) - len("whsec_") >= 43  # 32 random bytes in base64
