"""Webhook rules: which events and thresholds, which URLs, the body, the retry schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from leadsift.errors import InvalidInputError
from leadsift.webhooks.delivery import Answer, outcome
from leadsift.webhooks.schemas import (
    MAX_ATTEMPTS,
    body,
    check_url,
    parse_events,
    parse_threshold,
    retry_wait,
    threshold_text,
)

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_events_by_short_name_or_type_in_a_stable_order() -> None:
    assert parse_events("customer, qualified,QUALIFIED") == [
        "contact.qualified",
        "contact.customer",
    ]
    assert parse_events("code_redeemed,contact.stage_changed") == [
        "contact.stage_changed",
        "promo_code.redeemed",
    ]


@pytest.mark.parametrize(("text", "message"), [("", "name at least one"),
                                                (" , ", "name at least one"),
                                                ("qualified,bought", "unknown event 'bought'"),
                                                ("ping", "unknown event 'ping'")])  # fmt: skip
def test_bad_events_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_events(text)


def test_thresholds() -> None:
    assert parse_threshold("interest>=60") == ("interest", 60.0)
    assert parse_threshold(" probability >= .3 ") == ("probability", 0.3)
    assert parse_threshold("interest>=-5") == ("interest", -5.0)
    assert threshold_text("probability", 0.3) == "probability>=0.3"
    assert threshold_text(None, None) is None


@pytest.mark.parametrize("text", ["interest>60", "interest", "fit>=3", "probability>=1.5",
                                  "interest>=6O", "interest>=nan", ">=3"])  # fmt: skip
def test_bad_thresholds_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError, match="--threshold"):
        parse_threshold(text)


def test_urls() -> None:
    assert check_url(" https://crm.example.com/hooks?x=1 ") == "https://crm.example.com/hooks?x=1"
    assert check_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "example.com/hook",
                                 "https://", "http://exa mple.com/", "https://example.com/\nx",
                                 "https://example.com:99999999/", "javascript:alert(1)",
                                 "https://example.com/" + "x" * 2000])  # fmt: skip
def test_urls_refused(url: str) -> None:
    with pytest.raises(InvalidInputError, match="http\\(s\\) URL"):
        check_url(url)


@pytest.mark.parametrize("url", ["https://user:pw@example.com/", "https://token@example.com/"])
def test_urls_with_credentials_are_refused(url: str) -> None:
    with pytest.raises(InvalidInputError, match="credentials"):
        check_url(url)


def test_the_body_is_the_same_bytes_each_time_with_a_utc_time() -> None:
    paris = AT.astimezone(datetime.now().astimezone().tzinfo)
    data = {"to_stage": "qualified", "contact_id": 7, "reason": "hand_raiser"}
    sent = body("qualified-3", "contact.qualified", paris, data)
    assert sent == body("qualified-3", "contact.qualified", AT, dict(reversed(data.items())))
    assert json.loads(sent) == {
        "id": "qualified-3",
        "type": "contact.qualified",
        "occurred_at": "2026-11-30T12:00:00Z",
        "data": data,
    }
    assert b" " not in sent


def test_retry_waits_grow_threefold_up_to_six_hours_then_give_up() -> None:
    waits = [retry_wait(n, 0.0) for n in range(1, MAX_ATTEMPTS + 1)]
    minutes = [w.total_seconds() / 60 for w in waits if w is not None]
    assert minutes == [1, 3, 9, 27, 81, 243, 360]
    assert waits[-1] is None  # the 8th attempt was the last
    assert retry_wait(100, 0.5) is None


def test_jitter_only_shortens_by_at_most_a_fifth() -> None:
    for attempt in range(1, MAX_ATTEMPTS):
        full = retry_wait(attempt, 0.0)
        assert full is not None
        for jitter in (0.25, 0.5, 0.999):
            wait = retry_wait(attempt, jitter)
            assert wait is not None
            assert full * 0.8 <= wait < full
    with pytest.raises(ValueError, match="jitter"):
        retry_wait(1, 1.0)
    with pytest.raises(ValueError, match="start at 1"):
        retry_wait(0, 0.0)


def test_outcomes() -> None:
    delivered = outcome(Answer(204), 3, AT, 0.0)
    assert delivered["status"] == "delivered"
    assert delivered["delivered_at"] == AT
    assert delivered["last_error"] is None
    failed = outcome(Answer(500), 2, AT, 0.0)
    assert failed == {
        "status": "failed",
        "last_status_code": 500,
        "last_error": "HTTP 500",
        "next_attempt_at": AT + timedelta(minutes=3),
    }
    redirect = outcome(Answer(302), 1, AT, 0.0)
    assert redirect["status"] == "failed"  # a redirect is not followed, nor a delivery
    timeout = outcome(Answer(None, "no answer within 10 s"), MAX_ATTEMPTS, AT, 0.0)
    assert timeout["status"] == "gave_up"
    assert timeout["last_error"] == "no answer within 10 s"
    assert timeout["last_status_code"] is None
