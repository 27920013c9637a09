"""Parsing of dates, yes/no words and numbers; type inference of custom attributes; pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Final, Literal

ValueType = Literal["integer", "number", "boolean", "date", "text"]
AttrValue = int | float | bool | str

TRUE_WORDS: Final[frozenset[str]] = frozenset({"oui", "yes", "true", "vrai", "y", "o", "1"})
FALSE_WORDS: Final[frozenset[str]] = frozenset({"non", "no", "false", "faux", "n", "0"})
# Attribute inference treats only words as booleans: a 0/1 column is an integer column.
_BOOLEAN_WORDS: Final[frozenset[str]] = (TRUE_WORDS | FALSE_WORDS) - {"1", "0"}

_INTEGER = re.compile(r"[+-]?(0|[1-9][0-9]{0,17})")
_NUMBER = re.compile(r"[+-]?[0-9]+[.,][0-9]+|[+-]?[0-9]+(\.[0-9]+)?[eE][+-]?[0-9]+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SLASH_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"
)


def parse_bool(text: str) -> bool | None:
    """'oui'/'yes'/'true'/'1' -> True, 'non'/'no'/'false'/'0' -> False, anything else -> None."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def parse_date(text: str, *, day_first: bool = True) -> date | None:
    """ISO dates always; dd/mm/yyyy (or mm/dd/yyyy when not day_first); None when unparsable."""
    text = text.strip()
    if _ISO_DATE.fullmatch(text) or _ISO_DATETIME.fullmatch(text):
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None
    match = _SLASH_DATE.fullmatch(text)
    if match is None:
        return None
    first, second, year = (int(part) for part in match.groups())
    day, month = (first, second) if day_first else (second, first)
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_int(text: str) -> int | None:
    """A plain integer ('35', '+3', '35.0'), or None."""
    text = text.strip()
    if _INTEGER.fullmatch(text):
        return int(text)
    if re.fullmatch(r"[+-]?[0-9]+\.0+", text):
        return int(float(text))
    return None


def classify(text: str, *, day_first: bool = True) -> ValueType:
    """The most specific type a single non-empty value fits."""
    if _INTEGER.fullmatch(text):
        return "integer"
    if _NUMBER.fullmatch(text):
        return "number"
    if text.lower() in _BOOLEAN_WORDS:
        return "boolean"
    if parse_date(text, day_first=day_first) is not None:
        return "date"
    return "text"


def join_types(left: ValueType | None, right: ValueType) -> ValueType:
    """The narrowest type holding both: integer+number -> number; any other mix -> text."""
    if left is None or left == right:
        return right
    if {left, right} == {"integer", "number"}:
        return "number"
    return "text"


def infer_type(values: Iterable[str], *, day_first: bool = True) -> ValueType | None:
    """The type of a column from all its non-empty values; None when every value is empty."""
    result: ValueType | None = None
    seen: set[str] = set()
    for raw in values:
        text = raw.strip()
        if not text or text in seen:
            continue
        seen.add(text)
        result = join_types(result, classify(text, day_first=day_first))
        if result == "text":
            break
    return result


def coerce(text: str, value_type: ValueType, *, day_first: bool = True) -> AttrValue:
    """Convert a non-empty value to its column's type (the type was inferred from every value)."""
    if value_type == "integer":
        return int(text)
    if value_type == "number":
        return float(text.replace(",", "."))
    if value_type == "boolean":
        return text.lower() in TRUE_WORDS
    if value_type == "date":
        parsed = parse_date(text, day_first=day_first)
        return parsed.isoformat() if parsed is not None else text
    return text


def to_text(value: object) -> str:
    """Render a stored value the way an import would read it back."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)
