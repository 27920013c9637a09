"""Lift of a treated group over a control group, with confidence intervals; pure.

A rate gets Wilson's score interval; a difference of rates gets Newcombe's hybrid score
interval (method 10 of Newcombe 1998, built from the two Wilson intervals); a difference of
revenue per contact gets Welch's unequal-variance normal-approximation interval. A value whose
denominator is empty is undefined (None), never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class GroupOutcome:
    """What one group (treated or control) did: contacts, converters, visitors and revenue."""

    name: str
    contacts: int
    converted: int
    visited: int
    revenue: float
    revenue_sq: float

    def __post_init__(self) -> None:
        if self.contacts < 0:
            raise ValueError(f"{self.name}: contacts cannot be negative ({self.contacts})")
        for label, count in (("converted", self.converted), ("visited", self.visited)):
            if not 0 <= count <= self.contacts:
                raise ValueError(
                    f"{self.name}: {label} must be between 0 and contacts "
                    f"({count} of {self.contacts})"
                )
        if self.revenue_sq < 0:
            raise ValueError(f"{self.name}: revenue_sq cannot be negative ({self.revenue_sq})")


@dataclass(frozen=True)
class Rate:
    """A proportion with its Wilson interval; all None when the denominator is 0."""

    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Difference:
    """An estimate (treated − control) with its interval and whether the interval excludes 0."""

    estimate: float | None
    low: float | None
    high: float | None
    significant: bool | None


UNDEFINED_RATE = Rate(None, None, None)
UNDEFINED_DIFFERENCE = Difference(None, None, None, None)


@dataclass(frozen=True)
class Lift:
    """Treated against control: rates, differences with intervals and the increments."""

    treated: GroupOutcome
    control: GroupOutcome
    treated_conversion: Rate
    control_conversion: Rate
    conversion_lift: Difference
    visit_lift: Difference
    revenue_per_contact_lift: Difference
    incremental_conversions: float | None
    incremental_revenue: float | None
    relative_conversion_lift: float | None
    harmful: bool
    confidence: float


def z_score(confidence: float) -> float:
    """The two-sided standard normal quantile for a confidence level (1.959964 for 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _check_counts(successes: int, total: int) -> None:
    if total < 0 or not 0 <= successes <= total:
        raise ValueError(f"successes must be between 0 and total ({successes} of {total})")


def _wilson_bounds(successes: int, total: int, z: float) -> tuple[float, float]:
    share = successes / total
    z2_over_n = z * z / total
    centre = (share + z2_over_n / 2.0) / (1.0 + z2_over_n)
    half_width = (z * math.sqrt(share * (1.0 - share) / total + z2_over_n / (4.0 * total))) / (
        1.0 + z2_over_n
    )
    # At 0 % and 100 % the bound is exactly 0 or 1; rounding would leave a hair outside.
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == total else min(1.0, centre + half_width)
    return low, high


def proportion(successes: int, total: int, confidence: float = 0.95) -> Rate:
    """successes / total with its Wilson score interval; undefined when total is 0."""
    z = z_score(confidence)
    _check_counts(successes, total)
    if total == 0:
        return UNDEFINED_RATE
    low, high = _wilson_bounds(successes, total, z)
    return Rate(successes / total, low, high)


def _difference(estimate: float, low: float, high: float) -> Difference:
    # Plain floats and bools out, even when the caller's sums were numpy scalars.
    return Difference(float(estimate), float(low), float(high), bool(low > 0.0 or high < 0.0))


def proportion_difference(
    a_successes: int,
    a_total: int,
    b_successes: int,
    b_total: int,
    confidence: float = 0.95,
) -> Difference:
    """Rate a − rate b with Newcombe's hybrid score interval; undefined when a total is 0."""
    z = z_score(confidence)
    _check_counts(a_successes, a_total)
    _check_counts(b_successes, b_total)
    if a_total == 0 or b_total == 0:
        return UNDEFINED_DIFFERENCE
    rate_a, rate_b = a_successes / a_total, b_successes / b_total
    low_a, high_a = _wilson_bounds(a_successes, a_total, z)
    low_b, high_b = _wilson_bounds(b_successes, b_total, z)
    estimate = rate_a - rate_b
    return _difference(
        estimate,
        estimate - math.hypot(rate_a - low_a, high_b - rate_b),
        estimate + math.hypot(high_a - rate_a, rate_b - low_b),
    )


def _mean_and_variance(group: GroupOutcome) -> tuple[float, float]:
    mean = group.revenue / group.contacts
    # Σx² − n·mean² can come out a hair below 0 through rounding when every value is equal.
    variance = max(0.0, (group.revenue_sq - group.contacts * mean * mean) / (group.contacts - 1))
    return mean, variance


def mean_difference(a: GroupOutcome, b: GroupOutcome, confidence: float = 0.95) -> Difference:
    """Revenue per contact a − b with a Welch normal interval; undefined under 2 contacts."""
    z = z_score(confidence)
    if a.contacts < 2 or b.contacts < 2:
        return UNDEFINED_DIFFERENCE
    mean_a, variance_a = _mean_and_variance(a)
    mean_b, variance_b = _mean_and_variance(b)
    estimate = mean_a - mean_b
    margin = z * math.sqrt(variance_a / a.contacts + variance_b / b.contacts)
    return _difference(estimate, estimate - margin, estimate + margin)


def _per_treated_contact(estimate: float | None, contacts: int) -> float | None:
    return None if estimate is None else estimate * contacts


def _relative(treated_rate: float | None, control_rate: float | None) -> float | None:
    if treated_rate is None or control_rate is None or control_rate == 0.0:
        return None
    return treated_rate / control_rate - 1.0


def _entirely_negative(difference: Difference) -> bool:
    return difference.high is not None and difference.high < 0.0


def lift(treated: GroupOutcome, control: GroupOutcome, confidence: float = 0.95) -> Lift:
    """Compare a treated group with its control: conversion, visits and revenue per contact."""
    treated_conversion = proportion(treated.converted, treated.contacts, confidence)
    control_conversion = proportion(control.converted, control.contacts, confidence)
    conversion_lift = proportion_difference(
        treated.converted, treated.contacts, control.converted, control.contacts, confidence
    )
    visit_lift = proportion_difference(
        treated.visited, treated.contacts, control.visited, control.contacts, confidence
    )
    revenue_lift = mean_difference(treated, control, confidence)
    return Lift(
        treated=treated,
        control=control,
        treated_conversion=treated_conversion,
        control_conversion=control_conversion,
        conversion_lift=conversion_lift,
        visit_lift=visit_lift,
        revenue_per_contact_lift=revenue_lift,
        incremental_conversions=_per_treated_contact(conversion_lift.estimate, treated.contacts),
        incremental_revenue=_per_treated_contact(revenue_lift.estimate, treated.contacts),
        relative_conversion_lift=_relative(treated_conversion.value, control_conversion.value),
        # Contacting this segment does measurably worse than leaving it alone.
        harmful=_entirely_negative(conversion_lift) or _entirely_negative(revenue_lift),
        confidence=confidence,
    )
