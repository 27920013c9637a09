"""The playbook document of DESIGN §3 as frozen pydantic models, and its canonical form; pure."""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import date, timedelta
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    StrictInt,
    model_validator,
)
from pydantic_core import PydanticCustomError

from leadsift.kit.durations import format_duration, parse_duration

MAX_NAME_LENGTH: Final[int] = 200
# Far beyond any useful score, well inside a 32-bit column.
MAX_POINTS: Final[int] = 1_000_000
_EVENT_NAME = re.compile(r"[a-z][a-z0-9_]*")
_CURRENCY = re.compile(r"[A-Z]{3}")


def problem(message: str) -> PydanticCustomError:
    """A validation error whose text reaches the user unchanged (no pydantic wording)."""
    # The message travels as context: a template would try to format braces in user values.
    return PydanticCustomError("playbook", "{message}", {"message": message})


def describe(value: object) -> str:
    """A short, YAML-flavoured rendering of a value for 'got …' in messages."""
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:39] + "…"
        return f"'{shown}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return _shape(value)


def _shape(value: object) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    # YAML turns 2025-01-31 into a date; say what was read.
    return f"a {type(value).__name__} ({value})"


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise problem(f"expected {what}, got {describe(value)}")
    text = value.strip()
    if not text:
        raise problem(f"{what} must not be empty")
    return text


def _criteria(value: object) -> str:
    return _text(value, "criteria text")


def _name(value: object) -> str:
    text = _text(value, "a name")
    if len(text) > MAX_NAME_LENGTH:
        raise problem(f"a name has at most {MAX_NAME_LENGTH} characters, got {len(text)}")
    return text


def _label(value: object) -> str:
    return _text(value, "a label")


def _duration(value: object) -> timedelta:
    parsed = parse_duration(value) if isinstance(value, str) else None
    if parsed is None:
        raise problem(f"expected a duration such as '30d', '12h' or '2w', got {describe(value)}")
    if not parsed:
        raise problem("a duration must be longer than zero")
    return parsed


def _region(value: object) -> str:
    if value is False:
        # YAML 1.1 reads a bare NO (Norway) as false.
        raise problem("expected a region code, got false: write 'NO' in quotes for Norway")
    if not isinstance(value, str) or value.strip().upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise problem(
            "expected a two-letter country code (ISO 3166) such as FR, BE or CH, "
            f"got {describe(value)}"
        )
    return value.strip().upper()


def _currency(value: object) -> str:
    if not isinstance(value, str) or _CURRENCY.fullmatch(value.strip()) is None:
        raise problem(
            f"expected a currency code of 3 upper-case letters such as EUR, got {describe(value)}"
        )
    return value.strip()


def _event(value: object) -> str:
    if not isinstance(value, str) or _EVENT_NAME.fullmatch(value) is None:
        raise problem(
            "expected an event name in lower case (letters, digits, '_') such as "
            f"page_view, got {describe(value)}"
        )
    return value


def _points(value: int) -> int:
    if abs(value) > MAX_POINTS:
        raise problem(f"points must be between -{MAX_POINTS} and {MAX_POINTS}, got {value}")
    return value


def _non_zero(value: int) -> int:
    if value == 0:
        raise problem("points must not be zero (remove the rule instead)")
    return _points(value)


def _positive(value: int) -> int:
    if value <= 0:
        raise problem(f"a cap must be a positive number of points, got {value}")
    return _points(value)


def _none_is_empty(value: object) -> object:
    # `fit:` with every rule commented out reads as null; that means no rules.
    return () if value is None else value


Criteria = Annotated[str, PlainValidator(_criteria)]
Duration = Annotated[
    timedelta,
    PlainValidator(_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]


def _some_rules(rules: tuple[InterestRule, ...]) -> tuple[InterestRule, ...]:
    if not rules:
        raise problem("expected at least one rule (remove the interest section instead)")
    return rules


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FitRule(_Document):
    """Points given once to a contact whose profile matches `when` (never decay)."""

    when: Criteria
    points: Annotated[StrictInt, AfterValidator(_non_zero)]
    label: Annotated[str, PlainValidator(_label)] | None = None


class InterestRule(_Document):
    """Points per matching event, optionally filtered by `where` and capped."""

    event: Annotated[str, PlainValidator(_event)]
    where: Criteria | None = None
    points: Annotated[StrictInt, AfterValidator(_points)]
    cap: Annotated[StrictInt, AfterValidator(_positive)] | None = None


class InterestPolicy(_Document):
    """How events turn into interest points, with time decay."""

    half_life: Duration
    rules: Annotated[tuple[InterestRule, ...], AfterValidator(_some_rules)]


def _amount(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise problem(f"expected an amount such as 250 or 4.5, got {describe(value)}")
    if value < 0:
        raise problem(f"an amount must not be negative, got {value}")
    return float(value)


Amount = Annotated[float, PlainValidator(_amount)]


class ValuePolicy(_Document):
    """What a conversion is worth and what the next action costs, in the playbook's currency.

    priority = probability × deal − cost of the next action: a call for a qualified prospect
    (an agent's time), a message for anyone else. The defaults suit a small consumer offer.
    """

    deal: Amount = 100.0
    call_cost: Amount = 5.0
    message_cost: Amount = 0.05


_HANDLE = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


def _handle(value: object) -> str:
    if not isinstance(value, str) or _HANDLE.fullmatch(value.strip().lower()) is None:
        raise problem(
            f"expected a user or team name such as 'alice' or 'lyon-east', got {describe(value)}"
        )
    return value.strip().lower()


Handle = Annotated[str, PlainValidator(_handle)]


def _weight(value: int) -> int:
    if not 1 <= value <= 100:
        raise problem(f"a weight is a whole number from 1 to 100, got {value}")
    return value


class RoundRobin(_Document):
    """Deal prospects in turn to USERS (or a team's members), by weight, up to a capacity."""

    users: tuple[Handle, ...] = ()
    team: Handle | None = None
    # Per user; users not listed keep their own weight (`leadsift user update --weight`).
    weights: dict[Handle, Annotated[StrictInt, AfterValidator(_weight)]] = {}
    # The most open prospects each may hold; None: each user's own capacity, if any.
    capacity: Annotated[StrictInt, AfterValidator(_positive)] | None = None

    @model_validator(mode="after")
    def _one_pool(self) -> RoundRobin:
        if bool(self.users) == (self.team is not None):
            raise problem("a round robin names either `users: [...]` or `team: NAME`")
        return self


class AssignTo(_Document):
    """Where a prospect goes: one user, a team's shared queue, or a round robin."""

    user: Handle | None = None
    team: Handle | None = None
    round_robin: RoundRobin | None = None

    @model_validator(mode="after")
    def _one_target(self) -> AssignTo:
        given = [self.user is not None, self.team is not None, self.round_robin is not None]
        if sum(given) != 1:
            raise problem("give exactly one of `user`, `team` or `round_robin`")
        return self


class AssignmentRule(AssignTo):
    """Prospects matching `when` go to the rule's target (first matching rule wins)."""

    when: Criteria


class AssignmentPolicy(_Document):
    """Who works newly qualified prospects, and how fast they must be contacted."""

    rules: tuple[AssignmentRule, ...] = ()
    default: AssignTo | None = None
    # Speed to lead: prospects waiting longer than this for a first touch are flagged.
    sla: Duration = timedelta(hours=1)


_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")


def _day(value: object) -> str:
    if not isinstance(value, str) or value.strip().lower()[:3] not in _DAYS:
        raise problem(f"expected a day such as mon, tue … sun, got {describe(value)}")
    return value.strip().lower()[:3]


def _hours(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    found = _HOURS.fullmatch(text.replace(" ", ""))
    if found is None or found.group(1, 2) >= found.group(3, 4):
        raise problem(
            f"expected hours such as '10:00-13:00' (start before end), got {describe(value)}"
        )
    return text.replace(" ", "")


def _time_zone(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    try:
        ZoneInfo(text)
    except (ValueError, ZoneInfoNotFoundError):
        raise problem(f"expected a time zone such as Europe/Paris, got {describe(value)}") from None
    return text


def _some_days(days: tuple[str, ...]) -> tuple[str, ...]:
    if not days:
        raise problem("give at least one calling day, e.g. [mon, tue, wed, thu, fri]")
    return days


def _attempts(value: int) -> int:
    if not 1 <= value <= 100:
        raise problem(f"max_attempts is a whole number from 1 to 100, got {value}")
    return value


class CallingPolicy(_Document):
    """When and how often people may be called (French rules by default)."""

    time_zone: Annotated[str, PlainValidator(_time_zone)] = "Europe/Paris"
    days: Annotated[
        tuple[Annotated[str, PlainValidator(_day)], ...], AfterValidator(_some_days)
    ] = _DAYS[:5]
    hours: tuple[Annotated[str, PlainValidator(_hours)], ...] = ("10:00-13:00", "14:00-20:00")
    # Public holidays of this country (and subdivision, e.g. FR + "57" for Moselle); null: none.
    holidays: Annotated[str, PlainValidator(_region)] | None = "FR"
    holidays_subdivision: str | None = None
    max_attempts: Annotated[StrictInt, AfterValidator(_attempts)] = 4
    attempts_window: Duration = timedelta(days=30)
    after_refusal: Duration = timedelta(days=60)
    opposition_max_age: Duration = timedelta(days=30)
    # Consumer calls need recorded phone consent from this date (French law); null: never.
    phone_consent_from: date | None = date(2026, 8, 11)
    # Who the contacts are: consumers (b2c) or businesses (b2b, no opposition list or consent).
    audience: Literal["b2c", "b2b"] = "b2c"
    # What the agent says, by language (Jinja2 with the contact's fields).
    script: dict[Literal["fr", "en"], Annotated[str, PlainValidator(_label)]] = {}

    @model_validator(mode="after")
    def _known_holidays(self) -> CallingPolicy:
        if self.holidays is None:
            return self
        try:
            holidays.country_holidays(self.holidays, subdiv=self.holidays_subdivision, years=2026)
        except NotImplementedError:
            raise problem(
                f"no public holidays known for the country {self.holidays} "
                f"(subdivision {self.holidays_subdivision!r}): write `holidays: null` to call on "
                "every listed day, or fix the code"
            ) from None
        return self


class Playbook(_Document):
    """A validated playbook: who the offer is for and how interest is recognised."""

    name: Annotated[str, PlainValidator(_name)]
    locale: Literal["fr", "en"] = "fr"
    default_region: Annotated[str, PlainValidator(_region)] = "FR"
    currency: Annotated[str, PlainValidator(_currency)] = "EUR"
    eligibility: Criteria
    fit: Annotated[tuple[FitRule, ...], BeforeValidator(_none_is_empty)] = ()
    interest: InterestPolicy | None = None
    qualify: Criteria | None = None
    recycle_after: Duration | None = None
    value: ValuePolicy = ValuePolicy()
    assignment: AssignmentPolicy | None = None
    calling: CallingPolicy | None = None

    def canonical(self) -> dict[str, Any]:
        """Every key in document order, defaults filled in, durations as text; JSON-able."""
        document = self.model_dump(mode="json")
        # Sections added later stay out of playbooks without them, so their fingerprints hold.
        for key in ("assignment", "calling"):
            if document[key] is None:
                del document[key]
        return document

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON: equal for playbooks that mean the same thing."""
        text = json.dumps(
            self.canonical(), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
