"""One event as sent → ready to store, or the precise reason it is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadsift.engagement.events import PreparedEvent, prepare
from leadsift.engagement.schemas import ItemError

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def run(raw: Any, index: int = 0) -> PreparedEvent | ItemError:
    return prepare(raw, index, received_at=NOW, future_tolerance=timedelta(minutes=5), region="FR")


def ok(raw: Any) -> PreparedEvent:
    prepared = run(raw)
    assert isinstance(prepared, PreparedEvent), prepared
    return prepared


def refused(raw: Any, index: int = 0) -> ItemError:
    prepared = run(raw, index)
    assert isinstance(prepared, ItemError), prepared
    assert prepared.index == index
    return prepared


def test_contacts_are_normalised_like_imports() -> None:
    assert ok({"type": "page_view", "email": " Jean.Dupont@Example.FR "}).ref_value == (
        "jean.dupont@example.fr"
    )
    phone = ok({"type": "sms_replied", "phone": "06 12 34 56 78"})
    assert (phone.ref_kind, phone.ref_value) == ("phone", "+33612345678")
    anonymous = ok({"type": "page_view", "anonymous_id": "a1b2c3d4e5"})
    assert (anonymous.ref_kind, anonymous.anonymous_id) == (None, "a1b2c3d4e5")


def test_time_zones_are_kept_and_the_time_defaults_to_arrival() -> None:
    paris = ok({"type": "x", "contact_id": 1, "occurred_at": "2026-11-30T10:00:00+01:00"})
    assert paris.occurred_at == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert ok({"type": "x", "contact_id": 1}).occurred_at == NOW


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        ({"type": "page_view"}, "invalid_event", "give the contact as contact_id, email"),
        ({"type": "Page View", "contact_id": 1}, "invalid_event", "type: String should match"),
        (
            {"type": "x", "contact_id": "abc"},
            "invalid_event",
            "contact_id: Input should be a valid",
        ),
        ({"type": "x", "contact_id": 1, "colour": "red"}, "invalid_event", "colour: unknown field"),
        ({"type": "x", "contact_id": 1, "email": "a@b.fr"}, "invalid_event", "one way"),
        (
            {"type": "x", "contact_id": 1, "occurred_at": "2026-11-30T10:00:00"},
            "invalid_event",
            "occurred_at: Input should have timezone info",
        ),
        ({"type": "x", "contact_id": 1, "occurred_at": "soon"}, "invalid_event", "occurred_at"),
        ({"type": "x", "email": "not-an-email"}, "invalid_email", "'not-an-email' is not valid"),
        ({"type": "x", "phone": "12"}, "invalid_phone", "'12' is not valid"),
        (
            {"type": "x", "contact_id": 1, "occurred_at": "2026-11-30T12:06:00Z"},
            "occurred_in_future",
            "is in the future",
        ),
        (
            {"type": "x", "contact_id": 1, "properties": {"b": "x" * 20_000}},
            "properties_too_large",
            "bytes",
        ),
        ("not an object", "invalid_event", "Input should be a valid dictionary"),
    ],
)
def test_bad_events_say_what_to_fix(raw: Any, code: str, message: str) -> None:
    error = refused(raw, index=7)
    assert error.code == code
    assert message in error.message


def test_within_the_clock_tolerance_an_early_time_is_accepted() -> None:
    assert ok({"type": "x", "contact_id": 1, "occurred_at": "2026-11-30T12:04:00Z"})


def test_the_same_event_gets_the_same_keys_in_any_notation() -> None:
    first = ok(
        {
            "type": "x",
            "contact_id": 1,
            "occurred_at": "2026-11-30T10:00:00+01:00",
            "properties": {"b": 1, "a": [1, 2]},
        }
    )
    second = ok(
        {
            "properties": {"a": [1, 2], "b": 1},
            "contact_id": 1,
            "type": "x",
            "occurred_at": "2026-11-30T09:00:00Z",
        }
    )
    assert (first.dedup_key, first.payload_hash) == (second.dedup_key, second.payload_hash)
    other = ok(
        {
            "type": "x",
            "contact_id": 2,
            "occurred_at": "2026-11-30T09:00:00Z",
            "properties": {"a": [1, 2], "b": 1},
        }
    )
    assert other.dedup_key != first.dedup_key


def test_an_idempotency_key_names_the_event_and_the_payload_tells_a_reuse() -> None:
    base = {"type": "x", "contact_id": 1, "idempotency_key": "order-42"}
    one = ok({**base, "properties": {"amount": 10}})
    two = ok({**base, "properties": {"amount": 99}})
    assert one.dedup_key == two.dedup_key
    assert one.payload_hash != two.payload_hash


def test_a_retry_with_a_key_and_no_time_is_the_same_event() -> None:
    raw = {"type": "purchase", "contact_id": 1, "idempotency_key": "order-42"}
    first = ok(raw)
    later = prepare(
        raw, 0, received_at=NOW + timedelta(minutes=1), future_tolerance=timedelta(0), region="FR"
    )
    assert isinstance(later, PreparedEvent)
    assert (later.dedup_key, later.payload_hash) == (first.dedup_key, first.payload_hash)
    assert later.occurred_at == NOW + timedelta(minutes=1)  # stored at its own arrival


def test_without_key_nor_time_each_arrival_is_a_new_event() -> None:
    raw = {"type": "page_view", "contact_id": 1}
    later = prepare(
        raw, 0, received_at=NOW + timedelta(seconds=1), future_tolerance=timedelta(0), region="FR"
    )
    assert isinstance(later, PreparedEvent)
    assert later.dedup_key != ok(raw).dedup_key


@pytest.mark.parametrize(
    "raw",
    [
        {"type": "x", "contact_id": 1, "properties": {"q": "a\x00b"}},
        {"type": "x", "contact_id": 1, "campaign": "spring\x00"},
        {"type": "x", "external_id": "id\x00"},
        {"type": "x", "contact_id": 1, "idempotency_key": "k\x00"},
    ],
)
def test_a_nul_character_is_refused_for_its_event_only(raw: dict[str, Any]) -> None:
    error = refused(raw)
    assert (error.code, "NUL" in error.message) == ("invalid_event", True)


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_outside_what_utc_holds_is_refused(moment: str) -> None:
    error = refused({"type": "page_view", "email": "a@example.com", "occurred_at": moment})
    assert error.code == "invalid_time"


@pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan")])
def test_a_property_that_is_not_a_finite_number_is_refused(number: float) -> None:
    raw = {"type": "purchase", "email": "a@example.com", "properties": {"amount": number}}
    assert refused(raw).code == "invalid_properties"
