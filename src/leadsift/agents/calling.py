"""Telesales calling rules: the legal calling windows and per-contact exclusions; pure.

French defaults, configurable per playbook: calls Monday to Friday 10:00–13:00 and 14:00–20:00
Europe/Paris, never on a public holiday; at most 4 attempts per 30 days per contact; none for
60 days after a refusal; consumers on the imported opposition list (Bloctel) are not called, and
a list older than 30 days is not relied upon; from 2026-08-11 consumers need recorded phone
consent. Every exclusion carries a stable code, one English sentence and, when the exclusion
lifts by itself, the instant it does.

Durations (attempts window, refusal pause) are elapsed time: they are added in UTC, so a DST
change in between moves the local wall-clock time of the end by an hour, never the duration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
AUDIENCES = ("b2c", "b2b")
OPPOSITION_IMPORT_COMMAND = "leadsift optout import FILE --list bloctel"
# A year and a bit: rules that allow some weekday always have a window within this.
_SEARCH_DAYS = 400


@dataclass(frozen=True)
class CallingRules:
    """When and how often a contact may be called; the defaults are the French rules."""

    time_zone: str = "Europe/Paris"
    days: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday is 0
    hours: tuple[tuple[time, time], ...] = ((time(10), time(13)), (time(14), time(20)))
    holidays_country: str | None = "FR"
    holidays_subdivision: str | None = None
    max_attempts: int = 4
    attempts_window: timedelta = timedelta(days=30)
    after_refusal: timedelta = timedelta(days=60)
    opposition_max_age: timedelta = timedelta(days=30)
    phone_consent_from: date | None = date(2026, 8, 11)

    def __post_init__(self) -> None:
        """Reject rules that cannot be applied: unknown zone, bad days, empty hour ranges."""
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {self.time_zone!r}") from error
        if not self.days <= frozenset(range(7)):
            raise ValueError(f"calling days are 0 (Monday) to 6 (Sunday), not {sorted(self.days)}")
        for start, end in self.hours:
            if start.tzinfo is not None or end.tzinfo is not None or not start < end:
                raise ValueError(f"calling hours {start}–{end}: give local start < end")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")


FRENCH_DEFAULTS = CallingRules()


@dataclass(frozen=True)
class Exclusion:
    """Why a contact may not be called now: a stable code, a sentence, when it lifts."""

    code: str
    message: str
    until: datetime | None = None


@dataclass(frozen=True)
class CallFacts:
    """What the calling rules need to know about one contact."""

    has_phone: bool
    audience: str  # "b2c" or "b2b"
    attempts: tuple[datetime, ...]
    last_refusal_at: datetime | None
    on_opposition_list: bool | None  # None: no opposition list was ever imported
    opposition_list_as_of: date | None
    phone_consent: bool | None  # None: the contact never said
    suppressed: str | None  # the suppression reason of the phone number

    def __post_init__(self) -> None:
        """Reject an unknown audience: a typo must not skip the consumer rules."""
        if self.audience not in AUDIENCES:
            raise ValueError(f"audience must be 'b2c' or 'b2b', not {self.audience!r}")


def describe_hours(rules: CallingRules) -> str:
    """The calling hours as text, e.g. "10:00–13:00, 14:00–20:00"."""
    return ", ".join(f"{start:%H:%M}–{end:%H:%M}" for start, end in sorted(rules.hours))


def describe_days(rules: CallingRules) -> str:
    """The calling days as text, e.g. "Monday to Friday" or "Monday and Thursday"."""
    ordered = sorted(rules.days)
    if len(ordered) == 7:
        return "every day"
    names = [DAY_NAMES[day] for day in ordered]
    if len(ordered) >= 3 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{names[0]} to {names[-1]}"
    if len(names) <= 1:
        return names[0] if names else "on no day"
    return f"{', '.join(names[:-1])} and {names[-1]}"


def public_holiday(day: date, rules: CallingRules) -> str | None:
    """The English name of the public holiday on DAY under RULES, or None."""
    if rules.holidays_country is None:
        return None
    return _holidays_of(rules.holidays_country, rules.holidays_subdivision, day.year).get(day)


@lru_cache(maxsize=128)
def _holidays_of(country: str, subdivision: str | None, year: int) -> Mapping[date, str]:
    try:
        found = holidays.country_holidays(country, subdiv=subdivision, years=year, language="en_US")
    except NotImplementedError as error:
        raise ValueError(
            f"no public holidays known for {country} {subdivision}: {error}"
        ) from error
    # Read-only: the cached mapping is shared by every caller.
    return MappingProxyType(dict(found))


def next_window_start(now: datetime, rules: CallingRules) -> datetime:
    """The first instant from NOW (NOW itself if allowed) when calls are allowed, in the zone."""
    local = _local(now, rules)
    if not rules.days or not rules.hours:
        raise ValueError("the calling rules allow no day or no hours: calls are never allowed")
    zone = ZoneInfo(rules.time_zone)
    instant = now.astimezone(UTC)
    for offset in range(_SEARCH_DAYS):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in rules.days or public_holiday(day, rules) is not None:
            continue
        for start, end in _windows_on(day, rules):
            if instant < end:
                return max(instant, start).astimezone(zone)
    raise ValueError("no calling window in the coming year: check the calling days and holidays")


def window_exclusion(now: datetime, rules: CallingRules) -> Exclusion | None:
    """Why no call is allowed at NOW (closed day, public holiday, outside hours), or None."""
    resume = next_window_start(now, rules)
    if resume.astimezone(UTC) == now.astimezone(UTC):
        return None
    local = _local(now, rules)
    day = local.date()
    when = _format_moment(resume, rules)
    if day.weekday() not in rules.days:
        return Exclusion(
            "closed_day",
            f"{DAY_NAMES[day.weekday()]}: calls are allowed {describe_days(rules)}; "
            f"calls resume {when}.",
            resume,
        )
    holiday = public_holiday(day, rules)
    if holiday is not None:
        return Exclusion(
            "public_holiday",
            f"{_format_date(day)} is a public holiday ({holiday}): no calls until {when}.",
            resume,
        )
    return Exclusion(
        "outside_hours",
        f"{local:%H:%M} {rules.time_zone} is outside the calling hours {describe_hours(rules)}; "
        f"calls resume {when}.",
        resume,
    )


def contact_exclusion(facts: CallFacts, now: datetime, rules: CallingRules) -> Exclusion | None:
    """The first reason this contact may not be called at NOW, whatever the hour, or None."""
    local = _local(now, rules)
    for check in _CONTACT_CHECKS:
        found = check(facts, local, rules)
        if found is not None:
            return found
    return None


def call_exclusion(facts: CallFacts, now: datetime, rules: CallingRules) -> Exclusion | None:
    """Why this contact may not be called at NOW: the calling window first, then the contact."""
    return window_exclusion(now, rules) or contact_exclusion(facts, now, rules)


def _no_phone(facts: CallFacts, now: datetime, rules: CallingRules) -> Exclusion | None:
    if facts.has_phone:
        return None
    return Exclusion("no_phone", "The contact has no phone number to call.")


def _suppressed(facts: CallFacts, now: datetime, rules: CallingRules) -> Exclusion | None:
    if facts.suppressed is None:
        return None
    return Exclusion(
        "suppressed",
        f"The phone number is on the suppression list ({facts.suppressed}): it is never called.",
    )


def _consent_withdrawn(facts: CallFacts, now: datetime, rules: CallingRules) -> Exclusion | None:
    # An objection wins over everything else, business contacts included.
    if facts.phone_consent is not False:
        return None
    return Exclusion(
        "phone_consent_withdrawn",
        "The contact objected to phone calls (phone consent withdrawn): they are never called.",
    )


def _opposition_list(facts: CallFacts, now: datetime, rules: CallingRules) -> Exclusion | None:
    # Bloctel protects consumers only; business numbers are not checked against it.
    if facts.audience != "b2c" or facts.on_opposition_list is not True:
        return None
    as_of = facts.opposition_list_as_of
    dated = f" dated {_format_date(as_of)}" if as_of is not None else ""
    return Exclusion(
        "opposition_list",
        f"The phone number is on the opposition list (Bloctel){dated}: "
        "consumers on it are not canvassed.",
    )


def _opposition_outdated(facts: CallFacts, now: datetime, rules: CallingRules) -> Exclusion | None:
    # No list imported at all is not flagged here: there is nothing stale to rely upon.
    if facts.audience != "b2c" or facts.on_opposition_list is None:
        return None
    as_of = facts.opposition_list_as_of
    today = now.date()
    if as_of is not None and today - as_of <= rules.opposition_max_age:
        return None
    age = "of unknown date" if as_of is None else f"dated {_format_date(as_of)}"
    return Exclusion(
        "opposition_list_outdated",
        f"The opposition list is {age}, older than {_format_duration(rules.opposition_max_age)}: "
        f"import a fresh list with `{OPPOSITION_IMPORT_COMMAND}` before calling consumers.",
    )


def phone_consent_required(audience: str, now: datetime, rules: CallingRules) -> bool:
    """Whether calling someone of AUDIENCE at NOW needs their recorded phone consent."""
    start = rules.phone_consent_from
    return audience == "b2c" and start is not None and _local(now, rules).date() >= start


def _consent_required(facts: CallFacts, now: datetime, rules: CallingRules) -> Exclusion | None:
    start = rules.phone_consent_from
    if start is None or not phone_consent_required(facts.audience, now, rules):
        return None
    if facts.phone_consent is True:
        return None
    return Exclusion(
        "phone_consent_required",
        f"Since {_format_day(start)} consumers may be called only with their recorded phone "
        "consent, and this contact has not given it.",
    )


def _refused_recently(facts: CallFacts, now: datetime, rules: CallingRules) -> Exclusion | None:
    if facts.last_refusal_at is None:
        return None
    until = facts.last_refusal_at.astimezone(UTC) + rules.after_refusal
    if now.astimezone(UTC) >= until:
        return None
    local_until = until.astimezone(ZoneInfo(rules.time_zone))
    return Exclusion(
        "refused_recently",
        f"The contact said they were not interested on "
        f"{_format_moment(facts.last_refusal_at, rules)}: no calls for "
        f"{_format_duration(rules.after_refusal)}, until {_format_moment(local_until, rules)}.",
        local_until,
    )


def _too_many_attempts(facts: CallFacts, now: datetime, rules: CallingRules) -> Exclusion | None:
    instant = now.astimezone(UTC)
    since = instant - rules.attempts_window
    counted = sorted(
        attempt
        for attempt in (a.astimezone(UTC) for a in facts.attempts)
        if since < attempt <= instant
    )
    if len(counted) < rules.max_attempts:
        return None
    # Calls resume when enough of the counted attempts have left the window to go below the cap.
    until = counted[len(counted) - rules.max_attempts] + rules.attempts_window
    local_until = until.astimezone(ZoneInfo(rules.time_zone))
    return Exclusion(
        "too_many_attempts",
        f"{len(counted)} call attempts in the last {_format_duration(rules.attempts_window)} "
        f"(at most {rules.max_attempts}): the next attempt is allowed from "
        f"{_format_moment(local_until, rules)}.",
        local_until,
    )


_CONTACT_CHECKS: tuple[Callable[[CallFacts, datetime, CallingRules], Exclusion | None], ...] = (
    _no_phone,
    _suppressed,
    _consent_withdrawn,
    _opposition_list,
    _opposition_outdated,
    _consent_required,
    _refused_recently,
    _too_many_attempts,
)


def _local(moment: datetime, rules: CallingRules) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone: give an aware datetime")
    return moment.astimezone(ZoneInfo(rules.time_zone))


def _windows_on(day: date, rules: CallingRules) -> Iterator[tuple[datetime, datetime]]:
    # Bounds in UTC: comparing datetimes of one zone ignores the DST fold, UTC never lies.
    zone = ZoneInfo(rules.time_zone)
    for start, end in sorted(rules.hours):
        yield (
            datetime.combine(day, start, tzinfo=zone).astimezone(UTC),
            datetime.combine(day, end, tzinfo=zone).astimezone(UTC),
        )


def _format_day(day: date) -> str:
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def _format_date(day: date) -> str:
    return f"{DAY_NAMES[day.weekday()]} {_format_day(day)}"


def _format_moment(moment: datetime, rules: CallingRules) -> str:
    local = _local(moment, rules)
    return f"{_format_date(local.date())} at {local:%H:%M} {rules.time_zone}"


def _format_duration(duration: timedelta) -> str:
    if duration % timedelta(days=1):
        return str(duration)
    return f"{duration.days} days" if duration.days != 1 else "1 day"
