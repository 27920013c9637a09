"""Dates, yes/no words, numbers and attribute type inference."""

from __future__ import annotations

from datetime import date

import pytest

from leadsift.contacts.values import coerce, infer_type, parse_bool, parse_date, parse_int, to_text


@pytest.mark.parametrize(
    ("text", "day_first", "expected"),
    [
        ("2025-01-31", True, date(2025, 1, 31)),
        ("2025-01-31T10:00:00Z", True, date(2025, 1, 31)),
        ("03/04/1990", True, date(1990, 4, 3)),
        ("03/04/1990", False, date(1990, 3, 4)),
        ("3.4.1990", True, date(1990, 4, 3)),
        ("31/02/1990", True, None),
        ("2025-13-01", True, None),
        ("yesterday", True, None),
    ],
)
def test_parse_date(text: str, day_first: bool, expected: date | None) -> None:
    assert parse_date(text, day_first=day_first) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oui", True),
        ("Non", False),
        ("YES", True),
        ("no", False),
        ("true", True),
        ("False", False),
        ("1", True),
        ("0", False),
        ("peut-être", None),
        ("", None),
    ],
)
def test_parse_bool(text: str, expected: bool | None) -> None:
    assert parse_bool(text) is expected


def test_parse_int() -> None:
    assert parse_int("35") == 35
    assert parse_int("35.0") == 35
    assert parse_int("35.5") is None
    assert parse_int("abc") is None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "2", "999"], "integer"),
        (["1", "2.5"], "number"),
        (["-1,8", "1,1"], "number"),
        (["yes", "no", ""], "boolean"),
        (["1", "0"], "integer"),
        (["2024-01-01", "01/02/2024"], "date"),
        (["no", "unknown"], "text"),
        (["01234", "75011"], "text"),
        (["", " "], None),
    ],
)
def test_infer_type(values: list[str], expected: str | None) -> None:
    assert infer_type(values) == expected


def test_coerce_and_back_to_text_round_trip() -> None:
    assert coerce("1,5", "number") == 1.5
    assert coerce("oui", "boolean") is True
    assert coerce("01/02/2024", "date") == "2024-02-01"
    for value, kind in [
        ("1.1", "number"),
        ("42", "integer"),
        ("yes", "boolean"),
        ("2024-02-01", "date"),
        ("admin.", "text"),
    ]:
        assert coerce(to_text(coerce(value, kind)), kind) == coerce(value, kind)  # type: ignore[arg-type]
