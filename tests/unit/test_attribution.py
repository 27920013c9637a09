"""Attribution: every model's shares on known paths, the window, ties and the totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadsift.analytics.attribution import (
    MODELS,
    NO_TOUCH_KEY,
    AttributionRow,
    Conversion,
    Touch,
    attribute,
    credits,
    eligible_touches,
)

AT = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def touch(key: str, days_before: float) -> Touch:
    return Touch(key, AT - days_before * DAY)


def conversion(*touches: Touch, value: float = 100.0, contact_id: int = 1) -> Conversion:
    return Conversion(contact_id=contact_id, at=AT, value=value, touches=touches)


# Four touches 21, 14, 7 and 0 days before the conversion, given out of order.
PATH = conversion(touch("c", 7), touch("a", 21), touch("d", 0), touch("b", 14))


def shares(
    model: str, converted: Conversion = PATH, **options: timedelta
) -> list[tuple[str, float]]:
    return [(item.key, share) for item, share in credits(converted, model, **options)]


def test_the_five_models() -> None:
    assert MODELS == ("first_touch", "last_touch", "linear", "position_based", "time_decay")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("first_touch", [1.0, 0.0, 0.0, 0.0]),
        ("last_touch", [0.0, 0.0, 0.0, 1.0]),
        ("linear", [0.25, 0.25, 0.25, 0.25]),
        ("position_based", [0.4, 0.1, 0.1, 0.4]),
        # Weights 2^-3, 2^-2, 2^-1, 2^0 = 1/8, 2/8, 4/8, 8/8 of a total of 15/8.
        ("time_decay", [1 / 15, 2 / 15, 4 / 15, 8 / 15]),
    ],
)
def test_four_touch_path_by_hand(model: str, expected: list[float]) -> None:
    got = shares(model)
    assert [key for key, _ in got] == ["a", "b", "c", "d"]
    assert [share for _, share in got] == pytest.approx(expected, abs=1e-12)
    assert sum(share for _, share in got) == pytest.approx(1.0, abs=1e-12)


def test_time_decay_halves_the_weight_every_half_life() -> None:
    got = shares("time_decay", conversion(touch("old", 7), touch("now", 0)))
    assert [key for key, _ in got] == ["old", "now"]
    assert got[0][1] == pytest.approx(got[1][1] / 2)
    assert [share for _, share in got] == pytest.approx([1 / 3, 2 / 3])
    # The same with another half-life: 3 days before, half-life 3 days.
    other = shares(
        "time_decay", conversion(touch("old", 3), touch("now", 0)), half_life=timedelta(days=3)
    )
    assert other[0][1] == pytest.approx(other[1][1] / 2)


def test_time_decay_survives_touches_many_half_lives_old() -> None:
    # 2^-(29 days / 1 minute) underflows to 0 for every touch; the shares must still sum to 1.
    old = conversion(touch("x", 29), touch("y", 28))
    got = shares("time_decay", old, half_life=timedelta(minutes=1))
    assert got == [("x", 0.0), ("y", 1.0)]


def test_position_based_with_three_and_five_touches() -> None:
    three = conversion(touch("a", 3), touch("b", 2), touch("c", 1))
    assert [share for _, share in shares("position_based", three)] == pytest.approx([0.4, 0.2, 0.4])
    five = conversion(*(touch(str(n), 5 - n) for n in range(5)))
    assert [share for _, share in shares("position_based", five)] == pytest.approx(
        [0.4, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.4]
    )


@pytest.mark.parametrize("model", MODELS)
def test_two_touches_and_one_touch(model: str) -> None:
    single = shares(model, conversion(touch("only", 3)))
    assert single == [("only", 1.0)]
    pair = [share for _, share in shares(model, conversion(touch("a", 2), touch("b", 1)))]
    expected = {
        "first_touch": [1.0, 0.0],
        "last_touch": [0.0, 1.0],
        "linear": [0.5, 0.5],
        "position_based": [0.5, 0.5],
        "time_decay": [2 ** (-1 / 7) / (1 + 2 ** (-1 / 7)), 1 / (1 + 2 ** (-1 / 7))],
    }[model]
    assert pair == pytest.approx(expected)


@pytest.mark.parametrize("model", MODELS)
def test_no_touch_no_credits(model: str) -> None:
    assert credits(conversion(), model) == []


def test_lookback_excludes_older_touches_and_keeps_the_boundary() -> None:
    path = conversion(touch("too old", 31), touch("boundary", 30), touch("recent", 2))
    assert [key for key, _ in shares("linear", path)] == ["boundary", "recent"]
    short = shares("first_touch", path, lookback=timedelta(days=7))
    assert short == [("recent", 1.0)]
    assert credits(path, "linear", lookback=timedelta(days=1)) == []


def test_touches_after_the_conversion_are_ignored() -> None:
    path = conversion(touch("before", 1), touch("same moment", 0), touch("after", -0.001))
    assert shares("last_touch", path) == [("before", 0.0), ("same moment", 1.0)]
    assert [key for key in (t.key for t in eligible_touches(path, timedelta(days=30)))] == [
        "before",
        "same moment",
    ]


def test_simultaneous_touches_keep_their_input_order() -> None:
    first = Touch("first given", AT - DAY)
    second = Touch("second given", AT - DAY)
    assert shares("first_touch", conversion(first, second))[0] == ("first given", 1.0)
    assert shares("first_touch", conversion(second, first))[0] == ("second given", 1.0)
    assert shares("last_touch", conversion(first, second))[-1] == ("second given", 1.0)


def test_unknown_model_names_the_five() -> None:
    with pytest.raises(ValueError, match="first_touch, last_touch, linear") as raised:
        credits(PATH, "u_shaped")
    assert all(model in str(raised.value) for model in MODELS)
    with pytest.raises(ValueError, match="time_decay"):
        attribute([], ["linear", "markov"])


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="half_life"):
        credits(PATH, "time_decay", half_life=timedelta(0))
    with pytest.raises(ValueError, match="lookback"):
        credits(PATH, "linear", lookback=-DAY)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Touch("a", datetime(2026, 5, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        Conversion(1, datetime(2026, 5, 1), 0.0, ())  # noqa: DTZ001


def test_other_time_zones_compare_by_instant() -> None:
    paris = timezone(timedelta(hours=2))
    # 13:00 in Paris is 11:00 UTC: one hour before the conversion, not after it.
    local = Touch("paris", datetime(2026, 5, 20, 13, 0, tzinfo=paris))
    assert shares("last_touch", conversion(touch("utc", 2), local)) == [
        ("utc", 0.0),
        ("paris", 1.0),
    ]


def test_attribute_rows_by_model_and_key() -> None:
    conversions = [
        conversion(touch("email", 10), touch("ads", 5), touch("email", 1), value=90.0),
        conversion(touch("ads", 3), value=30.0, contact_id=2),
        conversion(touch("ads", 40), value=12.0, contact_id=3),  # outside the lookback
    ]
    report = attribute(conversions)
    assert set(report) == set(MODELS)
    assert report["first_touch"] == {
        "email": AttributionRow("email", 1.0, 90.0, 1),
        "ads": AttributionRow("ads", 1.0, 30.0, 1),
        NO_TOUCH_KEY: AttributionRow(NO_TOUCH_KEY, 1.0, 12.0, 0),
    }
    linear = report["linear"]
    assert (linear["email"].key, linear["email"].touches) == ("email", 2)
    assert (linear["email"].conversions, linear["email"].value) == pytest.approx((2 / 3, 60.0))
    assert (linear["ads"].key, linear["ads"].touches) == ("ads", 2)
    assert (linear["ads"].conversions, linear["ads"].value) == pytest.approx((4 / 3, 60.0))
    # The most credited keys come first.
    assert list(linear) == ["ads", NO_TOUCH_KEY, "email"]
    # Only touches that got credit count: first touch credits one of the two e-mails.
    assert report["last_touch"]["email"].touches == 1
    assert report["position_based"]["email"].touches == 2


def test_attribute_with_chosen_models_and_options() -> None:
    report = attribute([PATH], ["first_touch"], lookback=timedelta(days=10))
    assert report == {"first_touch": {"c": AttributionRow("c", 1.0, 100.0, 1)}}
    decayed = attribute([PATH], ["time_decay"], half_life=timedelta(days=14))["time_decay"]
    assert decayed["d"].conversions == pytest.approx(2 * decayed["b"].conversions)


def test_attribute_of_nothing_is_empty_per_model() -> None:
    assert attribute([]) == {model: {} for model in MODELS}
    assert attribute(iter([conversion()]), ["linear"]) == {
        "linear": {NO_TOUCH_KEY: AttributionRow(NO_TOUCH_KEY, 1.0, 100.0, 0)}
    }


KEYS = st.sampled_from(["email", "ads", "seo", "sms"])
CONVERSIONS = st.lists(
    st.builds(
        lambda touches, value, contact_id: Conversion(contact_id, AT, value, tuple(touches)),
        st.lists(st.builds(touch, KEYS, st.floats(min_value=-5, max_value=45)), max_size=8),
        st.floats(min_value=0, max_value=1000),
        st.integers(min_value=1, max_value=10**6),
    ),
    max_size=20,
)


@given(CONVERSIONS)
def test_every_model_totals_the_conversions_and_their_revenue(
    conversions: list[Conversion],
) -> None:
    report = attribute(conversions)
    for model in MODELS:
        rows = report[model].values()
        assert sum(row.conversions for row in rows) == pytest.approx(len(conversions))
        assert sum(row.value for row in rows) == pytest.approx(
            sum(item.value for item in conversions), abs=1e-6
        )
    for item in conversions:
        for model in MODELS:
            got = credits(item, model)
            if got:
                assert sum(share for _, share in got) == pytest.approx(1.0)
                assert all(share >= 0.0 for _, share in got)
