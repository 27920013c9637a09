"""The quality the issue asks for, on the real data after a generic import (SQLite; the learning
is the same on PostgreSQL, whose feature reading the other predictive tests cover).

Bank marketing, label `y`, `duration` excluded (only known after the call): 5-fold ROC AUC ≥ 0.79;
trained on the first 80 % of rows in file order, ROC AUC ≥ 0.74 on the last 20 % with a drift
warning, and the model kept is not plain gradient boosting (which falls to about 0.65 there).
Online shoppers, label `Revenue`: 5-fold ROC AUC ≥ 0.92. Brier no worse than a plain logistic
regression on the same folds; the naive-Bayes reference is reported beside.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from leadsift.contacts import service as contacts
from leadsift.contacts.schemas import ImportOptions
from leadsift.db import Database
from leadsift.kit.clock import utcnow
from leadsift.scoring.schemas import TrainRequest
from leadsift.scoring.training import train_model
from tests.conftest import shared_data


def _imported(database: Database, path: Path) -> Iterator[Session]:
    connection = database.engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        contacts.import_contacts(session, path, ImportOptions(generate_ids=True))
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture(scope="module")
def own_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A database of this module's own: the bank stays imported while shoppers are tried."""
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('real') / 'real.db'}").ready()
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def bank(own_database: Database) -> Iterator[Session]:
    path = shared_data("bank-marketing", "bank-additional-full.csv.gz")
    yield from _imported(own_database, path)


def test_bank_marketing_cross_validated(bank: Session) -> None:
    request = TrainRequest(label="y", positive="yes", exclude=["duration"], activate=False)
    summary = train_model(bank, request, utcnow())
    assert (summary.rows, summary.positives) == (41_188, 4_640)
    assert summary.metrics["roc_auc"] >= 0.79
    assert summary.metrics["brier"] <= summary.candidates["plain_logistic"]["brier"] + 1e-4
    assert 0.5 < summary.candidates["naive_bayes_reference"]["roc_auc"] < 0.9
    assert "duration" in {item.field for item in summary.excluded}


def test_bank_marketing_on_the_last_fifth(bank: Session) -> None:
    request = TrainRequest(
        label="y",
        positive="yes",
        exclude=["duration"],
        holdout_last=0.2,
        order_by="id",
        activate=False,
    )
    summary = train_model(bank, request, utcnow())
    assert summary.holdout is not None
    assert summary.holdout["rows"] == 8_238
    assert summary.holdout["metrics"]["roc_auc"] >= 0.74
    assert any(warning.startswith("drift") for warning in summary.warnings)
    trees = summary.candidates["lightgbm"]["holdout_roc_auc"]
    assert summary.holdout["metrics"]["roc_auc"] > trees  # the model kept survives the drift


def test_online_shoppers(tmp_path: Path) -> None:
    path = shared_data("online-shoppers", "online_shoppers_intention.csv.gz")
    database = Database(f"sqlite:///{tmp_path / 'shoppers.db'}").ready()
    for session in _imported(database, path):
        request = TrainRequest(label="Revenue", positive="true", activate=False)
        summary = train_model(session, request, utcnow())
        assert summary.rows == 12_330
        assert summary.metrics["roc_auc"] >= 0.92
        assert summary.metrics["brier"] <= summary.candidates["plain_logistic"]["brier"] + 1e-4
    database.dispose()
