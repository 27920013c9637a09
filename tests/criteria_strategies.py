"""Hypothesis strategies for criteria syntax trees (any well-formed tree, untyped)."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import strategies as st

from leadsift.criteria.ast import (
    COMPARE_OPS,
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
    Subject,
    TextMatch,
    Value,
    Within,
)
from leadsift.criteria.grammar import KEYWORDS

_NAME_PART = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True)
# Names that look like keywords (`android`, `notes`, `is.null`) must stay names.
_TRICKY_NAMES = st.sampled_from(
    ["android", "notes", "index", "isx", "nullable", "within_", "and.x", "is.null", "count"]
)


def _not_keyword(name: str) -> bool:
    return name.lower() not in KEYWORDS


field_names = st.one_of(
    _TRICKY_NAMES,
    st.lists(_NAME_PART, min_size=1, max_size=3).map(".".join).filter(_not_keyword),
)

# Texts that stress quoting: quotes, backslashes, control characters, non-ASCII, emoji.
_TRICKY_TEXTS = st.sampled_from(
    ["", "'", '"', "\\", "\\'", '\\"', "a\nb", "\t", "é", "É", "ß", "😀", "\u2028", "x'); --"]
)
texts = st.one_of(_TRICKY_TEXTS, st.text(max_size=12))
numbers = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
)
dates = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))
durations = st.integers(min_value=0, max_value=10**8).map(lambda s: timedelta(seconds=s))
values: st.SearchStrategy[Value] = st.one_of(texts, numbers, st.booleans(), dates, durations)
literals = values.map(Literal_)


def _predicates(subjects: st.SearchStrategy[Subject]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        st.builds(Compare, subjects, st.sampled_from(COMPARE_OPS), literals),
        st.builds(Between, subjects, literals, literals),
        st.builds(
            InList, subjects, st.lists(literals, min_size=1, max_size=4).map(tuple), st.booleans()
        ),
        st.builds(TextMatch, subjects, st.sampled_from(["contains", "startswith"]), literals),
        st.builds(IsNull, subjects, st.booleans()),
        st.builds(Within, subjects, durations.map(Literal_)),
    )


def _combine(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    items = st.lists(children, min_size=2, max_size=4).map(tuple)
    return st.one_of(st.builds(And, items), st.builds(Or, items), st.builds(Not, children))


def expressions(max_leaves: int = 12) -> st.SearchStrategy[Expr]:
    """Any tree the text form can express, aggregates (with nested conditions) included."""
    plain = _predicates(field_names.map(Field))
    inner = st.recursive(plain, _combine, max_leaves=4)
    aggregates = st.builds(
        Aggregate,
        function=st.sampled_from(["count", "sum", "last"]),
        event=field_names,
        where=st.none() | inner,
        within=st.none() | durations,
    )
    leaves = st.one_of(plain, _predicates(aggregates))
    return st.recursive(leaves, _combine, max_leaves=max_leaves)
