"""The telesales calling rules: legal windows, public holidays, DST, and per-contact exclusions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from leadsift.agents.calling import (
    FRENCH_DEFAULTS,
    CallFacts,
    CallingRules,
    Exclusion,
    call_exclusion,
    contact_exclusion,
    describe_days,
    describe_hours,
    next_window_start,
    public_holiday,
    window_exclusion,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
HOURS = "10:00–13:00, 14:00–20:00"


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# (moment, expected code or None when calls are allowed, expected until, message fragments)
WINDOW_TABLE = [
    pytest.param(
        paris(2026, 12, 5, 11),
        "closed_day",
        paris(2026, 12, 7, 10),
        ("Saturday: calls are allowed Monday to Friday", "Monday 7 December 2026 at 10:00"),
        id="saturday",
    ),
    pytest.param(
        paris(2026, 12, 6, 15),
        "closed_day",
        paris(2026, 12, 7, 10),
        ("Sunday", "Monday to Friday", "Monday 7 December 2026 at 10:00 Europe/Paris"),
        id="sunday",
    ),
    pytest.param(
        paris(2026, 12, 25, 11),
        "public_holiday",
        paris(2026, 12, 28, 10),
        (
            "Friday 25 December 2026 is a public holiday (Christmas Day): no calls",
            "Monday 28 December 2026 at 10:00",
        ),
        id="christmas",
    ),
    pytest.param(
        paris(2026, 12, 2, 13, 30),
        "outside_hours",
        paris(2026, 12, 2, 14),
        (f"13:30 Europe/Paris is outside the calling hours {HOURS}", "2 December 2026 at 14:00"),
        id="lunch-break",
    ),
    pytest.param(paris(2026, 12, 2, 10, 5), None, None, (), id="10:05-allowed"),
    pytest.param(
        paris(2026, 12, 2, 9, 59),
        "outside_hours",
        paris(2026, 12, 2, 10),
        ("09:59 Europe/Paris", HOURS, "Wednesday 2 December 2026 at 10:00"),
        id="09:59-outside",
    ),
    pytest.param(paris(2026, 12, 2, 10), None, None, (), id="10:00-allowed"),
    pytest.param(paris(2026, 12, 2, 12, 59), None, None, (), id="12:59-allowed"),
    pytest.param(
        paris(2026, 12, 2, 13),
        "outside_hours",
        paris(2026, 12, 2, 14),
        ("13:00 Europe/Paris", HOURS, "at 14:00"),
        id="13:00-outside",
    ),
    pytest.param(paris(2026, 12, 2, 14), None, None, (), id="14:00-allowed"),
    pytest.param(paris(2026, 12, 2, 19, 59), None, None, (), id="19:59-allowed"),
    pytest.param(
        paris(2026, 12, 2, 20),
        "outside_hours",
        paris(2026, 12, 3, 10),
        ("20:00 Europe/Paris", "Thursday 3 December 2026 at 10:00"),
        id="20:00-outside",
    ),
    pytest.param(
        paris(2026, 12, 4, 20, 30),
        "outside_hours",
        paris(2026, 12, 7, 10),
        ("20:30 Europe/Paris", "Monday 7 December 2026 at 10:00"),
        id="friday-evening-to-monday",
    ),
    pytest.param(
        paris(2026, 12, 24, 20, 30),
        "outside_hours",
        paris(2026, 12, 28, 10),
        ("20:30 Europe/Paris", "Monday 28 December 2026 at 10:00"),
        id="christmas-eve-to-monday-28",
    ),
    pytest.param(
        paris(2026, 12, 31, 20),
        "outside_hours",
        paris(2027, 1, 4, 10),
        ("20:00 Europe/Paris", "Monday 4 January 2027 at 10:00"),
        id="new-year-eve-to-next-year",
    ),
    pytest.param(
        paris(2026, 1, 1, 11),
        "public_holiday",
        paris(2026, 1, 2, 10),
        ("Thursday 1 January 2026", "New Year's Day", "Friday 2 January 2026 at 10:00"),
        id="new-year",
    ),
    pytest.param(
        paris(2026, 4, 6, 11),
        "public_holiday",
        paris(2026, 4, 7, 10),
        ("Monday 6 April 2026", "Easter Monday", "Tuesday 7 April 2026 at 10:00"),
        id="easter-monday",
    ),
    pytest.param(
        paris(2026, 5, 1, 15),
        "public_holiday",
        paris(2026, 5, 4, 10),
        ("Friday 1 May 2026", "Labor Day", "Monday 4 May 2026 at 10:00"),
        id="labour-day",
    ),
    pytest.param(
        paris(2026, 5, 8, 15),
        "public_holiday",
        paris(2026, 5, 11, 10),
        ("Friday 8 May 2026", "Victory Day", "Monday 11 May 2026 at 10:00"),
        id="victory-day",
    ),
    pytest.param(
        paris(2026, 5, 14, 11),
        "public_holiday",
        paris(2026, 5, 15, 10),
        ("Thursday 14 May 2026", "Ascension Day", "Friday 15 May 2026 at 10:00"),
        id="ascension",
    ),
    pytest.param(
        paris(2026, 5, 25, 11),
        "public_holiday",
        paris(2026, 5, 26, 10),
        ("Monday 25 May 2026", "Pentecost Monday", "Tuesday 26 May 2026 at 10:00"),
        id="whit-monday",
    ),
    pytest.param(
        paris(2026, 7, 14, 11),
        "public_holiday",
        paris(2026, 7, 15, 10),
        ("Tuesday 14 July 2026", "National Day", "Wednesday 15 July 2026 at 10:00"),
        id="14-july",
    ),
    pytest.param(
        paris(2026, 11, 11, 16),
        "public_holiday",
        paris(2026, 11, 12, 10),
        ("Wednesday 11 November 2026", "Armistice Day", "Thursday 12 November 2026 at 10:00"),
        id="11-november",
    ),
    pytest.param(
        paris(2026, 11, 1, 11),
        "closed_day",
        paris(2026, 11, 2, 10),
        ("Sunday", "Monday 2 November 2026 at 10:00"),
        id="holiday-on-sunday-is-a-closed-day",
    ),
    pytest.param(
        paris(2026, 3, 29, 11),
        "closed_day",
        paris(2026, 3, 30, 10),
        ("Sunday", "Monday 30 March 2026 at 10:00"),
        id="dst-spring-sunday",
    ),
    pytest.param(
        paris(2026, 3, 27, 20, 30),
        "outside_hours",
        utc(2026, 3, 30, 8),
        ("20:30 Europe/Paris", "Monday 30 March 2026 at 10:00"),
        id="dst-spring-friday-evening-to-summer-monday",
    ),
    pytest.param(paris(2026, 3, 30, 10), None, None, (), id="dst-spring-monday-10:00"),
    pytest.param(
        paris(2026, 10, 25, 11),
        "closed_day",
        utc(2026, 10, 26, 9),
        ("Sunday", "Monday 26 October 2026 at 10:00"),
        id="dst-autumn-sunday",
    ),
    pytest.param(
        paris(2026, 10, 23, 20, 30),
        "outside_hours",
        utc(2026, 10, 26, 9),
        ("20:30 Europe/Paris", "Monday 26 October 2026 at 10:00"),
        id="dst-autumn-friday-evening-to-winter-monday",
    ),
    pytest.param(
        paris(2026, 10, 26, 9, 59),
        "outside_hours",
        utc(2026, 10, 26, 9),
        ("09:59 Europe/Paris", "Monday 26 October 2026 at 10:00"),
        id="dst-autumn-monday-09:59",
    ),
    pytest.param(paris(2026, 10, 26, 10), None, None, (), id="dst-autumn-monday-10:00"),
    pytest.param(utc(2026, 12, 2, 9, 5), None, None, (), id="utc-winter-10:05-paris"),
    pytest.param(
        utc(2026, 12, 2, 8, 59),
        "outside_hours",
        paris(2026, 12, 2, 10),
        ("09:59 Europe/Paris", "at 10:00"),
        id="utc-winter-09:59-paris",
    ),
    pytest.param(utc(2026, 7, 1, 17, 59), None, None, (), id="utc-summer-19:59-paris"),
    pytest.param(
        utc(2026, 7, 1, 18, 30),
        "outside_hours",
        paris(2026, 7, 2, 10),
        ("20:30 Europe/Paris", "Thursday 2 July 2026 at 10:00"),
        id="utc-summer-20:30-paris",
    ),
    pytest.param(
        datetime(2026, 12, 2, 8, 0, tzinfo=NEW_YORK), None, None, (), id="new-york-14:00-paris"
    ),
    pytest.param(
        datetime(2026, 12, 4, 23, 0, tzinfo=NEW_YORK),
        "closed_day",
        paris(2026, 12, 7, 10),
        ("Saturday", "Monday 7 December 2026 at 10:00"),
        id="new-york-friday-night-is-saturday-in-paris",
    ),
]


@pytest.mark.parametrize(("moment", "code", "until", "fragments"), WINDOW_TABLE)
def test_calling_window_table(
    moment: datetime, code: str | None, until: datetime | None, fragments: tuple[str, ...]
) -> None:
    found = window_exclusion(moment, FRENCH_DEFAULTS)
    if code is None:
        assert found is None
        assert next_window_start(moment, FRENCH_DEFAULTS) == moment
        return
    assert found is not None
    assert found.code == code
    assert found.until == until
    assert found.until is not None
    assert found.until.tzinfo == PARIS
    assert found.until == next_window_start(moment, FRENCH_DEFAULTS)
    for fragment in fragments:
        assert fragment in found.message


def test_until_across_dst_carries_the_new_offset() -> None:
    spring = window_exclusion(paris(2026, 3, 27, 20, 30), FRENCH_DEFAULTS)
    autumn = window_exclusion(paris(2026, 10, 23, 20, 30), FRENCH_DEFAULTS)
    assert spring is not None and spring.until is not None
    assert autumn is not None and autumn.until is not None
    assert (spring.until.hour, spring.until.utcoffset()) == (10, timedelta(hours=2))
    assert (autumn.until.hour, autumn.until.utcoffset()) == (10, timedelta(hours=1))


def test_next_window_start_of_an_allowed_moment_is_that_moment_in_the_zone() -> None:
    moment = utc(2026, 12, 2, 10, 15)
    start = next_window_start(moment, FRENCH_DEFAULTS)
    assert start == moment
    assert (start.hour, start.minute, start.tzinfo) == (11, 15, PARIS)


def test_moselle_has_good_friday_and_saint_stephen() -> None:
    moselle = CallingRules(holidays_subdivision="57")
    good_friday = paris(2025, 4, 18, 11)
    saint_stephen = paris(2025, 12, 26, 11)
    for moment, name in ((good_friday, "Good Friday"), (saint_stephen, "Saint Stephen's Day")):
        found = window_exclusion(moment, moselle)
        assert found is not None and found.code == "public_holiday"
        assert name in found.message
        assert window_exclusion(moment, FRENCH_DEFAULTS) is None
    assert public_holiday(date(2025, 4, 18), moselle) == "Good Friday"
    assert public_holiday(date(2025, 4, 18), FRENCH_DEFAULTS) is None


def test_custom_rules_change_the_results() -> None:
    saturday = paris(2026, 12, 5, 11)
    with_saturday = CallingRules(days=frozenset(range(6)))
    assert window_exclusion(saturday, with_saturday) is None
    sunday = window_exclusion(paris(2026, 12, 6, 11), with_saturday)
    assert sunday is not None and "Monday to Saturday" in sunday.message

    office_hours = CallingRules(hours=((time(9), time(18)),))
    assert window_exclusion(paris(2026, 12, 2, 13, 30), office_hours) is None
    early = window_exclusion(paris(2026, 12, 2, 8, 59), office_hours)
    assert early is not None and early.code == "outside_hours"
    assert "09:00–18:00" in early.message
    assert early.until == paris(2026, 12, 2, 9)

    no_holidays = CallingRules(holidays_country=None)
    assert window_exclusion(paris(2026, 12, 25, 11), no_holidays) is None

    new_york = CallingRules(time_zone="America/New_York", holidays_country="US")
    # 16:00 in Paris is 10:00 in New York, the opening of the first window.
    assert window_exclusion(paris(2026, 12, 2, 16), new_york) is None
    closed = window_exclusion(datetime(2026, 11, 26, 11, tzinfo=NEW_YORK), new_york)
    assert closed is not None and closed.code == "public_holiday"
    assert "Thanksgiving" in closed.message and "America/New_York" in closed.message


def test_rules_without_any_window_raise() -> None:
    with pytest.raises(ValueError, match="never allowed"):
        next_window_start(paris(2026, 12, 2, 11), CallingRules(days=frozenset()))
    with pytest.raises(ValueError, match="never allowed"):
        window_exclusion(paris(2026, 12, 2, 11), CallingRules(hours=()))


@pytest.mark.parametrize(
    ("build", "complaint"),
    [
        (lambda: CallingRules(time_zone="Europe/Nowhere"), "time zone"),
        (lambda: CallingRules(days=frozenset({7})), "calling days"),
        (lambda: CallingRules(hours=((time(13), time(10)),)), "start < end"),
        (lambda: CallingRules(max_attempts=0), "max_attempts"),
    ],
)
def test_unusable_rules_are_rejected(build: Callable[[], CallingRules], complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        build()


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        window_exclusion(datetime(2026, 12, 2, 11), FRENCH_DEFAULTS)  # noqa: DTZ001


def test_descriptions() -> None:
    assert describe_hours(FRENCH_DEFAULTS) == HOURS
    assert describe_days(FRENCH_DEFAULTS) == "Monday to Friday"
    assert describe_days(CallingRules(days=frozenset({0, 2, 4}))) == "Monday, Wednesday and Friday"
    assert describe_days(CallingRules(days=frozenset({5, 6}))) == "Saturday and Sunday"
    assert describe_days(CallingRules(days=frozenset({3}))) == "Thursday"
    assert describe_days(CallingRules(days=frozenset(range(7)))) == "every day"


# ---- per-contact rules -------------------------------------------------------------------

NOW = paris(2026, 12, 2, 11)  # a Wednesday, inside the calling hours, after 2026-08-11
FRESH_LIST = date(2026, 11, 20)
CALLABLE_CONSUMER = CallFacts(
    has_phone=True,
    audience="b2c",
    attempts=(),
    last_refusal_at=None,
    on_opposition_list=False,
    opposition_list_as_of=FRESH_LIST,
    phone_consent=True,
    suppressed=None,
)
CALLABLE_BUSINESS = replace(
    CALLABLE_CONSUMER,
    audience="b2b",
    on_opposition_list=None,
    opposition_list_as_of=None,
    phone_consent=None,
)


def excluded(
    facts: CallFacts, now: datetime = NOW, rules: CallingRules = FRENCH_DEFAULTS
) -> Exclusion:
    found = contact_exclusion(facts, now, rules)
    assert found is not None, "expected an exclusion"
    return found


def test_callable_contacts_are_not_excluded() -> None:
    assert contact_exclusion(CALLABLE_CONSUMER, NOW, FRENCH_DEFAULTS) is None
    assert contact_exclusion(CALLABLE_BUSINESS, NOW, FRENCH_DEFAULTS) is None
    assert call_exclusion(CALLABLE_CONSUMER, NOW, FRENCH_DEFAULTS) is None


def test_no_phone_comes_first() -> None:
    found = excluded(replace(CALLABLE_CONSUMER, has_phone=False, suppressed="opt_out"))
    assert found.code == "no_phone"
    assert "no phone number" in found.message
    assert found.until is None


def test_suppressed_number() -> None:
    found = excluded(replace(CALLABLE_CONSUMER, suppressed="opt_out", phone_consent=False))
    assert found.code == "suppressed"
    assert "suppression list (opt_out)" in found.message


@pytest.mark.parametrize("audience", ["b2b", "b2c"])
def test_withdrawn_consent_always_wins(audience: str) -> None:
    facts = replace(
        CALLABLE_CONSUMER, audience=audience, phone_consent=False, on_opposition_list=True
    )
    found = excluded(facts)
    assert found.code == "phone_consent_withdrawn"
    assert "objected to phone calls" in found.message
    assert found.until is None


def test_opposition_list_applies_to_consumers_only() -> None:
    on_list = replace(CALLABLE_CONSUMER, on_opposition_list=True)
    found = excluded(on_list)
    assert found.code == "opposition_list"
    assert "Bloctel" in found.message and "Friday 20 November 2026" in found.message
    assert contact_exclusion(replace(on_list, audience="b2b"), NOW, FRENCH_DEFAULTS) is None


def test_outdated_opposition_list_is_not_relied_upon() -> None:
    stale = replace(CALLABLE_CONSUMER, opposition_list_as_of=date(2026, 10, 31))  # 32 days old
    found = excluded(stale)
    assert found.code == "opposition_list_outdated"
    assert "Saturday 31 October 2026" in found.message
    assert "30 days" in found.message
    assert "`leadsift optout import FILE --list bloctel`" in found.message
    assert found.until is None
    thirty_days_old = replace(CALLABLE_CONSUMER, opposition_list_as_of=date(2026, 11, 2))
    assert contact_exclusion(thirty_days_old, NOW, FRENCH_DEFAULTS) is None
    assert contact_exclusion(replace(stale, audience="b2b"), NOW, FRENCH_DEFAULTS) is None
    undated = excluded(replace(CALLABLE_CONSUMER, opposition_list_as_of=None))
    assert undated.code == "opposition_list_outdated" and "unknown date" in undated.message


def test_no_opposition_list_imported_is_not_flagged() -> None:
    never_imported = replace(CALLABLE_CONSUMER, on_opposition_list=None, opposition_list_as_of=None)
    assert contact_exclusion(never_imported, NOW, FRENCH_DEFAULTS) is None


def test_consumer_phone_consent_is_required_from_11_august_2026() -> None:
    unknown = replace(CALLABLE_CONSUMER, phone_consent=None)
    assert contact_exclusion(unknown, paris(2026, 8, 10, 23, 30), FRENCH_DEFAULTS) is None
    for moment in (paris(2026, 8, 11, 0, 30), utc(2026, 8, 10, 22, 30)):
        found = excluded(unknown, moment)
        assert found.code == "phone_consent_required"
        assert "11 August 2026" in found.message and "recorded phone consent" in found.message
        assert found.until is None
    assert contact_exclusion(unknown, utc(2026, 8, 10, 21, 30), FRENCH_DEFAULTS) is None
    business = replace(CALLABLE_BUSINESS, phone_consent=None)
    assert contact_exclusion(business, paris(2026, 8, 11, 0, 30), FRENCH_DEFAULTS) is None
    no_deadline = CallingRules(phone_consent_from=None)
    assert contact_exclusion(unknown, NOW, no_deadline) is None


def test_refusal_pauses_calls_for_60_days() -> None:
    # Stored times are UTC; in Paris the refusal was in summer time, at 12:00.
    refused_at = NOW.astimezone(UTC) - timedelta(days=59)
    found = excluded(replace(CALLABLE_CONSUMER, last_refusal_at=refused_at))
    assert found.code == "refused_recently"
    assert found.until == refused_at + timedelta(days=60)
    assert found.until == paris(2026, 12, 3, 11)
    assert "Sunday 4 October 2026 at 12:00" in found.message
    assert "60 days" in found.message
    assert "Thursday 3 December 2026 at 11:00 Europe/Paris" in found.message
    for days in (60, 61):
        later = replace(CALLABLE_CONSUMER, last_refusal_at=NOW - timedelta(days=days))
        assert contact_exclusion(later, NOW, FRENCH_DEFAULTS) is None


def test_refusal_pause_is_elapsed_time_across_dst() -> None:
    refused_at = paris(2026, 10, 1, 12)  # summer time; 60 days later is winter time
    found = excluded(
        replace(CALLABLE_CONSUMER, last_refusal_at=refused_at), paris(2026, 11, 25, 11)
    )
    assert found.until == utc(2026, 11, 30, 10)
    assert found.until is not None and found.until.hour == 11
    assert "Monday 30 November 2026 at 11:00" in found.message


def test_four_attempts_in_30_days_is_the_limit() -> None:
    attempts = tuple(NOW - timedelta(days=days) for days in (20, 10, 3, 1))
    found = excluded(replace(CALLABLE_CONSUMER, attempts=attempts))
    assert found.code == "too_many_attempts"
    assert found.until == NOW + timedelta(days=10)
    assert found.until == paris(2026, 12, 12, 11)
    assert "4 call attempts in the last 30 days (at most 4)" in found.message
    assert "Saturday 12 December 2026 at 11:00" in found.message
    three = replace(CALLABLE_CONSUMER, attempts=attempts[1:])
    assert contact_exclusion(three, NOW, FRENCH_DEFAULTS) is None


def test_attempts_older_than_the_window_are_not_counted() -> None:
    recent = tuple(NOW - timedelta(days=days) for days in (10, 3, 1))
    for old in (timedelta(days=31), timedelta(days=30)):
        facts = replace(CALLABLE_CONSUMER, attempts=(NOW - old, *recent))
        assert contact_exclusion(facts, NOW, FRENCH_DEFAULTS) is None


def test_over_the_limit_waits_for_enough_attempts_to_expire() -> None:
    attempts = tuple(utc(2026, 12, 2, 9) - timedelta(days=days) for days in (25, 20, 10, 3, 1))
    found = excluded(replace(CALLABLE_CONSUMER, attempts=attempts))
    assert found.code == "too_many_attempts"
    assert "5 call attempts" in found.message
    # Two must expire to get below four: the second oldest, 20 days ago, leaves in 10 days.
    assert found.until == utc(2026, 12, 12, 9)


def test_custom_attempt_limit() -> None:
    attempts = (NOW - timedelta(days=2), NOW - timedelta(days=1))
    two_a_week = CallingRules(max_attempts=2, attempts_window=timedelta(days=7))
    found = excluded(replace(CALLABLE_CONSUMER, attempts=attempts), rules=two_a_week)
    assert found.code == "too_many_attempts"
    assert "(at most 2)" in found.message and "last 7 days" in found.message
    assert found.until == NOW + timedelta(days=5)
    assert (
        contact_exclusion(replace(CALLABLE_CONSUMER, attempts=attempts), NOW, FRENCH_DEFAULTS)
        is None
    )


def test_call_exclusion_checks_the_window_first() -> None:
    no_phone = replace(CALLABLE_CONSUMER, has_phone=False)
    weekend = call_exclusion(no_phone, paris(2026, 12, 5, 11), FRENCH_DEFAULTS)
    assert weekend is not None and weekend.code == "closed_day"
    weekday = call_exclusion(no_phone, NOW, FRENCH_DEFAULTS)
    assert weekday is not None and weekday.code == "no_phone"


def test_unknown_audience_is_rejected() -> None:
    with pytest.raises(ValueError, match="b2c"):
        replace(CALLABLE_CONSUMER, audience="B2C")
