"""Checking fields and types, and the Python evaluator (three-valued logic, ages, Feb 29)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from leadsift.contacts.criteria_fields import contact_registry
from leadsift.criteria import CriteriaError, Moment, Truth, check, compile_criteria, evaluate, parse
from leadsift.criteria.ages import age_ranges, years_ago
from leadsift.criteria.ast import COMPARE_OPS, Between, Compare, Field, InList, Literal_, Predicate
from leadsift.criteria.evaluate import age_on, evaluate_predicate
from leadsift.criteria.fields import FieldRegistry, FieldSpec

REGISTRY = contact_registry(
    {"job": "text", "n": "integer", "x": "number", "b": "boolean", "d": "date"}
)
MOMENT = Moment(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
AGE = REGISTRY.fields["age"]


def _check_error(text: str, registry: FieldRegistry = REGISTRY) -> CriteriaError:
    with pytest.raises(CriteriaError) as caught:
        compile_criteria(text, registry)
    return caught.value


def _eval(text: str, facts: dict[str, Any], moment: Moment = MOMENT) -> Truth:
    return evaluate(compile_criteria(text, REGISTRY), facts, moment)


# ---- the checker ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "token", "reason"),
    [
        ("region < 5", 10, "5", "'region' is a text field: compare it with text, not 5"),
        ("job >= 1.5", 8, "1.5", "'attrs.job' is a text field: compare it with text, not 1.5"),
        ('n = "x"', 5, '"x"', 'integer field: compare it with a number, not "x"'),
        ('attrs.x between 1 and "9"', 23, '"9"', "number field: compare it with a number"),
        ('age in (30, "forty")', 13, '"forty"', "integer field: compare it with a number"),
        ('n contains "1"', 12, '"1"', "'contains' needs a text field"),
        ('d startswith "2025"', 14, '"2025"', "'startswith' needs a text field"),
        ('stage contains "le"', 16, '"le"', "'contains' needs a text field"),
        ("n = 30d", 5, None, "a duration only goes with 'within' (e.g. within 30d)"),
        ("birth_date > 30d", 14, None, "a duration only goes with 'within'"),
        ("n within 30d", 10, None, "'within' needs a date or time field"),
        ("job within 1h", 12, None, "'within' needs a date or time field"),
        ("b = 1", 5, "1", "'attrs.b' is a boolean field: compare it with true or false, not 1"),
        ("d = 5", 5, "5", "'attrs.d' is a date field: compare it with a date (YYYY-MM-DD), not 5"),
        ('birth_date < "2020-01-01"', 14, '"2020-01-01"', "compare it with a date"),
        ("n = 2025-01-01", 5, None, "compare it with a number, not 2025-01-01"),
        (
            'stage = "won"',
            9,
            '"won"',
            "'stage' is one of contact, lead, qualified, customer, unqualified, lost; not 'won'",
        ),
        ('stage in ("lead", "Lead")', 19, '"Lead"', "'stage' is one of contact, lead"),
        ('stage < "lead"', 9, '"lead"', "'<' does not apply, use = or !="),
        ('stage between "contact" and "lead"', 15, '"contact"', "'between' does not apply"),
    ],
)
def test_type_errors(text: str, column: int, token: str | None, reason: str) -> None:
    error = _check_error(text)
    assert error.line == 1
    assert error.column == column
    if token is not None:
        assert error.token == token
    assert reason in error.reason


def test_boolean_fields_have_no_order() -> None:
    error = _check_error("consent.email < true")
    assert error.reason == "'consent.email' is a boolean field: '<' does not apply, use = or !="
    error = _check_error("b between false and true")
    assert "'between' does not apply" in error.reason


def test_boolean_literal_errors_point_at_the_literal() -> None:
    error = _check_error("n = 1 and\n  consent.email < true")
    assert (error.line, error.column, error.token) == (2, 19, "true")


def test_type_error_token_is_the_text_as_written() -> None:
    written = ["30d", "2025-01-31"]
    assert [_check_error(f"n = {text}").token for text in written] == written


def test_type_error_article() -> None:
    assert "is an integer field" in _check_error('n = "x"').reason


def test_unknown_field_suggests_the_closest() -> None:
    error = _check_error('job = "x" and\n  regoin = "IDF"')
    assert error.reason == "unknown field 'regoin' — did you mean 'region'?"
    assert (error.line, error.column, error.token) == (2, 3, "regoin")
    assert "did you mean 'consent.email'?" in _check_error("consent.emial = true").reason
    assert "did you mean 'attrs.job'?" in _check_error('attrs.jbo = "x"').reason
    assert "did you mean 'birth_date'?" in _check_error("birthdate is null").reason


def test_unknown_field_without_close_name() -> None:
    error = _check_error("zzzzzzzz = 1")
    assert error.reason.startswith("unknown field 'zzzzzzzz'; ")
    assert "did you mean" not in error.reason
    assert "fields" in error.reason  # points at the command listing the fields


def test_unknown_attribute_lists_the_known_attributes() -> None:
    error = _check_error("attrs.qqqqqqqqqqqqqqqq = 1")
    assert error.reason == (
        "unknown attribute 'attrs.qqqqqqqqqqqqqqqq' "
        "(known attributes: attrs.b, attrs.d, attrs.job, attrs.n, attrs.x)"
    )
    bare = contact_registry({})
    assert _check_error("attrs.job = 1", bare).reason == (
        "unknown attribute 'attrs.job' (known attributes: none imported yet)"
    )


def test_unknown_short_attribute_is_not_matched_on_the_prefix_alone() -> None:
    # 'attrs.zz' shares nothing with 'attrs.job' but the prefix; it is suggested anyway.
    assert _check_error('attrs.zz = "x"').reason.startswith("unknown attribute 'attrs.zz' (known")


def test_bare_attribute_names_resolve_to_the_attribute() -> None:
    criteria = compile_criteria('job = "admin." and Job != "x" and attrs.job is not null', REGISTRY)
    assert {criteria.spec(name).name for name in ("job", "Job", "attrs.job")} == {"attrs.job"}
    assert criteria.field_names() == ["attrs.job"]
    assert criteria.spec("job").kind == "attribute"


def test_standard_field_shadows_an_attribute_of_the_same_key() -> None:
    registry = contact_registry({"region": "integer", "city": "text"})
    criteria = compile_criteria('region = "IDF" and attrs.region > 3', registry)
    assert criteria.spec("region") == FieldSpec("region", "text", "column", "region")
    assert criteria.spec("attrs.region") == FieldSpec(
        "attrs.region", "integer", "attribute", "region"
    )
    # The bare name keeps the standard field's type: a number is refused for it.
    assert "'region' is a text field" in _check_error("region > 3", registry).reason


def test_event_aggregates_are_refused_by_the_contact_checker() -> None:
    error = _check_error("count(page_view within 30d) >= 3")
    assert error.reason == "event aggregates such as count(…) are not available here"
    assert (error.column, error.token) == (1, "count")


def test_checked_criteria_keep_the_tree_and_canonical_text() -> None:
    criteria = compile_criteria("AGE between 25 and 35 AND consent.email = TRUE", REGISTRY)
    assert criteria.text == "AGE between 25 and 35 and consent.email = true"
    assert criteria.expr == parse(criteria.text)
    assert criteria.field_names() == ["age", "consent.email"]
    assert check(criteria.expr, REGISTRY) == criteria


# ---- the evaluator: three-valued logic --------------------------------------------------------

# `n = 1` is True for n=1, False for n=2 and unknown when n is missing.
_FACTS_FOR: dict[Truth, Any] = {True: 1, False: 2, None: None}


def _kleene_and(left: Truth, right: Truth) -> Truth:
    if left is False or right is False:
        return False
    return None if left is None or right is None else True


def _kleene_or(left: Truth, right: Truth) -> Truth:
    if left is True or right is True:
        return True
    return None if left is None or right is None else False


@pytest.mark.parametrize(("left", "right"), list(itertools.product([True, False, None], repeat=2)))
def test_and_or_truth_tables(left: Truth, right: Truth) -> None:
    facts = {"attrs": {"n": _FACTS_FOR[left], "x": _FACTS_FOR[right]}}
    assert _eval("n = 1", facts) is left
    assert _eval("x = 1", facts) is right
    assert _eval("n = 1 and x = 1", facts) is _kleene_and(left, right)
    assert _eval("n = 1 or x = 1", facts) is _kleene_or(left, right)
    assert _eval("not (n = 1 and x = 1)", facts) is _negate(_kleene_and(left, right))
    assert _eval("not n = 1 or not x = 1", facts) is _kleene_or(_negate(left), _negate(right))


def _negate(value: Truth) -> Truth:
    return None if value is None else not value


@pytest.mark.parametrize("value", [True, False, None])
def test_not(value: Truth) -> None:
    facts = {"attrs": {"n": _FACTS_FOR[value]}}
    assert _eval("not n = 1", facts) is _negate(value)
    assert _eval("not not n = 1", facts) is value


@pytest.mark.parametrize(
    "text",
    [
        "n = 1",
        "n != 1",
        "n < 1",
        "n between 0 and 2",
        "n in (1, 2)",
        "n not in (1, 2)",
        'job contains "a"',
        'job startswith "a"',
        'job < "m"',
        "consent.email = true",
        "consent.email != true",
        "b = false",
        "d within 30d",
        "birth_date > 2000-01-01",
        "age >= 18",
        "age != 30",
    ],
)
def test_missing_values_are_unknown_but_is_null_is_not(text: str) -> None:
    empty: dict[str, Any] = {"attrs": {}, "consent": {}}
    assert _eval(text, empty) is None
    assert _eval(f"not ({text})", empty) is None
    assert _eval(f"({text}) or id is null", empty) is True
    assert _eval(f"({text}) and id is not null", empty) is False
    field = text.split(maxsplit=1)[0]
    assert _eval(f"{field} is null", empty) is True
    assert _eval(f"{field} is not null", empty) is False


def test_consent_and_attributes_are_read_from_their_sections() -> None:
    facts = {
        "region": "IDF",
        "attrs": {"job": "admin.", "b": False, "d": "2026-11-01"},
        "consent": {"email": True, "sms": False},
    }
    assert _eval('region = "IDF" and job startswith "adm" and b = false', facts) is True
    assert _eval("consent.email = true and consent.sms = false", facts) is True
    assert _eval("consent.phone is null", facts) is True
    assert _eval("d within 30d and d > 2026-10-31 and d < 2026-11-02", facts) is True
    assert _eval("d within 20d", facts) is False
    # An attribute date that is not ISO text is unknown, not an error.
    assert _eval("d = 2026-11-01", {"attrs": {"d": "01/11/2026"}}) is None


def test_text_matching_is_case_sensitive_and_by_code_point() -> None:
    facts = {"city": "Évry", "attrs": {"job": "Straße"}}
    assert _eval('city startswith "É"', facts) is True
    assert _eval('city startswith "é"', facts) is False
    assert _eval('job contains "ß"', facts) is True
    assert _eval('job contains "ss"', facts) is False
    assert _eval('city > "Z"', facts) is True  # 'É' (U+00C9) sorts after 'Z'
    assert _eval('city contains ""', facts) is True


# ---- age --------------------------------------------------------------------------------------


def test_age_from_the_birth_date_wins_over_the_imported_age() -> None:
    born = {"birth_date": date(1990, 11, 23), "age": 50}
    assert _eval("age = 35", born) is True  # the birthday is tomorrow
    assert _eval("age = 50", born) is False
    assert _eval("age = 36", born, Moment(datetime(2026, 11, 23, 0, 0, tzinfo=UTC))) is True
    assert _eval("age = 50", {"birth_date": None, "age": 50}) is True
    assert _eval("age between 49 and 51", {"age": 50}) is True
    assert _eval("age is null", {"birth_date": None, "age": None}) is True
    assert _eval("age is null", {"age": 0}) is False
    assert _eval("age > 0", {"age": 0}) is False


@pytest.mark.parametrize(
    ("today", "age"),
    [
        (date(2027, 2, 28), 2),  # not yet: a Feb 29 birthday is "reached" on Mar 1
        (date(2027, 3, 1), 3),
        (date(2028, 2, 28), 3),
        (date(2028, 2, 29), 4),
        (date(2028, 3, 1), 4),
    ],
)
def test_age_of_a_feb_29_birthday(today: date, age: int) -> None:
    moment = Moment(datetime(today.year, today.month, today.day, 23, 59, tzinfo=UTC))
    assert age_on(date(2024, 2, 29), today) == age
    assert _eval(f"age = {age}", {"birth_date": date(2024, 2, 29)}, moment) is True


def test_moment_today_is_the_utc_date() -> None:
    assert Moment(datetime(2026, 11, 22, 23, 59, tzinfo=UTC)).today == date(2026, 11, 22)
    tokyo = datetime(2026, 11, 23, 1, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert Moment(tokyo).today == date(2026, 11, 22)


def test_years_ago_examples() -> None:
    assert years_ago(date(2028, 2, 29), 1) == date(2027, 2, 28)
    assert years_ago(date(2028, 2, 29), 4) == date(2024, 2, 29)
    assert years_ago(date(2026, 11, 22), 30) == date(1996, 11, 22)
    assert years_ago(date(2026, 11, 22), -1) == date(2027, 11, 22)
    assert years_ago(date(2026, 11, 22), 2026) is None
    assert years_ago(date(2026, 11, 22), -7974) is None


_EDGE_DAYS = st.sampled_from(
    [
        date(2028, 2, 29),
        date(2028, 2, 28),
        date(2028, 3, 1),
        date(2027, 2, 28),
        date(2027, 3, 1),
        date(2000, 2, 29),
        date(2100, 2, 28),
        date(2100, 3, 1),
    ]
)
_DAYS = st.one_of(_EDGE_DAYS, st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
_BIRTHS = st.one_of(
    st.sampled_from([date(2000, 2, 29), date(2024, 2, 29), date(1996, 2, 28), date(1996, 3, 1)]),
    st.dates(min_value=date(1800, 1, 1), max_value=date(2300, 12, 31)),
)


@settings(max_examples=400, deadline=None)
@given(today=_DAYS, born=_BIRTHS, years=st.integers(min_value=-150, max_value=250))
@example(today=date(2027, 2, 28), born=date(2024, 2, 29), years=3)
@example(today=date(2028, 2, 29), born=date(2024, 2, 29), years=4)
@example(today=date(2028, 2, 29), born=date(2027, 3, 1), years=1)
def test_years_ago_is_the_age_threshold(today: date, born: date, years: int) -> None:
    # age >= n  <=>  born on or before the same day n years ago (what the SQL back end binds).
    threshold = years_ago(today, years)
    assert threshold is not None
    assert (age_on(born, today) >= years) == (born <= threshold)


_AGE_LITERALS = st.one_of(
    st.integers(min_value=-5, max_value=130),
    st.integers(min_value=-5, max_value=130).map(lambda v: v + 0.5),
    st.floats(min_value=-10, max_value=140, allow_nan=False),
)


def _age_predicates() -> st.SearchStrategy[Predicate]:
    age = st.just(Field("age"))
    value = _AGE_LITERALS.map(Literal_)
    return st.one_of(
        st.builds(Compare, age, st.sampled_from(COMPARE_OPS), value),
        st.builds(Between, age, value, value),
        st.builds(InList, age, st.lists(value, min_size=1, max_size=4).map(tuple), st.booleans()),
    )


@settings(max_examples=400, deadline=None)
@given(predicate=_age_predicates(), age=st.integers(min_value=-10, max_value=150))
def test_age_ranges_accept_exactly_the_ages_the_evaluator_accepts(
    predicate: Predicate, age: int
) -> None:
    ranges = age_ranges(predicate)
    inside = any(
        (r.low is None or r.low <= age) and (r.high is None or age <= r.high) for r in ranges
    )
    assert inside == evaluate_predicate(predicate, AGE, age, MOMENT)
    # Disjoint and sorted, as documented.
    for first, second in itertools.pairwise(ranges):
        assert first.high is not None and second.low is not None and first.high < second.low


@settings(max_examples=300, deadline=None)
@given(predicate=_age_predicates(), today=_DAYS, born=_BIRTHS)
def test_age_ranges_as_birth_date_bounds_match_age_on(
    predicate: Predicate, today: date, born: date
) -> None:
    # The SQL back end turns each whole-year range into birth-date bounds with years_ago.
    def born_in(low: int | None, high: int | None) -> bool:
        if low is not None:
            latest = years_ago(today, low)
            assert latest is not None
            if not born <= latest:
                return False
        if high is not None:
            earliest = years_ago(today, high + 1)
            assert earliest is not None
            if not born > earliest:
                return False
        return True

    by_bounds = any(born_in(r.low, r.high) for r in age_ranges(predicate))
    moment = Moment(datetime(today.year, today.month, today.day, 12, tzinfo=UTC))
    by_age = evaluate_predicate(predicate, AGE, age_on(born, today), moment)
    assert by_bounds == by_age
