"""Counts of criteria on the imported bank-marketing data equal the same filters in pandas.

The file is imported once per backend for the module, inside a transaction rolled back at the
end (nothing is committed). pandas reads the original CSV with its original column names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeAlias

import pandas as pd  # type: ignore[import-untyped]  # no stubs installed
import pytest
from sqlalchemy.orm import Session

from leadsift.config import Settings
from leadsift.contacts import repository, service
from leadsift.contacts.criteria_fields import contact_registry
from leadsift.contacts.repository import ContactSqlFields, count_contacts
from leadsift.contacts.schemas import ImportOptions
from leadsift.criteria import FieldRegistry, Moment, compile_criteria
from leadsift.criteria.sql import to_sql
from leadsift.db import Database
from tests.conftest import BACKENDS, shared_data

BANK = ("bank-marketing", "bank-additional-full.csv.gz")
MOMENT = Moment(datetime(2026, 11, 22, 12, 0, tzinfo=UTC))
Frame: TypeAlias = Any  # a pandas DataFrame (pandas has no stubs here)
Mask: TypeAlias = Callable[[Frame], Any]  # the rows a filter keeps, as a boolean Series


@pytest.fixture(scope="module")
def bank_csv() -> Path:
    return shared_data(*BANK)


@pytest.fixture(scope="module")
def frame(bank_csv: Path) -> Frame:
    return pd.read_csv(bank_csv, sep=";")


@pytest.fixture(scope="module", params=BACKENDS)
def bank(
    request: pytest.FixtureRequest, databases: dict[str, Database], bank_csv: Path
) -> Iterator[tuple[Session, FieldRegistry]]:
    """The bank file imported with generated ids, in a transaction rolled back afterwards."""
    connection = databases[request.param].engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        summary = service.import_contacts(
            session, bank_csv, ImportOptions(generate_ids=True), settings=Settings()
        )
        assert (summary.created, summary.rejected) == (41_188, 0)
        types = {k: d.value_type for k, d in repository.attribute_definitions(session).items()}
        yield session, contact_registry(types)
    finally:
        session.close()
        transaction.rollback()
        connection.close()


def test_the_import_has_the_expected_shape(
    bank: tuple[Session, FieldRegistry], frame: Frame
) -> None:
    session, registry = bank
    assert count_contacts(session) == len(frame) == 41_188
    assert registry.fields["y"].value_type == "boolean"
    assert registry.fields["duration"].value_type == "integer"
    assert registry.fields["emp_var_rate"].value_type == "number"
    assert registry.fields["job"].kind == "attribute"
    assert registry.fields["age"].kind == "age"  # the standard field, not an attribute


CASES: list[tuple[str, Mask]] = [
    ("age between 25 and 35", lambda f: f.age.between(25, 35)),
    (
        'age between 25 and 35 and job = "admin."',
        lambda f: f.age.between(25, 35) & (f.job == "admin."),
    ),
    (
        'marital in ("married", "single") and y = true',
        lambda f: f.marital.isin(["married", "single"]) & (f.y == "yes"),
    ),
    (
        "duration > 300 and emp_var_rate >= 1.1",
        lambda f: (f.duration > 300) & (f["emp.var.rate"] >= 1.1),
    ),
    (
        'education startswith "university" and not housing = "yes"',
        lambda f: f.education.str.startswith("university") & ~(f.housing == "yes"),
    ),
    ('job contains "tech"', lambda f: f.job.str.contains("tech", regex=False)),
    (
        'pdays != 999 or poutcome = "success"',
        lambda f: (f.pdays != 999) | (f.poutcome == "success"),
    ),
    (
        'age >= 60 and campaign <= 2 and contact = "cellular" and euribor3m < 1.5 '
        'and loan in ("no", "unknown")',
        lambda f: (
            (f.age >= 60)
            & (f.campaign <= 2)
            & (f.contact == "cellular")
            & (f.euribor3m < 1.5)
            & f.loan.isin(["no", "unknown"])
        ),
    ),
    (
        'not (marital = "married" or y = false) and attrs.default != "unknown"',
        lambda f: ~((f.marital == "married") | (f.y == "no")) & (f.default != "unknown"),
    ),
    (
        "cons_conf_idx between -42.7 and -36.4 and nr_employed < 5100",
        lambda f: f["cons.conf.idx"].between(-42.7, -36.4) & (f["nr.employed"] < 5100),
    ),
    (
        'age not in (30, 31, 32) and month in ("may", "jun") and day_of_week != "fri"',
        lambda f: (
            ~f.age.isin([30, 31, 32]) & f.month.isin(["may", "jun"]) & (f.day_of_week != "fri")
        ),
    ),
    (
        'job < "m" and (age < 25.5 or age > 59) and previous >= 1',
        lambda f: (f.job < "m") & ((f.age < 25.5) | (f.age > 59)) & (f.previous >= 1),
    ),
    ("age is null or duration is null or attrs.y is null", lambda f: f.age.isna()),
]


@pytest.mark.parametrize(("text", "mask"), CASES, ids=[text for text, _ in CASES])
def test_counts_equal_pandas(
    bank: tuple[Session, FieldRegistry], frame: Frame, text: str, mask: Mask
) -> None:
    session, registry = bank
    criteria = compile_criteria(text, registry)
    expected = int(mask(frame).sum())
    assert count_contacts(session, to_sql(criteria, ContactSqlFields(), MOMENT)) == expected
