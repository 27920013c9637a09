"""The playbook document of DESIGN §3 as frozen pydantic models, and its canonical form; pure."""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import timedelta
from typing import Annotated, Any, Final, Literal

import phonenumbers
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    StrictInt,
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

    def canonical(self) -> dict[str, Any]:
        """Every key in document order, defaults filled in, durations as text; JSON-able."""
        return self.model_dump(mode="json")

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON: equal for playbooks that mean the same thing."""
        text = json.dumps(
            self.canonical(), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
