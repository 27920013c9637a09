"""Lift: Wilson and Newcombe intervals against published values, Welch revenue, harm, zeros."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsift.analytics.lift import (
    Difference,
    GroupOutcome,
    Rate,
    lift,
    mean_difference,
    proportion,
    proportion_difference,
    z_score,
)

# The 97.5 % quantile of the standard normal, as printed in tables.
Z_95 = 1.959964


def group(name: str, revenues: list[float], converted: int = 0, visited: int = 0) -> GroupOutcome:
    """A group from per-contact revenues (0 for contacts who spent nothing)."""
    return GroupOutcome(
        name=name,
        contacts=len(revenues),
        converted=converted,
        visited=visited,
        revenue=sum(revenues),
        revenue_sq=sum(amount * amount for amount in revenues),
    )


def counts(name: str, contacts: int, converted: int, visited: int = 0) -> GroupOutcome:
    return GroupOutcome(name, contacts, converted, visited, revenue=0.0, revenue_sq=0.0)


def wilson_by_quadratic(successes: int, total: int, z: float) -> tuple[float, float]:
    """Wilson's bounds as the roots of (p̂ − π)² = z²·π(1 − π)/n, solved by numpy."""
    share = successes / total
    z2_over_n = z * z / total
    roots = np.roots([1.0 + z2_over_n, -(2.0 * share + z2_over_n), share * share])
    low, high = sorted(float(root.real) for root in roots)
    return low, high


def test_z_score_is_the_two_sided_normal_quantile() -> None:
    assert z_score(0.95) == pytest.approx(Z_95, abs=1e-6)
    assert z_score(0.99) == pytest.approx(2.575829, abs=1e-6)
    assert z_score(0.90) == pytest.approx(1.644854, abs=1e-6)
    for bad in (0.0, 1.0, -0.5, 95.0):
        with pytest.raises(ValueError, match="confidence"):
            z_score(bad)


@pytest.mark.parametrize(
    ("successes", "total", "low", "high"),
    [
        # Newcombe (1998a), Statistics in Medicine 17:857-872, Table I, method 3 (score).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe_1998a(successes: int, total: int, low: float, high: float) -> None:
    rate = proportion(successes, total)
    assert rate.value == pytest.approx(successes / total)
    assert rate.low == pytest.approx(low, abs=5e-5)
    assert rate.high == pytest.approx(high, abs=5e-5)


@pytest.mark.parametrize(
    ("successes", "total"), [(1, 1), (3, 7), (50, 100), (999, 1000), (266, 21307), (5, 12)]
)
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_equals_the_roots_of_the_score_equation(
    successes: int, total: int, confidence: float
) -> None:
    rate = proportion(successes, total, confidence)
    low, high = wilson_by_quadratic(successes, total, z_score(confidence))
    assert rate.low == pytest.approx(low, abs=1e-12)
    assert rate.high == pytest.approx(high, abs=1e-12)


def test_wilson_edges_are_exactly_zero_and_one() -> None:
    none_of_seven, all_of_seven = proportion(0, 7), proportion(7, 7)
    assert none_of_seven.high is not None and all_of_seven.low is not None
    assert (none_of_seven.value, none_of_seven.low) == (0.0, 0.0)
    assert (all_of_seven.value, all_of_seven.high) == (1.0, 1.0)
    assert all_of_seven.low == pytest.approx(1.0 - none_of_seven.high)  # symmetric


def test_higher_confidence_gives_a_wider_interval() -> None:
    narrow, wide = proportion(30, 100, 0.90), proportion(30, 100, 0.99)
    assert narrow.low is not None and narrow.high is not None
    assert wide.low is not None and wide.high is not None
    assert wide.low < narrow.low < 0.3 < narrow.high < wide.high


def test_empty_denominator_is_undefined_not_zero() -> None:
    assert proportion(0, 0) == Rate(None, None, None)
    assert proportion_difference(0, 0, 3, 10) == Difference(None, None, None, None)
    assert proportion_difference(3, 10, 0, 0) == Difference(None, None, None, None)


def test_impossible_counts_are_refused() -> None:
    for successes, total in ((5, 4), (-1, 4), (0, -1)):
        with pytest.raises(ValueError, match="successes"):
            proportion(successes, total)
    with pytest.raises(ValueError, match="successes"):
        proportion_difference(1, 2, 3, 2)


@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [
        # Newcombe (1998b), Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score),
        # examples (a), (b) and (d).
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((5, 56), (0, 29), -0.0381, 0.1926),
    ],
)
def test_newcombe_matches_1998b_table_ii(
    a: tuple[int, int], b: tuple[int, int], low: float, high: float
) -> None:
    difference = proportion_difference(*a, *b)
    assert difference.estimate == pytest.approx(a[0] / a[1] - b[0] / b[1])
    assert difference.low == pytest.approx(low, abs=5e-5)
    assert difference.high == pytest.approx(high, abs=5e-5)
    assert difference.significant is (low > 0)


def test_newcombe_is_built_from_the_two_wilson_intervals() -> None:
    a, b = proportion(31, 90), proportion(17, 85)
    assert a.value is not None and a.low is not None and a.high is not None
    assert b.value is not None and b.low is not None and b.high is not None
    estimate = a.value - b.value
    difference = proportion_difference(31, 90, 17, 85)
    assert difference.low == pytest.approx(
        estimate - math.sqrt((a.value - a.low) ** 2 + (b.high - b.value) ** 2)
    )
    assert difference.high == pytest.approx(
        estimate + math.sqrt((a.high - a.value) ** 2 + (b.value - b.low) ** 2)
    )


def test_swapping_groups_mirrors_the_interval() -> None:
    forward = proportion_difference(56, 70, 48, 80)
    backward = proportion_difference(48, 80, 56, 70)
    assert forward.estimate is not None and backward.estimate is not None
    assert forward.low is not None and forward.high is not None
    assert backward.estimate == pytest.approx(-forward.estimate)
    assert backward.low == pytest.approx(-forward.high)
    assert backward.high == pytest.approx(-forward.low)


@given(
    st.integers(min_value=1, max_value=5000).flatmap(
        lambda total: st.tuples(st.integers(0, total), st.just(total))
    ),
    st.integers(min_value=1, max_value=5000).flatmap(
        lambda total: st.tuples(st.integers(0, total), st.just(total))
    ),
)
def test_intervals_hold_their_estimate_and_stay_in_range(
    a: tuple[int, int], b: tuple[int, int]
) -> None:
    rate = proportion(*a)
    assert rate.low is not None and rate.high is not None and rate.value is not None
    assert 0.0 <= rate.low <= rate.value <= rate.high <= 1.0
    difference = proportion_difference(*a, *b)
    assert difference.low is not None and difference.high is not None
    assert difference.estimate is not None
    assert -1.0 - 1e-12 <= difference.low <= difference.estimate <= difference.high <= 1.0 + 1e-12
    assert difference.significant is (difference.low > 0 or difference.high < 0)


def test_mean_difference_is_welch_on_the_sample_variances() -> None:
    treated_revenues = [0.0, 0.0, 10.0, 20.0]
    control_revenues = [0.0, 5.0, 0.0, 0.0, 5.0]
    difference = mean_difference(group("t", treated_revenues), group("c", control_revenues))
    # By hand: means 7.5 and 2; sample variances 275/3 and 7.5.
    standard_error = math.sqrt((275 / 3) / 4 + 7.5 / 5)
    assert difference.estimate == pytest.approx(5.5)
    assert difference.low == pytest.approx(5.5 - Z_95 * standard_error, abs=1e-5)
    assert difference.high == pytest.approx(5.5 + Z_95 * standard_error, abs=1e-5)
    assert difference.significant is False
    # And against numpy on the raw values.
    treated, control = np.array(treated_revenues), np.array(control_revenues)
    numpy_error = math.sqrt(treated.var(ddof=1) / treated.size + control.var(ddof=1) / control.size)
    assert standard_error == pytest.approx(numpy_error)


def test_mean_difference_significant_with_many_contacts() -> None:
    rng = np.random.default_rng(8)
    treated = (rng.random(5000) < 0.1) * rng.gamma(2.0, 50.0, 5000)
    control = (rng.random(5000) < 0.05) * rng.gamma(2.0, 50.0, 5000)
    # numpy scalars in, plain Python values out.
    difference = mean_difference(
        GroupOutcome("t", 5000, 0, 0, treated.sum(), (treated**2).sum()),
        GroupOutcome("c", 5000, 0, 0, control.sum(), (control**2).sum()),
    )
    assert difference.estimate == pytest.approx(treated.mean() - control.mean())
    assert difference.significant is True
    assert type(difference.estimate) is float and type(difference.low) is float
    assert difference.low is not None and difference.low > 0


def test_mean_difference_needs_two_contacts_a_group() -> None:
    undefined = Difference(None, None, None, None)
    assert mean_difference(group("t", [5.0]), group("c", [1.0, 2.0])) == undefined
    assert mean_difference(group("t", [1.0, 2.0]), group("c", [])) == undefined


def test_mean_difference_of_constant_groups_is_a_point() -> None:
    same = mean_difference(group("t", [0.0] * 10), group("c", [0.0] * 10))
    assert same == Difference(0.0, 0.0, 0.0, False)
    # Σx² − n·mean² rounds a hair below 0 for both groups here (about −1e-15): a negative
    # variance would make the square root fail.
    rounded = mean_difference(group("t", [0.7] * 7), group("c", [0.7] * 8))
    assert rounded.estimate == pytest.approx(0.0, abs=1e-12)
    assert rounded.low == rounded.estimate == rounded.high
    assert rounded.significant is not None


def test_group_outcome_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="converted"):
        GroupOutcome("t", 10, 11, 0, 0.0, 0.0)
    with pytest.raises(ValueError, match="visited"):
        GroupOutcome("t", 10, 1, -1, 0.0, 0.0)
    with pytest.raises(ValueError, match="contacts"):
        GroupOutcome("t", -1, 0, 0, 0.0, 0.0)
    with pytest.raises(ValueError, match="revenue_sq"):
        GroupOutcome("t", 10, 0, 0, 0.0, -1.0)


def test_hillstrom_like_conversion_lift() -> None:
    result = lift(counts("mens e-mail", 21307, 266), counts("no e-mail", 21306, 122))
    assert result.treated_conversion.value == pytest.approx(266 / 21307)
    assert result.control_conversion.value == pytest.approx(122 / 21306)
    assert result.conversion_lift.estimate == pytest.approx(0.0068, abs=1e-4)
    assert result.conversion_lift.significant is True
    assert result.conversion_lift.low is not None and result.conversion_lift.high is not None
    assert 0.004 < result.conversion_lift.low < 0.0068 < result.conversion_lift.high < 0.0095
    assert result.incremental_conversions == pytest.approx(21307 * (266 / 21307 - 122 / 21306))
    assert result.relative_conversion_lift == pytest.approx((266 / 21307) / (122 / 21306) - 1)
    assert result.harmful is False
    assert result.confidence == 0.95


def test_full_lift_with_visits_and_revenue() -> None:
    treated = group("t", [0.0] * 90 + [50.0] * 10, converted=10, visited=40)
    control = group("c", [0.0] * 95 + [50.0] * 5, converted=5, visited=20)
    result = lift(treated, control)
    assert result.visit_lift == proportion_difference(40, 100, 20, 100)
    assert result.visit_lift.significant is True
    assert result.revenue_per_contact_lift == mean_difference(treated, control)
    assert result.revenue_per_contact_lift.estimate == pytest.approx(2.5)
    assert result.incremental_revenue == pytest.approx(250.0)
    assert result.incremental_conversions == pytest.approx(5.0)
    assert result.relative_conversion_lift == pytest.approx(1.0)


def test_negative_lift_is_harmful() -> None:
    result = lift(counts("t", 5000, 100), counts("c", 5000, 200))
    assert result.conversion_lift.high is not None and result.conversion_lift.high < 0
    assert result.conversion_lift.significant is True
    assert result.harmful is True
    assert result.relative_conversion_lift == pytest.approx(-0.5)


def test_revenue_loss_alone_is_harmful() -> None:
    # Same conversions, but the treated (a discount code, say) spend much less.
    treated = group("t", [0.0] * 800 + [10.0] * 200, converted=200)
    control = group("c", [0.0] * 800 + [30.0] * 200, converted=200)
    result = lift(treated, control)
    assert result.conversion_lift.significant is False
    assert result.revenue_per_contact_lift.high is not None
    assert result.revenue_per_contact_lift.high < 0
    assert result.harmful is True


def test_insignificant_negative_lift_is_not_harmful() -> None:
    result = lift(counts("t", 200, 9), counts("c", 200, 10))
    assert result.conversion_lift.estimate is not None and result.conversion_lift.estimate < 0
    assert result.conversion_lift.significant is False
    assert result.harmful is False


def test_empty_groups_are_undefined_never_division_by_zero() -> None:
    result = lift(counts("t", 0, 0), counts("c", 0, 0))
    assert result.treated_conversion == Rate(None, None, None)
    assert result.conversion_lift == Difference(None, None, None, None)
    assert result.visit_lift == Difference(None, None, None, None)
    assert result.revenue_per_contact_lift == Difference(None, None, None, None)
    assert result.incremental_conversions is None
    assert result.incremental_revenue is None
    assert result.relative_conversion_lift is None
    assert result.harmful is False


def test_relative_lift_undefined_when_control_never_converts() -> None:
    result = lift(counts("t", 100, 5), counts("c", 100, 0))
    assert result.control_conversion.value == 0.0
    assert result.relative_conversion_lift is None
    assert result.conversion_lift.estimate == pytest.approx(0.05)
