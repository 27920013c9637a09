"""Everyone's features read in bulk (`model score`) equal those of the general query, value for
value, on both engines: odd attribute values, birth dates, stages, categories the model does
not keep, and the cases the bulk read hands back to the general query."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from leadsift.contacts import service as contacts
from leadsift.contacts.models import Contact, ContactPrediction
from leadsift.contacts.schemas import ImportOptions
from leadsift.kit.bulk import is_postgres
from leadsift.kit.clock import utcnow
from leadsift.scoring import feature_repository, service
from leadsift.scoring.dataset import CategoryCodes, FeatureEncoding, encode
from leadsift.scoring.predictor import ModelFeatures
from leadsift.scoring.schemas import TrainRequest
from leadsift.scoring.training import train_model
from tests.files import write_csv

HEADER = ["email", "age", "plan", "visits", "score", "vip", "bought"]
PLANS = ["free", "basic", "pro", "team"]
# Values the import would not write, put straight into the attributes afterwards: each must be
# read by the bulk path exactly as the general query reads it (or handed back to it).
ODD: list[dict[str, Any]] = [
    {"plan": None},  # JSON null
    {"plan": ""},
    {"plan": "tab\there"},
    {"plan": "back\\slash"},
    {"plan": "new\nline"},
    {"plan": "éàü ✓"},
    {"plan": 5},  # a number in a text attribute: its text
    {"plan": True},
    {"visits": "12"},  # a number written as text in a number attribute: cast by the server
    {"visits": None},
    {"score": 1e150},
    {"score": -0.0},
    {"score": 0.1},
    {"score": 123456789012345678},
    {"vip": None},
]


@pytest.fixture
def workspace(session: Session, tmp_path: Path) -> list[int]:
    """Imported contacts, then odd values, birth dates and stages written in place."""
    rows = [
        [
            f"c{i}@example.org",
            str(20 + i % 50),
            PLANS[i % 4],
            str(i % 13),
            f"{i * 0.37:.2f}",
            "yes" if i % 3 else "no",
            "yes" if i % 5 == 0 else "no",
        ]
        for i in range(300)
    ]
    contacts.import_contacts(session, write_csv(tmp_path / "c.csv", HEADER, rows), ImportOptions())
    ids = list(session.scalars(select(Contact.id).order_by(Contact.id)))
    for contact_id, change in zip(ids, ODD, strict=False):
        contact = session.get(Contact, contact_id)
        assert contact is not None
        attributes = dict(contact.attrs)
        for key, value in change.items():
            attributes[key] = value
        contact.attrs = attributes
    for contact_id in ids[20:23]:
        contact = session.get(Contact, contact_id)
        assert contact is not None
        contact.attrs = {k: v for k, v in contact.attrs.items() if k not in ("plan", "visits")}
    session.execute(
        update(Contact).where(Contact.id.in_(ids[30:40])).values(birth_date=date(1980, 2, 29))
    )
    session.execute(update(Contact).where(Contact.id.in_(ids[40:60])).values(stage="qualified"))
    session.execute(update(Contact).where(Contact.id.in_(ids[60:65])).values(age=None))
    session.flush()
    return ids


def _model_features(kept_plans: tuple[str, ...]) -> ModelFeatures:
    return ModelFeatures(
        [
            FeatureEncoding("age", "number"),
            FeatureEncoding("plan", "category", kept_plans),
            FeatureEncoding("visits", "number"),
            FeatureEncoding("score", "number"),
            FeatureEncoding("vip", "boolean"),
        ]
    )


def _both(session: Session, features: ModelFeatures, ids: list[int]) -> tuple[Any, Any, Any]:
    """The bulk frame, the general query's frame, and when they were read."""
    sources = service.sources_for(session, features, "test")
    kept = {e.name: e.categories for e in features.encodings if e.kind == "category"}
    now = utcnow()
    bulk = feature_repository.feature_frame(session, sources, now, categories=kept)
    general = feature_repository.feature_frame(session, sources, now, contact_ids=ids)
    return bulk, general, now


def _assert_same(bulk: Any, general: Any, features: ModelFeatures, now: Any) -> None:
    assert bulk.ids.tolist() == general.ids.tolist()
    assert list(bulk.stages) == list(general.stages)
    encodings = list(features.encodings)
    assert np.array_equal(
        encode(encodings, bulk.columns, now),
        encode(encodings, general.columns, now),
        equal_nan=True,
    )


def test_bulk_features_equal_the_general_query(session: Session, workspace: list[int]) -> None:
    # "team" is kept by this model; the empty text and the odd ones are "other" to it.
    features = _model_features(("pro", "free", "team", "", "5", "tab\there", "éàü ✓"))
    bulk, general, now = _both(session, features, workspace)
    _assert_same(bulk, general, features, now)
    if is_postgres(session):  # the bulk path did run (not handed back to the general query)
        assert isinstance(bulk.columns["plan"], CategoryCodes)
    assert list(general.stages).count("qualified") == 20
    assert general.columns["age"][30] != general.columns["age"][29]  # from the birth date


def test_a_model_without_kept_values_codes_everything_as_other_or_missing(
    session: Session, workspace: list[int]
) -> None:
    features = _model_features(())
    bulk, general, now = _both(session, features, workspace)
    _assert_same(bulk, general, features, now)


def test_an_unknown_stage_takes_the_general_query(session: Session, workspace: list[int]) -> None:
    session.execute(update(Contact).where(Contact.id == workspace[5]).values(stage="legacy"))
    session.flush()
    features = _model_features(("pro",))
    bulk, general, now = _both(session, features, workspace)
    _assert_same(bulk, general, features, now)
    assert "legacy" in list(bulk.stages)


def test_scoring_everyone_writes_what_one_by_one_gives(
    session: Session, workspace: list[int]
) -> None:
    train_model(session, TrainRequest(label="bought", positive="yes"), utcnow())
    now = utcnow()
    run = service.score_everyone(session, now)
    assert run.contacts == len(workspace)
    written = dict(
        session.execute(select(ContactPrediction.contact_id, ContactPrediction.probability)).all()
    )
    stored = service.active(session)
    model = service.load(session, stored)
    sources = service.sources_for(session, model, "test")
    general = feature_repository.feature_frame(session, sources, now, contact_ids=workspace)
    expected = model.predict(general.columns)
    assert [written[i] for i in general.ids.tolist()] == expected.tolist()


def test_no_contacts_no_rows(session: Session) -> None:
    session.execute(text("DELETE FROM contacts"))
    features = ModelFeatures([FeatureEncoding("age", "number")])
    sources = service.sources_for(session, features, "test")
    frame = feature_repository.feature_frame(session, sources, utcnow(), categories={})
    assert len(frame.ids) == 0
