"""The text form of criteria: parsing, canonical text and JSON round trips, and bad input."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsift.contacts.criteria_fields import contact_registry
from leadsift.criteria import CriteriaError, compile_criteria, from_json, parse, to_json, to_text
from leadsift.criteria.ast import (
    Aggregate,
    And,
    Between,
    Compare,
    CriteriaJsonError,
    Expr,
    Field,
    InList,
    IsNull,
    Literal_,
    Not,
    Or,
    Position,
    TextMatch,
    Within,
)
from leadsift.errors import InvalidInputError
from tests.criteria_strategies import expressions

A = Compare(Field("a"), "=", Literal_(1))
B = Compare(Field("b"), "=", Literal_(2))
C = Compare(Field("c"), "=", Literal_(3))
REGISTRY = contact_registry({"job": "text", "duration": "integer", "y": "boolean"})


def _error(text: str) -> CriteriaError:
    with pytest.raises(CriteriaError) as caught:
        parse(text)
    return caught.value


# ---- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a = 1 and b = 2 or c = 3", Or((And((A, B)), C))),
        ("a = 1 or b = 2 and c = 3", Or((A, And((B, C))))),
        ("a = 1 and (b = 2 or c = 3)", And((A, Or((B, C))))),
        ("(a = 1 or b = 2) and c = 3", And((Or((A, B)), C))),
        ("not a = 1 and b = 2", And((Not(A), B))),
        ("not (a = 1 and b = 2)", Not(And((A, B)))),
        ("not not a = 1", Not(Not(A))),
        ("a = 1 or not b = 2 or c = 3", Or((A, Not(B), C))),
        ("a = 1 and b = 2 and c = 3", And((A, B, C))),
        ("((a = 1))", A),
        ("(a = 1 and b = 2) and c = 3", And((And((A, B)), C))),
    ],
)
def test_precedence_not_over_and_over_or(text: str, tree: Expr) -> None:
    assert parse(text) == tree


def test_keywords_are_case_insensitive() -> None:
    lower = parse(
        "x between 1 and 2 and y in (1) or not z is not null and w not in (2) "
        'and v contains "a" and u startswith "b" and t within 30d and s = true or r = false'
    )
    upper = parse(
        "x BETWEEN 1 AND 2 And y IN (1) OR NOT z IS NOT NULL AND w NOT IN (2) "
        'AND v CONTAINS "a" AND u StartsWith "b" AND t WITHIN 30d AND s = TRUE Or r = False'
    )
    assert upper == lower
    assert isinstance(lower, Or) and isinstance(lower.items[1], And)


@pytest.mark.parametrize("name", ["android", "notes", "index", "isx", "nullable", "is.null"])
def test_names_beginning_with_keywords_stay_names(name: str) -> None:
    assert parse(f"{name} = 1") == Compare(Field(name), "=", Literal_(1))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('x = "plain"', "plain"),
        ("x = 'single'", "single"),
        (r"x = 'it\'s'", "it's"),
        (r'x = "a\"b"', 'a"b'),
        ("x = 'say \"hi\"'", 'say "hi"'),
        ('x = "l\'été"', "l'été"),
        (r'x = "back\\slash"', "back\\slash"),
        (r"x = 'back\\slash'", "back\\slash"),
        (r'x = "tab\there\n"', "tab\there\n"),
        (r'x = "\u00e9\u00c9"', "éÉ"),
        ('x = "😀 ß"', "😀 ß"),
        ('x = ""', ""),
        ("x = ''", ""),
    ],
)
def test_quotes_and_escapes(text: str, value: str) -> None:
    assert parse(text) == Compare(Field("x"), "=", Literal_(value))


def test_single_quoted_backslash_then_double_quote() -> None:
    # The lexer accepts '\\"' (a backslash, then a double quote); the builder must read it.
    assert parse("x = '\\\\\"'") == Compare(Field("x"), "=", Literal_('\\"'))


def _single_quoted(value: str) -> str:
    """A text written in single quotes: backslash escapes, control characters as \\uXXXX."""
    out = []
    for char in value:
        if char in "\\'":
            out.append("\\" + char)
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "'" + "".join(out) + "'"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_single_quoted_texts_parse_back(value: str) -> None:
    assert parse(f"x = {_single_quoted(value)}") == Compare(Field("x"), "=", Literal_(value))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("x = 42", 42),
        ("x = -3", -3),
        ("x=-3", -3),
        ("x = 1.5", 1.5),
        ("x = -0.25", -0.25),
        ("x = 1.5e3", 1500.0),
        ("x = 2E-2", 0.02),
        ("x = 2025-01-31", date(2025, 1, 31)),
        ("x = 2024-02-29", date(2024, 2, 29)),
        ("x = 0001-01-01", date(1, 1, 1)),
        ("x = true", True),
        ("x = FALSE", False),
        ("x = 30d", timedelta(days=30)),
    ],
)
def test_literals(text: str, value: object) -> None:
    tree = parse(text)
    assert isinstance(tree, Compare)
    assert tree.value.value == value
    assert type(tree.value.value) is type(value)


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        ("15m", timedelta(minutes=15)),
        ("90s", timedelta(seconds=90)),
    ],
)
def test_durations_with_within(text: str, duration: timedelta) -> None:
    assert parse(f"last_seen within {text}") == Within(Field("last_seen"), Literal_(duration))


def test_every_predicate_form() -> None:
    tree = parse(
        'a between 1 and 2 and b in ("x", \'y\') and c not in (1) and d contains "z" '
        'and e startswith "w" and f is null and g is not null and h != 2025-01-01'
    )
    assert tree == And(
        (
            Between(Field("a"), Literal_(1), Literal_(2)),
            InList(Field("b"), (Literal_("x"), Literal_("y"))),
            InList(Field("c"), (Literal_(1),), negated=True),
            TextMatch(Field("d"), "contains", Literal_("z")),
            TextMatch(Field("e"), "startswith", Literal_("w")),
            IsNull(Field("f")),
            IsNull(Field("g"), negated=True),
            Compare(Field("h"), "!=", Literal_(date(2025, 1, 1))),
        )
    )


def test_aggregate_syntax() -> None:
    tree = parse('count(page_view where properties.path startswith "/pricing" within 30d) >= 3')
    where = TextMatch(Field("properties.path"), "startswith", Literal_("/pricing"))
    aggregate = Aggregate("count", "page_view", where, timedelta(days=30))
    assert tree == Compare(aggregate, ">=", Literal_(3))
    assert parse("COUNT(email_open) > 0") == Compare(
        Aggregate("count", "email_open"), ">", Literal_(0)
    )
    assert parse("last(email_click) within 7d") == Within(
        Aggregate("last", "email_click"), Literal_(timedelta(days=7))
    )


def test_positions_are_recorded_on_fields_and_literals() -> None:
    tree = parse('a = 1 and\n  region = "IDF"')
    assert isinstance(tree, And)
    second = tree.items[1]
    assert isinstance(second, Compare) and isinstance(second.subject, Field)
    assert second.subject.at == Position(2, 3)
    assert second.value.at == Position(2, 12)


# ---- canonical text and JSON round trips ------------------------------------------------------


def test_canonical_text_examples() -> None:
    text = 'age between 25 and 35 and region in ("IDF", "PACA") and not consent.sms is null'
    assert to_text(parse(text)) == text
    assert to_text(parse("(A = 1 OR b = 'x')   and c=2025-01-31")) == (
        '(A = 1 or b = "x") and c = 2025-01-31'
    )
    assert to_text(parse("a = 1 and (b = 2 and c = 3)")) == "a = 1 and (b = 2 and c = 3)"


@settings(max_examples=200, deadline=None)
@given(expressions())
def test_text_round_trip(expr: Expr) -> None:
    text = to_text(expr)
    assert parse(text) == expr
    assert to_text(parse(text)) == text


@settings(max_examples=200, deadline=None)
@given(expressions())
def test_json_round_trip(expr: Expr) -> None:
    document = to_json(expr)
    assert from_json(document) == expr
    # The JSON form survives real serialisation (the API sends it as text).
    assert from_json(json.loads(json.dumps(document))) == expr


def test_json_form_shape() -> None:
    tree = parse('not (age >= 18 or job in ("a", "b")) and seen within 12h and d = 2025-01-31')
    assert to_json(tree) == {
        "and": [
            {
                "not": {
                    "or": [
                        {"field": "age", "op": ">=", "value": 18},
                        {"field": "job", "op": "in", "value": ["a", "b"]},
                    ]
                }
            },
            {"field": "seen", "op": "within", "value": {"duration": "12h"}},
            {"field": "d", "op": "=", "value": {"date": "2025-01-31"}},
        ]
    }


# ---- bad input: line, column, token and message -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "token", "reason"),
    [
        ('(a = 1 and b = "x"', 1, 19, "", "missing ')': a parenthesis is not closed"),
        ("a = 1 and\n  (b = 2 or c = 3", 2, 18, "", "missing ')'"),
        ("a = 1)", 1, 6, ")", "unbalanced ')': no parenthesis to close"),
        ("(a = 1)) or b = 2", 1, 8, ")", "unbalanced ')'"),
        ("region == 1", 1, 9, "=", "unknown operator"),
        ("region <> 1", 1, 9, ">", "unknown operator"),
        ('region like "x"', 1, 8, "like", "unknown operator 'like'"),
        ("region ~ 1", 1, 8, "~", "unknown operator '~'"),
        ("a = 1 and\nb ! 2", 2, 3, "!", "unknown operator '!'"),
        ("age between 25", 1, 15, "", "'between' needs two bounds"),
        ("age between 25 or 35", 1, 16, "or", "'between' needs two bounds joined by 'and'"),
        ("job in ()", 1, 9, ")", "'in (…)' needs at least one value"),
        ("job not in ()", 1, 13, ")", "'in (…)' needs at least one value"),
        ('job = "admin', 1, 7, '"', 'a text is not closed: missing "'),
        ("job = 'admin", 1, 7, "'", "a text is not closed: missing '"),
        ("", 1, 1, "", "the expression is empty"),
        ("  \n ", 1, 1, "", "the expression is empty"),
        ("a = 1 and", 1, 10, "", "the expression ends too early"),
        ("x = 2025-02-30", 1, 5, "2025-02-30", "2025-02-30 is not a real date"),
        ("x within 30", 1, 10, "30", "expected a duration (e.g. 30d)"),
        ('x = "a\\x41"', 1, 5, '"a\\x41"', "invalid escape in text"),
        ("x = 99999999999999999999w", 1, 5, "99999999999999999999w", "too long a duration"),
    ],
)
def test_syntax_errors(text: str, line: int, column: int, token: str, reason: str) -> None:
    error = _error(text)
    assert isinstance(error, InvalidInputError)
    assert (error.line, error.column, error.token) == (line, column, token)
    assert reason in error.reason
    assert str(error).startswith(f"line {line}, column {column}: ")


def test_unknown_operator_lists_the_operators() -> None:
    error = _error("region == 1")
    assert error.reason == (
        "unknown operator; use = != < <= > >=, between, in, not in, contains, startswith, "
        "is null, within"
    )


def test_error_as_json() -> None:
    error = _error("a = 1)")
    assert error.as_json() == {
        "code": "invalid_criteria",
        "message": "line 1, column 6: unbalanced ')': no parenthesis to close",
        "line": 1,
        "column": 6,
        "token": ")",
    }


@pytest.mark.parametrize(
    ("text", "line", "column", "token", "message"),
    [
        (
            'job = "x" and\n   regoin = "IDF"',
            2,
            4,
            "regoin",
            "unknown field 'regoin' — did you mean 'region'?",
        ),
        ('duration < "300"', 1, 12, '"300"', 'compare it with a number, not "300"'),
        ('duration >= "a" or y = true', 1, 13, '"a"', "compare it with a number"),
        ("region < 5", 1, 10, "5", "'region' is a text field: compare it with text, not 5"),
    ],
)
def test_bad_input_needing_the_fields(
    text: str, line: int, column: int, token: str, message: str
) -> None:
    with pytest.raises(CriteriaError) as caught:
        compile_criteria(text, REGISTRY)
    error = caught.value
    assert (error.line, error.column, error.token) == (line, column, token)
    assert message in error.reason


# ---- JSON shape errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "$: expected an object"),
        ({"and": []}, "$.and: expected a non-empty list"),
        ({"or": {"field": "a"}}, "$.or: expected a non-empty list"),
        ({"op": "=", "value": 1}, "$: expected 'field' or 'aggregate'"),
        ({"field": 3, "op": "=", "value": 1}, "$: expected 'field' or 'aggregate'"),
        ({"field": "a", "op": "=="}, "$.op: unknown operator '=='"),
        ({"field": "a"}, "$.op: unknown operator None"),
        ({"field": "a", "op": "between", "value": [1]}, "$.value: expected 2 values"),
        ({"field": "a", "op": "between", "value": 1}, "$.value: expected 2 values"),
        ({"field": "a", "op": "in", "value": []}, "$.value: expected a non-empty list"),
        ({"field": "a", "op": "=", "value": None}, "$.value: unsupported value None"),
        ({"field": "a", "op": "=", "value": [1]}, "$.value: unsupported value [1]"),
        ({"field": "a", "op": "=", "value": float("nan")}, "$.value: nan is not a usable number"),
        (
            {"field": "a", "op": "=", "value": {"date": "2025-02-30"}},
            "$.value: '2025-02-30' is not a date (YYYY-MM-DD)",
        ),
        (
            {"field": "a", "op": "=", "value": {"date": "31/01/2025"}},
            "$.value: '31/01/2025' is not a date",
        ),
        (
            {"field": "a", "op": "within", "value": {"duration": "30 days"}},
            "$.value: '30 days' is not a duration (e.g. 30d)",
        ),
        (
            {"and": [{"field": "a", "op": "is null"}, {"not": {"field": "b", "op": "in"}}]},
            "$.and[1].not.value: expected a non-empty list",
        ),
        (
            {"field": "a", "op": "in", "value": [1, {"x": 1}]},
            "$.value[1]: unsupported value {'x': 1}",
        ),
        (
            {"aggregate": {"event": "e", "within": "soon"}, "op": ">", "value": 1},
            "$.aggregate.within: 'soon' is not a duration",
        ),
        (
            {"aggregate": {"event": "e", "where": {"and": 1}}, "op": ">", "value": 1},
            "$.aggregate.where.and: expected a non-empty list",
        ),
    ],
)
def test_json_shape_errors(document: Any, message: str) -> None:
    with pytest.raises(CriteriaJsonError) as caught:
        from_json(document)
    assert isinstance(caught.value, InvalidInputError)
    assert message in str(caught.value)


def test_json_refuses_infinity() -> None:
    # from_json keeps inf; to_text writes `fit < inf`, which does not parse, and age_ranges
    # raises OverflowError on it while compiling SQL.
    with pytest.raises(CriteriaJsonError):
        from_json({"field": "fit", "op": "<", "value": float("inf")})
