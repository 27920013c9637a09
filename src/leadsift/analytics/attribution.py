"""Attribution: how much of each conversion every touch before it earns, under five models; pure.

A conversion's eligible touches are those at or before it and no older than the lookback
window, taken in time order (touches at the same moment keep their input order). Every eligible
touch appears in `credits`, with a share of 0 when the model gives it nothing; the shares sum
to 1. A conversion with no eligible touch is credited in full to the key "(none)", so every
model's totals equal the number of conversions and their revenue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MODELS = ("first_touch", "last_touch", "linear", "position_based", "time_decay")
NO_TOUCH_KEY = "(none)"
DEFAULT_LOOKBACK = timedelta(days=30)
DEFAULT_HALF_LIFE = timedelta(days=7)
# Position-based: the first and the last touch each get this share, the middle ones the rest.
POSITION_END_SHARE = 0.4


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {moment.isoformat()}")


@dataclass(frozen=True)
class Touch:
    """One touch of a contact (a campaign message, a visit's source) and what gets credit."""

    key: str
    at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.at, f"touch {self.key!r}")


@dataclass(frozen=True)
class Conversion:
    """A contact's conversion with its value and all that contact's touches."""

    contact_id: int
    at: datetime
    value: float
    touches: tuple[Touch, ...]

    def __post_init__(self) -> None:
        _require_aware(self.at, f"conversion of contact {self.contact_id}")


@dataclass(frozen=True)
class AttributionRow:
    """One key's credit under one model: fractional conversions, revenue and credited touches."""

    key: str
    conversions: float
    value: float
    touches: int


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown attribution model {model!r}; use one of: {', '.join(MODELS)}")


def eligible_touches(conversion: Conversion, lookback: timedelta) -> list[Touch]:
    """The touches at or before the conversion and within the lookback, oldest first."""
    if lookback < timedelta(0):
        raise ValueError(f"lookback cannot be negative ({lookback})")
    earliest = conversion.at - lookback
    kept = [touch for touch in conversion.touches if earliest <= touch.at <= conversion.at]
    # sorted() is stable: touches at the same moment keep their input order.
    return sorted(kept, key=lambda touch: touch.at)


def _first_touch(count: int) -> list[float]:
    return [1.0] + [0.0] * (count - 1)


def _last_touch(count: int) -> list[float]:
    return [0.0] * (count - 1) + [1.0]


def _linear(count: int) -> list[float]:
    return [1.0 / count] * count


def _position_based(count: int) -> list[float]:
    if count <= 2:
        return _linear(count)
    middle = (1.0 - 2 * POSITION_END_SHARE) / (count - 2)
    return [POSITION_END_SHARE] + [middle] * (count - 2) + [POSITION_END_SHARE]


def _time_decay(touches: Sequence[Touch], at: datetime, half_life: timedelta) -> list[float]:
    # Ages are measured from the newest touch (the ratio is the same) so that the newest weighs
    # 1 and the total cannot underflow to 0 when every touch is many half-lives old.
    newest_age = at - touches[-1].at
    weights = [2.0 ** -((at - touch.at - newest_age) / half_life) for touch in touches]
    total = sum(weights)
    return [weight / total for weight in weights]


_BY_POSITION: dict[str, Callable[[int], list[float]]] = {
    "first_touch": _first_touch,
    "last_touch": _last_touch,
    "linear": _linear,
    "position_based": _position_based,
}


def credits(
    conversion: Conversion,
    model: str,
    *,
    lookback: timedelta = DEFAULT_LOOKBACK,
    half_life: timedelta = DEFAULT_HALF_LIFE,
) -> list[tuple[Touch, float]]:
    """Each eligible touch, oldest first, with its share of the conversion (summing to 1)."""
    _check_model(model)
    if half_life <= timedelta(0):
        raise ValueError(f"half_life must be positive ({half_life})")
    touches = eligible_touches(conversion, lookback)
    if not touches:
        return []
    if model == "time_decay":
        shares = _time_decay(touches, conversion.at, half_life)
    else:
        shares = _BY_POSITION[model](len(touches))
    return list(zip(touches, shares, strict=True))


@dataclass
class _Tally:
    conversions: float = 0.0
    value: float = 0.0
    touches: int = 0


def _tally_conversion(
    tallies: dict[str, _Tally], conversion: Conversion, shares: list[tuple[Touch, float]]
) -> None:
    if not shares:
        tally = tallies.setdefault(NO_TOUCH_KEY, _Tally())
        tally.conversions += 1.0
        tally.value += conversion.value
        return
    for touch, share in shares:
        if share <= 0.0:
            continue
        tally = tallies.setdefault(touch.key, _Tally())
        tally.conversions += share
        tally.value += share * conversion.value
        tally.touches += 1


def _rows(tallies: dict[str, _Tally]) -> dict[str, AttributionRow]:
    ordered = sorted(
        tallies.items(), key=lambda item: (-item[1].conversions, -item[1].value, item[0])
    )
    return {
        key: AttributionRow(key, tally.conversions, tally.value, tally.touches)
        for key, tally in ordered
    }


def attribute(
    conversions: Iterable[Conversion],
    models: Sequence[str] = MODELS,
    *,
    lookback: timedelta = DEFAULT_LOOKBACK,
    half_life: timedelta = DEFAULT_HALF_LIFE,
) -> dict[str, dict[str, AttributionRow]]:
    """Model → key → credited conversions and revenue, the most credited keys first."""
    for model in models:
        _check_model(model)
    tallies: dict[str, dict[str, _Tally]] = {model: {} for model in models}
    for conversion in conversions:
        for model in models:
            shares = credits(conversion, model, lookback=lookback, half_life=half_life)
            _tally_conversion(tallies[model], conversion, shares)
    return {model: _rows(by_key) for model, by_key in tallies.items()}
