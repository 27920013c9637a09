"""The consent gate: one table of channel × audience × consent × suppression × purchase × date."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import pytest

from leadsift.outreach.gate import (
    FRENCH_DEFAULTS,
    GatePolicy,
    Recipient,
    decide,
)

# 2026-08-11 is the day recorded consent becomes mandatory for B2C phone canvassing.
BEFORE = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
ON = datetime(2026, 8, 11, 10, 0, tzinfo=UTC)
AFTER = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
# 2026-08-11 00:00 in Paris (UTC+2 in summer) is 2026-08-10 22:00 UTC.
PARIS_MIDNIGHT = datetime(2026, 8, 10, 22, 0, tzinfo=UTC)
EXCEPTION = timedelta(days=FRENCH_DEFAULTS.customer_exception_days)

# Purchases, relative to the moment of the decision.
NONE = "none"
RECENT = "recent"  # 30 days before
TOO_OLD = "too_old"  # four years before
FUTURE = "future"  # a day after (a clock skew or a mistyped import)
LIMIT = "limit"  # exactly customer_exception_days before
PAST_LIMIT = "past_limit"  # one day more than that

PURCHASE_AGE = {
    RECENT: timedelta(days=30),
    TOO_OLD: timedelta(days=4 * 365),
    FUTURE: -timedelta(days=1),
    LIMIT: EXCEPTION,
    PAST_LIMIT: EXCEPTION + timedelta(days=1),
}


def recipient(
    channel: str,
    audience: str,
    consent: bool | None,
    *,
    suppressed: str | None = None,
    purchase: str = NONE,
    now: datetime = AFTER,
    has_address: bool = True,
) -> Recipient:
    bought = None if purchase == NONE else now - PURCHASE_AGE[purchase]
    return Recipient(channel, audience, has_address, consent, suppressed, bought)


class Row(NamedTuple):
    """One case: the recipient and moment, then the expected (allowed, reason)."""

    channel: str
    audience: str
    consent: bool | None
    suppressed: str | None
    purchase: str
    now: datetime
    has_address: bool
    allowed: bool
    reason: str


TABLE = [
    # email, B2C: opt-in required, the customer exception applies.
    Row("email", "b2c", True, None, NONE, AFTER, True, True, "opt_in"),
    Row("email", "b2c", None, None, NONE, AFTER, True, False, "no_opt_in"),
    Row("email", "b2c", False, None, NONE, AFTER, True, False, "withdrawn"),
    Row("email", "b2c", None, None, RECENT, AFTER, True, True, "existing_customer"),
    Row("email", "b2c", None, None, LIMIT, AFTER, True, True, "existing_customer"),
    Row("email", "b2c", None, None, PAST_LIMIT, AFTER, True, False, "no_opt_in"),
    Row("email", "b2c", None, None, TOO_OLD, AFTER, True, False, "no_opt_in"),
    Row("email", "b2c", None, None, FUTURE, AFTER, True, False, "no_opt_in"),
    Row("email", "b2c", False, None, RECENT, AFTER, True, False, "withdrawn"),
    Row("email", "b2c", True, "unsubscribed", NONE, AFTER, True, False, "suppressed"),
    Row("email", "b2c", None, "complaint", RECENT, AFTER, True, False, "suppressed"),
    Row("email", "b2c", True, None, RECENT, AFTER, False, False, "no_address"),
    Row("email", "b2c", True, "hard_bounce", NONE, AFTER, False, False, "no_address"),
    # email, B2B: allowed unless the person objected.
    Row("email", "b2b", None, None, NONE, AFTER, True, True, "b2b_no_objection"),
    Row("email", "b2b", True, None, NONE, AFTER, True, True, "opt_in"),
    Row("email", "b2b", False, None, RECENT, AFTER, True, False, "withdrawn"),
    Row("email", "b2b", None, "erased", NONE, AFTER, True, False, "suppressed"),
    # SMS.
    Row("sms", "b2c", True, None, NONE, BEFORE, True, True, "opt_in"),
    Row("sms", "b2c", None, None, NONE, BEFORE, True, False, "no_opt_in"),
    Row("sms", "b2c", None, None, RECENT, BEFORE, True, True, "existing_customer"),
    Row("sms", "b2c", None, None, TOO_OLD, BEFORE, True, False, "no_opt_in"),
    Row("sms", "b2c", None, None, FUTURE, BEFORE, True, False, "no_opt_in"),
    Row("sms", "b2c", True, "stop", RECENT, BEFORE, True, False, "suppressed"),
    Row("sms", "b2c", None, "soft_bounce_limit", NONE, BEFORE, True, False, "suppressed"),
    Row("sms", "b2b", None, None, NONE, BEFORE, True, True, "b2b_no_objection"),
    Row("sms", "b2c", False, None, RECENT, BEFORE, True, False, "withdrawn"),
    Row("sms", "b2b", True, None, NONE, BEFORE, True, True, "opt_in"),
    Row("sms", "b2b", False, None, NONE, BEFORE, True, False, "withdrawn"),
    # phone, B2C: opt-out before 2026-08-11 (Paris time), recorded consent from that day.
    Row("phone", "b2c", None, None, NONE, BEFORE, True, True, "no_objection"),
    Row("phone", "b2c", None, None, NONE, ON, True, False, "phone_consent_required"),
    Row("phone", "b2c", None, None, NONE, AFTER, True, False, "phone_consent_required"),
    Row("phone", "b2c", None, None, NONE, PARIS_MIDNIGHT, True, False, "phone_consent_required"),
    Row(
        "phone",
        "b2c",
        None,
        None,
        NONE,
        PARIS_MIDNIGHT - timedelta(seconds=1),
        True,
        True,
        "no_objection",
    ),
    Row("phone", "b2c", True, None, NONE, ON, True, True, "opt_in"),
    Row("phone", "b2c", True, None, NONE, AFTER, True, True, "opt_in"),
    Row("phone", "b2c", False, None, NONE, BEFORE, True, False, "withdrawn"),
    Row("phone", "b2c", False, None, RECENT, AFTER, True, False, "withdrawn"),
    Row("phone", "b2c", None, None, RECENT, AFTER, True, False, "phone_consent_required"),
    Row("phone", "b2c", None, None, RECENT, BEFORE, True, True, "no_objection"),
    Row("phone", "b2c", None, "erased", NONE, BEFORE, True, False, "suppressed"),
    Row("phone", "b2c", None, None, NONE, BEFORE, False, False, "no_address"),
    # phone, B2B: opt-out whatever the date.
    Row("phone", "b2b", None, None, NONE, BEFORE, True, True, "b2b_no_objection"),
    Row("phone", "b2b", None, None, NONE, AFTER, True, True, "b2b_no_objection"),
    Row("phone", "b2b", False, None, NONE, AFTER, True, False, "withdrawn"),
    Row("phone", "b2b", True, None, NONE, AFTER, True, True, "opt_in"),
    # ad audiences: opt-in for everyone, no customer exception.
    Row("ad_audience", "b2c", True, None, NONE, AFTER, True, True, "opt_in"),
    Row("ad_audience", "b2c", None, None, NONE, AFTER, True, False, "no_opt_in"),
    Row("ad_audience", "b2c", None, None, RECENT, AFTER, True, False, "no_opt_in"),
    Row("ad_audience", "b2c", False, None, RECENT, AFTER, True, False, "withdrawn"),
    Row("ad_audience", "b2b", True, None, NONE, AFTER, True, True, "opt_in"),
    Row("ad_audience", "b2b", None, None, RECENT, AFTER, True, False, "no_opt_in"),
    Row("ad_audience", "b2b", False, None, NONE, AFTER, True, False, "withdrawn"),
    Row("ad_audience", "b2b", True, "erased", NONE, AFTER, True, False, "suppressed"),
    Row("ad_audience", "b2c", True, None, NONE, AFTER, False, False, "no_address"),
]


@pytest.mark.parametrize("row", TABLE, ids=lambda row: "-".join(map(str, row[:5])))
def test_the_gate_table(row: Row) -> None:
    person = recipient(
        row.channel,
        row.audience,
        row.consent,
        suppressed=row.suppressed,
        purchase=row.purchase,
        now=row.now,
        has_address=row.has_address,
    )
    decision = decide(person, row.now)
    assert (decision.allowed, decision.reason) == (row.allowed, row.reason)
    assert decision.message.strip()
    assert decision.message.endswith(".")


def test_the_table_covers_every_reason_channel_audience_and_consent() -> None:
    seen = {(row.channel, row.audience, row.consent) for row in TABLE}
    assert seen == {
        (channel, audience, consent)
        for channel in ("email", "sms", "phone", "ad_audience")
        for audience in ("b2c", "b2b")
        for consent in (True, False, None)
    }
    assert {row.reason for row in TABLE} == {
        "no_address",
        "suppressed",
        "withdrawn",
        "opt_in",
        "existing_customer",
        "b2b_no_objection",
        "no_objection",
        "phone_consent_required",
        "no_opt_in",
    }
    assert {row.purchase for row in TABLE} >= {NONE, RECENT, TOO_OLD, FUTURE}


def test_refusal_messages_say_why() -> None:
    suppressed = decide(recipient("email", "b2c", True, suppressed="hard_bounce"), AFTER)
    assert "hard_bounce" in suppressed.message
    old = decide(recipient("email", "b2c", None, purchase=TOO_OLD), AFTER)
    assert "too old" in old.message
    assert "email" in old.message
    assert "opt-in" in old.message
    never = decide(recipient("sms", "b2c", None), AFTER)
    assert "sms" in never.message.lower()
    assert "opt-in" in never.message
    assert "too old" not in never.message
    future = decide(recipient("sms", "b2c", None, purchase=FUTURE), AFTER)
    assert "future" in future.message
    phone = decide(recipient("phone", "b2c", None), AFTER)
    assert "2026-08-11" in phone.message


def test_a_custom_policy_changes_the_outcome() -> None:
    email_opt_out = GatePolicy(opt_in_b2c=frozenset({"sms", "ad_audience"}))
    person = recipient("email", "b2c", None)
    assert decide(person, AFTER).reason == "no_opt_in"
    decision = decide(person, AFTER, email_opt_out)
    assert (decision.allowed, decision.reason) == (True, "no_objection")
    # An objection still wins under any policy.
    assert decide(replace(person, consent=False), AFTER, email_opt_out).reason == "withdrawn"


def test_a_shorter_customer_exception_and_a_later_phone_date() -> None:
    strict = GatePolicy(customer_exception_days=30, phone_opt_in_from=date(2027, 1, 1))
    bought_recently = recipient("email", "b2c", None, purchase=RECENT)  # 30 days: the limit
    assert decide(bought_recently, AFTER, strict).reason == "existing_customer"
    bought_earlier = replace(bought_recently, last_purchase_at=AFTER - timedelta(days=31))
    assert decide(bought_earlier, AFTER, strict).reason == "no_opt_in"
    phone = recipient("phone", "b2c", None)
    assert decide(phone, AFTER, strict).reason == "no_objection"
    assert decide(phone, datetime(2027, 1, 1, 12, tzinfo=UTC), strict).reason == (
        "phone_consent_required"
    )


def test_phone_can_be_made_opt_in_for_consumers_regardless_of_the_date() -> None:
    policy = GatePolicy(opt_in_b2c=frozenset({"email", "sms", "phone", "ad_audience"}))
    decision = decide(recipient("phone", "b2c", None), BEFORE, policy)
    assert (decision.allowed, decision.reason) == (False, "no_opt_in")


def test_the_customer_exception_can_cover_phone_for_b2c() -> None:
    policy = GatePolicy(customer_exception_channels=frozenset({"email", "sms", "phone"}))
    decision = decide(recipient("phone", "b2c", None, purchase=RECENT), AFTER, policy)
    assert (decision.allowed, decision.reason) == (True, "existing_customer")


@pytest.mark.parametrize(
    ("channel", "audience"), [("fax", "b2c"), ("Email", "b2c"), ("email", "b2g"), ("email", "")]
)
def test_an_unknown_channel_or_audience_is_a_programming_error(channel: str, audience: str) -> None:
    with pytest.raises(ValueError, match="unknown"):
        decide(recipient(channel, audience, True), AFTER)


def test_a_naive_moment_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone"):
        decide(recipient("email", "b2c", True), datetime(2026, 9, 1, 10, 0))  # noqa: DTZ001
