"""The SQL back end selects exactly the contacts the Python evaluator accepts (SQLite, PostgreSQL).

Each hypothesis example inserts a few generated contacts (ORM rows, consent ledger rows, typed
custom attributes) inside a savepoint, compiles generated criteria both ways and compares
`{ids where evaluate(...) is True}` with `SELECT id WHERE to_sql(...)`; the savepoint is rolled
back so examples never see each other's rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import case, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadsift.contacts import bulk_repository, repository
from leadsift.contacts.criteria_fields import contact_registry
from leadsift.contacts.fields import CONSENT_CHANNELS
from leadsift.contacts.models import ConsentRecord, Contact
from leadsift.contacts.repository import ContactSqlFields
from leadsift.criteria import (
    Criteria,
    CriteriaError,
    Moment,
    check,
    compile_criteria,
    evaluate,
    to_text,
)
from leadsift.criteria.ages import years_ago
from leadsift.criteria.ast import (
    COMPARE_OPS,
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
    TextMatch,
    Value,
    Within,
)
from leadsift.criteria.sql import to_sql
from leadsift.qualification.stages import Stage

ATTRIBUTE_TYPES = {
    "n": "integer",
    "x": "number",
    "b": "boolean",
    "t": "text",
    "d": "date",
    "job": "text",
}
REGISTRY = contact_registry(ATTRIBUTE_TYPES)
FIELDS = ContactSqlFields()
MOMENTS = (
    Moment(datetime(2026, 11, 22, 12, 0, tzinfo=UTC)),
    Moment(datetime(2028, 2, 29, 6, 0, tzinfo=UTC)),
    Moment(datetime(2027, 3, 1, 0, 30, tzinfo=UTC)),
)
TEXT_COLUMNS = ("first_name", "city", "region", "company", "source", "stage_reason")
FACT_COLUMNS = (
    "id",
    "email",
    "phone",
    "phone_raw",
    "external_id",
    "first_name",
    "last_name",
    "birth_date",
    "age",
    "postal_code",
    "city",
    "region",
    "country",
    "company",
    "job_title",
    "source",
    "stage",
    "stage_reason",
    "fit",
    "created_at",
    "updated_at",
)
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ---- generated values -------------------------------------------------------------------------

# Ordering-sensitive and non-ASCII texts: case, accents, ß, emoji, punctuation, digits as text.
TEXT_POOL = (
    "",
    " ",
    "a",
    "A",
    "b",
    "B",
    "ab",
    "abc",
    "Ab",
    "a b",
    "e",
    "é",
    "É",
    "éa",
    "ß",
    "ss",
    "😀",
    "a😀",
    "z",
    "Z",
    "~",
    "0",
    "10",
    "9",
    "_",
    "%",
    "'",
    '"',
    "\\",
    "IDF",
    "x'); drop table contacts; --",
)
_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00", max_codepoint=0x1F600)
texts = st.one_of(st.sampled_from(TEXT_POOL), st.text(_CHARS, max_size=5))
# Numbers with ties across types: 2 and 2.0, -0.0, halves, negatives.
NUMBER_POOL = (0, -0.0, 0.5, -0.5, 1, 1.0, 2, 2.0, 2.5, -3, -3.0, 7, 10, 99.99, -1000, 1e-9)
numbers = st.one_of(
    st.sampled_from(NUMBER_POOL),
    st.integers(min_value=-1000, max_value=1000),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
integers = st.one_of(st.sampled_from((0, 1, 2, -1, 7, 10, -1000)), st.integers(-1000, 1000))
# Literals for integer fields: whole numbers (beyond 32 bits too), halves and arbitrary floats.
integer_literals = st.one_of(
    integers,
    st.sampled_from((3_000_000_000, -3_000_000_000, 2**63 - 1)),
    integers.map(float),
    integers.map(lambda v: v + 0.5),
    st.floats(min_value=-2000, max_value=2000, allow_nan=False),
)
# Ages far outside the calendar too (birth years before 1 or after 9999).
age_literals = st.one_of(
    st.integers(min_value=-3, max_value=130),
    st.integers(min_value=-3, max_value=130).map(lambda v: v + 0.5),
    st.sampled_from((-8000, -7900, -1000, 2025, 2026, 2027, 5000, 12000)),
)
DURATIONS = tuple(
    timedelta(seconds=s) for s in (0, 1, 3600, 12 * 3600, 86400, 30 * 86400, 366 * 86400)
)
durations = st.one_of(
    st.sampled_from(DURATIONS),
    st.integers(min_value=0, max_value=200 * 365 * 86400).map(lambda s: timedelta(seconds=s)),
)
CHANNELS = st.sampled_from(CONSENT_CHANNELS)
STAGES = tuple(stage.value for stage in Stage)


def _dates_near(today: date) -> st.SearchStrategy[date]:
    """Birthdays around today (±1 day, whole years ago), Feb 29s, the future, far past."""
    around_birthday = st.builds(
        lambda years, shift: (years_ago(today, years) or today) + timedelta(days=shift),
        st.integers(min_value=-2, max_value=120),
        st.sampled_from((-1, 0, 1)),
    )
    fixed = st.sampled_from(
        (
            date(2000, 2, 29),
            date(2024, 2, 29),
            date(1996, 2, 29),
            date(1996, 2, 28),
            date(1996, 3, 1),
            today,
            today - timedelta(days=30),
            today - timedelta(days=31),
            date(1, 1, 1),
            date(9999, 12, 31),
        )
    )
    anywhere = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
    return st.one_of(around_birthday, fixed, anywhere)


def _times_near(now: datetime) -> st.SearchStrategy[datetime]:
    back = st.one_of(
        st.sampled_from(DURATIONS),
        st.integers(min_value=-86400, max_value=400 * 86400).map(lambda s: timedelta(seconds=s)),
    )
    exact_day = st.builds(
        lambda d: datetime(d.year, d.month, d.day, tzinfo=UTC), _dates_near(now.date())
    )
    return st.one_of(back.map(lambda delta: now - delta), exact_day)


@dataclass(frozen=True)
class Pools:
    """Where generated values come from: wide ranges, or a few values that collide often."""

    texts: st.SearchStrategy[str]
    numbers: st.SearchStrategy[int | float]
    integers: st.SearchStrategy[int]
    integer_literals: st.SearchStrategy[int | float]
    age_literals: st.SearchStrategy[int | float]
    days: Callable[[date], st.SearchStrategy[date]]


def tiny_days(today: date) -> tuple[date, ...]:
    thirty = years_ago(today, 30) or today
    return (
        today,
        today - timedelta(days=1),
        thirty,
        thirty + timedelta(days=1),
        date(1996, 2, 29),
        date(1996, 3, 1),
    )


def _tiny_days(today: date) -> st.SearchStrategy[date]:
    return st.sampled_from(tiny_days(today))


TINY_TEXTS = ("", "a", "A", "ab", "é", "É", "ß", "😀")
TINY_NUMBERS = (-1, -0.0, 0, 0.5, 1, 1.0, 2, 2.5)
TINY_INTEGERS = (-1, 0, 1, 2)
TINY_INTEGER_LITERALS = (-1, 0, 0.5, 1, 1.0, 1.5, 2, 2.5, 3)
TINY_AGES = (-1, 0, 29, 29.5, 30, 30.5, 31, 130)


WIDE = Pools(texts, numbers, integers, integer_literals, age_literals, _dates_near)
TINY = Pools(
    texts=st.sampled_from(TINY_TEXTS),
    numbers=st.sampled_from(TINY_NUMBERS),
    integers=st.sampled_from(TINY_INTEGERS),
    integer_literals=st.sampled_from(TINY_INTEGER_LITERALS),
    age_literals=st.sampled_from(TINY_AGES),
    days=_tiny_days,
)


# ---- generated contacts -----------------------------------------------------------------------


def contact_rows(pools: Pools, moment: Moment) -> st.SearchStrategy[dict[str, Any]]:
    """One contact's columns, typed attributes (absent, JSON null or a value) and consent
    ledger rows in the order they were recorded."""
    maybe = st.none
    attributes = {
        "n": pools.integers,
        "x": pools.numbers,
        "b": st.booleans(),
        "t": pools.texts,
        "d": pools.days(moment.today).map(date.isoformat),
        "job": pools.texts,
    }
    attrs = st.fixed_dictionaries(
        {}, optional={key: maybe() | values for key, values in attributes.items()}
    )
    return st.fixed_dictionaries(
        {
            **{column: maybe() | pools.texts for column in TEXT_COLUMNS},
            "birth_date": maybe() | pools.days(moment.today),
            "age": maybe() | st.integers(min_value=-2, max_value=130),
            "stage": st.sampled_from(STAGES),
            "fit": maybe() | pools.integers,
            "created_at": _times_near(moment.now),
            "attrs": attrs,
            "consent": st.lists(st.tuples(CHANNELS, st.booleans()), max_size=4),
        }
    )


# ---- generated criteria -----------------------------------------------------------------------

Literals = st.SearchStrategy[Value]


def _compare(
    fields: list[str], values: Literals, ops: tuple[str, ...] = COMPARE_OPS
) -> st.SearchStrategy[Expr]:
    return st.builds(
        Compare, st.sampled_from(fields).map(Field), st.sampled_from(ops), values.map(Literal_)
    )


def _in_list(fields: list[str], values: Literals) -> st.SearchStrategy[Expr]:
    return st.builds(
        InList,
        st.sampled_from(fields).map(Field),
        st.lists(values.map(Literal_), min_size=1, max_size=4).map(tuple),
        st.booleans(),
    )


def _ordered(fields: list[str], values: Literals) -> list[st.SearchStrategy[Expr]]:
    return [
        _compare(fields, values),
        st.builds(Between, st.sampled_from(fields).map(Field), *[values.map(Literal_)] * 2),
        _in_list(fields, values),
        _is_null(fields),
    ]


def _is_null(fields: list[str]) -> st.SearchStrategy[Expr]:
    return st.builds(IsNull, st.sampled_from(fields).map(Field), st.booleans())


def _within(fields: list[str]) -> st.SearchStrategy[Expr]:
    return st.builds(Within, st.sampled_from(fields).map(Field), durations.map(Literal_))


def text_predicates(pools: Pools) -> st.SearchStrategy[Expr]:
    fields = [*TEXT_COLUMNS, "attrs.t", "job", "attrs.job", "JOB"]
    needle = pools.texts.map(Literal_)
    stage = ["stage"]
    stages = st.sampled_from(STAGES)
    return st.one_of(
        *_ordered(fields, pools.texts),
        st.builds(
            TextMatch,
            st.sampled_from(fields).map(Field),
            st.sampled_from(["contains", "startswith"]),
            needle,
        ),
        _compare(stage, stages, ("=", "!=")),
        _in_list(stage, stages),
        _is_null(stage),
    )


def number_predicates(pools: Pools) -> st.SearchStrategy[Expr]:
    return st.one_of(
        *_ordered(["fit", "attrs.n", "n"], pools.integer_literals),
        *_ordered(["attrs.x", "x"], st.one_of(pools.numbers, pools.integer_literals)),
        *_ordered(["age"], pools.age_literals),
    )


def date_predicates(pools: Pools, moment: Moment) -> st.SearchStrategy[Expr]:
    days = pools.days(moment.today)
    return st.one_of(
        *_ordered(["birth_date", "attrs.d", "d", "created_at"], days),
        _within(["birth_date", "attrs.d", "created_at"]),
        *_ordered(["age"], pools.age_literals),
    )


def boolean_predicates() -> st.SearchStrategy[Expr]:
    fields = ["attrs.b", "b", *(f"consent.{channel}" for channel in CONSENT_CHANNELS)]
    return st.one_of(
        _compare(fields, st.booleans(), ("=", "!=")),
        _in_list(fields, st.booleans()),
        _is_null(fields),
    )


def _combine(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    items = st.lists(children, min_size=2, max_size=3).map(tuple)
    return st.one_of(st.builds(And, items), st.builds(Or, items), st.builds(Not, children))


def trees(leaves: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.recursive(leaves, _combine, max_leaves=6)


# ---- the comparison ---------------------------------------------------------------------------


def facts_of(contact: Contact, consent: dict[str, bool]) -> dict[str, Any]:
    """A contact as the Python evaluator sees it: columns, `attrs`, current consent."""
    facts: dict[str, Any] = {name: getattr(contact, name) for name in FACT_COLUMNS}
    facts["attrs"] = dict(contact.attrs or {})
    facts["consent"] = dict(consent)
    return facts


def insert_contacts(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    contacts = []
    for row in rows:
        values = {k: v for k, v in row.items() if k != "consent"}
        contacts.append(Contact(updated_at=values["created_at"], **values))
    session.add_all(contacts)
    session.flush()
    for contact, row in zip(contacts, rows, strict=True):
        for channel, granted in row["consent"]:
            record = ConsentRecord(
                contact_id=contact.id,
                channel=channel,
                granted=granted,
                source="test",
                recorded_at=row["created_at"],
            )
            session.add(record)
    session.flush()  # the newest row is the one with the highest id, read back as such
    return [contact.id for contact in contacts]


def seen_contacts(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Facts of each contact as read back from the database (latest consent row wins)."""
    session.expire_all()
    consent: dict[int, dict[str, bool]] = {i: {} for i in ids}
    ledger = select(ConsentRecord).where(ConsentRecord.contact_id.in_(ids))
    for record in session.scalars(ledger.order_by(ConsentRecord.id)):
        consent[record.contact_id][record.channel] = record.granted
    current = bulk_repository.current_consent(session, ids)
    assert {(i, c): g for i, by in consent.items() for c, g in by.items()} == current
    contacts = session.scalars(select(Contact).where(Contact.id.in_(ids)))
    return {c.id: facts_of(c, consent[c.id]) for c in contacts}


def selections(
    session: Session, criteria: Criteria, ids: list[int], moment: Moment
) -> tuple[set[int], set[int]]:
    """(ids the Python evaluator accepts, ids the SQL condition selects)."""
    seen = seen_contacts(session, ids)
    by_python = {i for i, facts in seen.items() if evaluate(criteria, facts, moment) is True}
    query = select(Contact.id).where(Contact.id.in_(ids), to_sql(criteria, FIELDS, moment))
    by_sql = set(session.scalars(query))
    return by_python, by_sql


def _leaves(family: str, pools: Pools, moment: Moment) -> st.SearchStrategy[Expr]:
    if family == "text":
        return text_predicates(pools)
    if family == "numbers":
        return number_predicates(pools)
    if family == "dates":
        return date_predicates(pools, moment)
    if family == "booleans":
        return boolean_predicates()
    return st.one_of(
        text_predicates(pools),
        number_predicates(pools),
        date_predicates(pools, moment),
        boolean_predicates(),
    )


@cache
def _strategies(family: str, tiny: bool, moment: Moment) -> tuple[Any, Any]:
    """Built once per family and moment: rebuilding strategies per example costs seconds."""
    pools = TINY if tiny else WIDE
    rows = st.lists(contact_rows(pools, moment), min_size=5, max_size=20)
    return rows, trees(_leaves(family, pools, moment))


def _agree(session: Session, data: st.DataObject, family: str, tiny: bool | None = None) -> None:
    moment = data.draw(st.sampled_from(MOMENTS), label="moment")
    if tiny is None:  # half the examples over tiny domains, where values collide
        tiny = data.draw(st.booleans(), label="tiny")
    contacts, criteria_trees = _strategies(family, tiny, moment)
    rows = data.draw(contacts, label="contacts")
    expr = data.draw(criteria_trees, label="criteria")
    # Through the text form, as a user would write it.
    criteria = compile_criteria(to_text(expr), REGISTRY)
    savepoint = session.begin_nested()
    try:
        ids = insert_contacts(session, rows)
        by_python, by_sql = selections(session, criteria, ids, moment)
    finally:
        savepoint.rollback()
    assert by_sql == by_python, f"{criteria.text!r} at {moment.now.isoformat()}"


@SETTINGS
@given(data=st.data())
def test_text_and_stage(session: Session, data: st.DataObject) -> None:
    _agree(session, data, "text")


@SETTINGS
@given(data=st.data())
def test_numbers_and_age(session: Session, data: st.DataObject) -> None:
    _agree(session, data, "numbers")


@SETTINGS
@given(data=st.data())
def test_dates_times_and_age(session: Session, data: st.DataObject) -> None:
    _agree(session, data, "dates")


@SETTINGS
@given(data=st.data())
def test_booleans_and_consent(session: Session, data: st.DataObject) -> None:
    _agree(session, data, "booleans")


@settings(SETTINGS, max_examples=80)
@given(data=st.data())
def test_everything_mixed(session: Session, data: st.DataObject) -> None:
    _agree(session, data, "mixed", tiny=False)


@settings(SETTINGS, max_examples=80)
@given(data=st.data())
def test_everything_over_tiny_domains(session: Session, data: st.DataObject) -> None:
    # A handful of values per type: literals hit stored values and boundaries all the time.
    _agree(session, data, "mixed", tiny=True)


# ---- every leaf predicate over tiny domains, exhaustively -------------------------------------


def _tiny_contacts(moment: Moment) -> list[dict[str, Any]]:
    """Rows that together take every tiny value (and None) of every field."""
    days = tiny_days(moment.today)
    ledgers: list[list[tuple[str, bool]]] = [
        [],
        [("email", True)],
        [("email", False)],
        [("email", True), ("email", False)],
        [("email", False), ("email", True)],
    ]

    def pick(pool: tuple[Any, ...], i: int) -> Any:
        return None if i % (len(pool) + 1) == len(pool) else pool[i % (len(pool) + 1)]

    rows = []
    for i in range(18):
        day = pick(days, i)
        attrs = {
            "n": pick(TINY_INTEGERS, i),
            "x": pick(TINY_NUMBERS, i + 3),
            "b": pick((True, False), i),
            "t": pick(TINY_TEXTS, i + 1),
            "d": day.isoformat() if day is not None else None,
        }
        rows.append(
            {
                "city": pick(TINY_TEXTS, i),
                "birth_date": pick(days, i + 2) if i % 3 else None,
                "age": pick((29, 30, 31), i),
                "stage": STAGES[i % 2],
                "fit": pick(TINY_INTEGERS, i + 1),
                "created_at": datetime.combine(days[i % len(days)], datetime.min.time(), UTC)
                + timedelta(hours=12 * (i % 3)),
                "attrs": {k: v for k, v in attrs.items() if i % 7 != 0 or k != "n"},
                "consent": ledgers[i % len(ledgers)],
            }
        )
    return rows


def _tiny_leaves(subject: Field, pool: tuple[Any, ...]) -> list[Expr]:
    """Null tests, every comparison, every `between` and two-value `in` / `not in`."""
    out: list[Expr] = [IsNull(subject), IsNull(subject, negated=True)]
    for value in pool:
        out += [Compare(subject, op, Literal_(value)) for op in COMPARE_OPS]
    for low in pool:
        for high in pool:
            out.append(Between(subject, Literal_(low), Literal_(high)))
            for negated in (False, True):
                out.append(InList(subject, (Literal_(low), Literal_(high)), negated))
    return out


def _tiny_predicates(moment: Moment) -> list[Expr]:
    days = tiny_days(moment.today)
    out: list[Expr] = []
    for name in ("city", "attrs.t"):
        out += _tiny_leaves(Field(name), TINY_TEXTS)
        for value in TINY_TEXTS:
            out += [
                TextMatch(Field(name), "contains", Literal_(value)),
                TextMatch(Field(name), "startswith", Literal_(value)),
            ]
    for name in ("fit", "attrs.n"):
        out += _tiny_leaves(Field(name), TINY_INTEGER_LITERALS)
    out += _tiny_leaves(Field("attrs.x"), (*TINY_NUMBERS, 1.5, 3))
    out += _tiny_leaves(Field("age"), TINY_AGES)
    for name in ("birth_date", "attrs.d", "created_at"):
        out += _tiny_leaves(Field(name), days)
        out += [Within(Field(name), Literal_(duration)) for duration in DURATIONS]
    for name in ("attrs.b", "consent.email", "consent.sms"):
        out += [IsNull(Field(name)), IsNull(Field(name), negated=True)]
        for flag in (True, False):
            out += [Compare(Field(name), op, Literal_(flag)) for op in ("=", "!=")]
        out += [InList(Field(name), (Literal_(True), Literal_(False)), n) for n in (False, True)]
    for stage in STAGES[:3]:
        out += [Compare(Field("stage"), op, Literal_(stage)) for op in ("=", "!=")]
    return out


@pytest.mark.parametrize("moment", MOMENTS, ids=lambda m: m.now.date().isoformat())
def test_every_tiny_predicate(session: Session, moment: Moment) -> None:
    """Each leaf predicate, all literal combinations of a few values, both back ends."""
    savepoint = session.begin_nested()
    try:
        ids = insert_contacts(session, _tiny_contacts(moment))
        seen = seen_contacts(session, ids)
        checked = [check(expr, REGISTRY) for expr in _tiny_predicates(moment)]
        mismatches = []
        for start in range(0, len(checked), 250):
            chunk = checked[start : start + 250]
            columns = [
                case((to_sql(c, FIELDS, moment), 1), else_=0).label(f"p{i}")
                for i, c in enumerate(chunk)
            ]
            rows = session.execute(select(Contact.id, *columns).where(Contact.id.in_(ids)))
            for row in rows:
                facts = seen[row[0]]
                for criteria, by_sql in zip(chunk, row[1:], strict=True):
                    by_python = evaluate(criteria, facts, moment) is True
                    if by_python != bool(by_sql):
                        mismatches.append((criteria.text, row[0], by_python))
    finally:
        savepoint.rollback()
    assert len(checked) > 2000
    assert mismatches == [], mismatches[:5]


# ---- bound parameters -------------------------------------------------------------------------

EVIL = "x'); drop table contacts; --"


DIALECTS: list[Any] = [sqlite.dialect(), postgresql.dialect()]  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("dialect", DIALECTS, ids=["sqlite", "postgresql"])
def test_values_are_bound_parameters(dialect: Any) -> None:
    text = (
        f'region = "{EVIL}" or job contains "{EVIL}" or city startswith "{EVIL}" '
        f'or company in ("{EVIL}", "b") or attrs.t between "{EVIL}" and "~" '
        "or fit = 123456789 or birth_date < 1987-06-05 or age between 41 and 43"
    )
    criteria = compile_criteria(text, REGISTRY)
    statement = select(Contact.id).where(to_sql(criteria, FIELDS, MOMENTS[0]))
    compiled = statement.compile(dialect=dialect)
    sql = str(compiled)
    for literal in (EVIL, "drop table", "123456789", "1987", "41", "43"):
        assert literal not in sql
    params = list(compiled.params.values())
    flat = [v for p in params for v in (p if isinstance(p, list) else [p])]
    assert flat.count(EVIL) == 5
    assert 123456789 in flat
    assert date(1987, 6, 5) in flat


# ---- bugs these tests found, one minimal reproduction each (all fixed) ------------------


def _run(
    session: Session, text: str, rows: list[dict[str, Any]], moment: Moment = MOMENTS[0]
) -> tuple[list[bool], list[bool]]:
    """(Python selects, SQL selects) per row, in order."""
    base = {"stage": "contact", "created_at": moment.now, "attrs": {}, "consent": []}
    full = [{**base, **row} for row in rows]
    criteria = compile_criteria(text, REGISTRY)
    savepoint = session.begin_nested()
    try:
        ids = insert_contacts(session, full)
        by_python, by_sql = selections(session, criteria, ids, moment)
    finally:
        savepoint.rollback()
    return [i in by_python for i in ids], [i in by_sql for i in ids]


def _on(session: Session) -> str:
    return session.get_bind().dialect.name


def test_age_far_below_zero(request: pytest.FixtureRequest, session: Session) -> None:
    rows: list[dict[str, Any]] = [{"birth_date": date(1970, 1, 1)}, {"age": 50}]
    assert _run(session, "age = -8000", rows) == ([False, False], [False, False])
    assert _run(session, "age between -8000 and 30", rows) == ([False, False], [False, False])


def test_in_list_of_int_then_float(request: pytest.FixtureRequest, session: Session) -> None:
    assert _run(session, "attrs.x in (2, 2.4)", [{"attrs": {"x": 2.4}}]) == ([True], [True])
    assert _run(session, "attrs.n in (1, 2.5)", [{"attrs": {"n": 2}}]) == ([False], [False])


def test_integer_attribute_beyond_int4(request: pytest.FixtureRequest, session: Session) -> None:
    # The importer infers `integer` for up to 18 digits; PostgreSQL casts attrs to int4.
    rows = [{"attrs": {"n": 3_000_000_000}}, {"attrs": {"n": 5}}]
    assert _run(session, "n > 1000", rows) == ([True, False], [True, False])


def test_big_integer_literal_int4(request: pytest.FixtureRequest, session: Session) -> None:
    rows = [{"fit": 2, "attrs": {"n": 2}}]
    assert _run(session, "fit < 3000000000 and n < 3000000000", rows) == ([True], [True])


def test_huge_integer_literal(request: pytest.FixtureRequest, session: Session) -> None:
    # Refused before any SQL runs: no engine stores such a number.
    with pytest.raises(CriteriaError, match="too large a number"):
        compile_criteria("fit < 99999999999999999999", REGISTRY)


def test_number_attribute_beyond_float_precision(
    request: pytest.FixtureRequest, session: Session
) -> None:
    # An integer attribute widened to `number` keeps its int values; `number` fields are
    # doubles in both back ends (2**53 + 1 reads as 2**53), so they agree.
    rows = [{"attrs": {"x": 2**53 + 1}}]
    assert _run(session, f"x > {2**53}", rows) == ([False], [False])


def test_consent_of_another_purpose(request: pytest.FixtureRequest, session: Session) -> None:
    # consent_of / current_consent read the marketing purpose only; consent.<channel> in SQL
    # reads the newest row of any purpose.
    savepoint = session.begin_nested()
    try:
        now = MOMENTS[0].now
        contact = Contact(stage="contact", attrs={}, created_at=now, updated_at=now)
        session.add(contact)
        session.flush()
        for purpose, granted in (("marketing", True), ("ad_audience", False)):
            session.add(
                ConsentRecord(
                    contact_id=contact.id,
                    channel="email",
                    purpose=purpose,
                    granted=granted,
                    source="test",
                    recorded_at=now,
                )
            )
            session.flush()
        seen = repository.consent_of(session, contact.id)
        criteria = compile_criteria("consent.email = true", REGISTRY)
        by_python = evaluate(criteria, {"consent": seen}, MOMENTS[0])
        query = select(Contact.id).where(
            Contact.id == contact.id, to_sql(criteria, FIELDS, MOMENTS[0])
        )
        by_sql = session.scalars(query).one_or_none() is not None
    finally:
        savepoint.rollback()
    assert (seen, by_python, by_sql) == ({"email": True}, True, True)
