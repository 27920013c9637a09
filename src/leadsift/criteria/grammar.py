"""The text form of criteria: a lark LALR grammar and the tree it builds; pure."""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from leadsift.criteria.ast import (
    Aggregate,
    And,
    Between,
    Compare,
    Expr,
    Field,
    InList,
    IsNull,
    Literal_,
    Not,
    Or,
    Position,
    Subject,
    TextMatch,
    Within,
)
from leadsift.criteria.errors import CriteriaError
from leadsift.kit.durations import parse_duration

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr  -> negation
         | atom
?atom: "(" or_expr ")"
     | predicate
?predicate: subject CMP value                            -> compare
          | subject _BETWEEN value _AND value            -> between
          | subject _IN "(" value ("," value)* ")"       -> in_list
          | subject _NOT _IN "(" value ("," value)* ")"  -> not_in_list
          | subject CONTAINS value                       -> text_match
          | subject STARTSWITH value                     -> text_match
          | subject _IS _NULL                            -> is_null
          | subject _IS _NOT _NULL                       -> is_not_null
          | subject _WITHIN DURATION                     -> within
?subject: NAME                                           -> field
        | NAME "(" NAME [_WHERE or_expr] [_WITHIN DURATION] ")"  -> aggregate
?value: STRING -> string
      | DATE -> date
      | DURATION -> duration
      | NUMBER -> number
      | TRUE -> true
      | FALSE -> false

CMP: "!=" | "<=" | ">=" | "=" | "<" | ">"
_OR: "or"i
_AND: "and"i
_NOT: "not"i
_BETWEEN: "between"i
_IN: "in"i
_IS: "is"i
_NULL: "null"i
_WITHIN: "within"i
_WHERE: "where"i
TRUE: "true"i
FALSE: "false"i
CONTAINS: "contains"i
STARTSWITH: "startswith"i
NAME: /[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*/
STRING: /"(\\.|[^"\\\n])*"/ | /'(\\.|[^'\\\n])*'/
DATE.3: /[0-9]{4}-[0-9]{2}-[0-9]{2}(?![0-9])/
DURATION.2: /[0-9]+[smhdw](?![A-Za-z0-9_])/
NUMBER: /-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/

%import common.WS
%ignore WS
"""

KEYWORDS = frozenset(
    {"or", "and", "not", "between", "in", "is", "null", "within", "where", "true", "false"}
    | {"contains", "startswith"}
)
_DESCRIBE = {
    "RPAR": "')'",
    "LPAR": "'('",
    "COMMA": "','",
    "CMP": "a comparison (= != < <= > >=)",
    "NAME": "a field name",
    "STRING": "a quoted text",
    "NUMBER": "a number",
    "DATE": "a date (YYYY-MM-DD)",
    "DURATION": "a duration (e.g. 30d)",
    "_AND": "'and'",
    "_OR": "'or'",
    "_NOT": "'not'",
    "_BETWEEN": "'between'",
    "_IN": "'in'",
    "_IS": "'is'",
    "_NULL": "'null'",
    "_WITHIN": "'within'",
    "_WHERE": "'where'",
    "TRUE": "true",
    "FALSE": "false",
    "CONTAINS": "'contains'",
    "STARTSWITH": "'startswith'",
    "$END": "the end",
}
_OPERATORS = "= != < <= > >=, between, in, not in, contains, startswith, is null, within"
_VALUES = {"STRING", "NUMBER", "DATE", "DURATION", "TRUE", "FALSE"}


def _at(token: Token) -> Position:
    return Position(token.line or 1, token.column or 1)


@v_args(inline=True)
class _Builder(Transformer[Token, Expr]):
    """Turns lark's parse tree into the typed tree of `ast`."""

    def or_expr(self, *items: Expr) -> Expr:
        return Or(tuple(items))

    def and_expr(self, *items: Expr) -> Expr:
        return And(tuple(items))

    def negation(self, item: Expr) -> Expr:
        return Not(item)

    def field(self, name: Token) -> Subject:
        return Field(str(name), _at(name))

    def aggregate(
        self, function: Token, event: Token, where: Expr | None, within: Token | None
    ) -> Subject:
        duration = parse_duration(str(within)) if within is not None else None
        return Aggregate(str(function).lower(), str(event), where, duration, _at(function))

    def compare(self, subject: Subject, op: Token, value: Literal_) -> Expr:
        return Compare(subject, str(op), value)  # type: ignore[arg-type]

    def between(self, subject: Subject, low: Literal_, high: Literal_) -> Expr:
        return Between(subject, low, high)

    def in_list(self, subject: Subject, *values: Literal_) -> Expr:
        return InList(subject, tuple(values))

    def not_in_list(self, subject: Subject, *values: Literal_) -> Expr:
        return InList(subject, tuple(values), negated=True)

    def text_match(self, subject: Subject, op: Token, value: Literal_) -> Expr:
        return TextMatch(subject, str(op).lower(), value)  # type: ignore[arg-type]

    def is_null(self, subject: Subject) -> Expr:
        return IsNull(subject)

    def is_not_null(self, subject: Subject) -> Expr:
        return IsNull(subject, negated=True)

    def within(self, subject: Subject, duration: Token) -> Expr:
        return Within(subject, Literal_(_duration(duration), _at(duration)))

    def string(self, token: Token) -> Literal_:
        try:
            value = _unquote(str(token))
        except ValueError as exc:
            raise CriteriaError("invalid escape in text", _at(token), str(token)) from exc
        return Literal_(value, _at(token))

    def date(self, token: Token) -> Literal_:
        try:
            return Literal_(date.fromisoformat(str(token)), _at(token))
        except ValueError as exc:
            raise CriteriaError(f"{token} is not a real date", _at(token), str(token)) from exc

    def duration(self, token: Token) -> Literal_:
        return Literal_(_duration(token), _at(token))

    def number(self, token: Token) -> Literal_:
        text = str(token)
        value: int | float = float(text) if any(c in text for c in ".eE") else int(text)
        return Literal_(value, _at(token))

    def true(self, token: Token) -> Literal_:
        return Literal_(True, _at(token))

    def false(self, token: Token) -> Literal_:
        return Literal_(False, _at(token))


def _unquote(token: str) -> str:
    """A quoted text ('…' or "…") with JSON's backslash escapes, plus \\' for a quote."""
    pieces: list[str] = []
    body = token[1:-1]
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body):
            following = body[index + 1]
            pieces.append("'" if following == "'" else char + following)
            index += 2
            continue
        pieces.append('\\"' if char == '"' else char)
        index += 1
    result: str = json.loads('"' + "".join(pieces) + '"', strict=False)
    return result


def _duration(token: Token) -> timedelta:
    duration = parse_duration(str(token))
    if duration is None:
        raise CriteriaError(f"{token} is too long a duration", _at(token), str(token))
    return duration


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=True, propagate_positions=False)


def parse(text: str) -> Expr:
    """Parse the text form into a typed tree; errors carry line, column and the token."""
    if not text.strip():
        raise CriteriaError("the expression is empty", Position(1, 1), "")
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    try:
        result: Expr = _Builder().transform(tree)
    except Exception as exc:  # lark wraps errors raised in callbacks
        cause = getattr(exc, "orig_exc", exc)
        if isinstance(cause, CriteriaError):
            raise cause from None
        raise
    return result


def _expected(tokens: set[str]) -> str:
    names = sorted({_DESCRIBE.get(t, t.lower()) for t in tokens if not t.startswith("__")})
    if len(names) > 4:
        return ", ".join(names[:4]) + " …"
    return " or ".join(names)


def _syntax_error(exc: UnexpectedInput, text: str) -> CriteriaError:
    position = Position(getattr(exc, "line", 1) or 1, getattr(exc, "column", 1) or 1)
    if isinstance(exc, UnexpectedCharacters):
        where = exc.pos_in_stream or 0
        char = text[where] if where < len(text) else ""
        if char in "\"'":
            return CriteriaError(f"a text is not closed: missing {char}", position, char)
        if char in "=!<>~":
            return CriteriaError(f"unknown operator {char!r}; use {_OPERATORS}", position, char)
        return CriteriaError(f"unexpected character {char!r}", position, char)
    if isinstance(exc, UnexpectedEOF):
        return _eof_error(set(exc.expected), text)
    if isinstance(exc, UnexpectedToken):
        return _token_error(exc, text)
    return CriteriaError(str(exc), position, "")


def _end_position(text: str) -> Position:
    lines = text.rstrip().split("\n")
    return Position(len(lines), len(lines[-1]) + 1)


def _eof_error(expected: set[str], text: str) -> CriteriaError:
    at = _end_position(text)
    if expected == {"_AND"}:
        return CriteriaError("'between' needs two bounds: between 25 and 35", at, "")
    if "RPAR" in expected:
        return CriteriaError("missing ')': a parenthesis is not closed", at, "")
    return CriteriaError(f"the expression ends too early; expected {_expected(expected)}", at, "")


def _token_error(exc: UnexpectedToken, text: str) -> CriteriaError:  # noqa: PLR0911 — a message per case
    token: Any = exc.token
    at = Position(token.line or 1, token.column or 1)
    expected = set(exc.expected)
    if token.type == "$END":
        return _eof_error(expected, text)
    shown = str(token)
    if token.type == "RPAR" and expected & _VALUES:
        return CriteriaError("'in (…)' needs at least one value", at, shown)
    if token.type == "RPAR":
        return CriteriaError("unbalanced ')': no parenthesis to close", at, shown)
    if expected == {"_AND"}:
        return CriteriaError(
            f"'between' needs two bounds joined by 'and', not {shown!r}", at, shown
        )
    if token.type == "CMP":
        return CriteriaError(f"unknown operator; use {_OPERATORS}", at, shown)
    if "CMP" in expected:
        return CriteriaError(f"unknown operator {shown!r}; use {_OPERATORS}", at, shown)
    return CriteriaError(f"unexpected {shown!r}; expected {_expected(expected)}", at, shown)
