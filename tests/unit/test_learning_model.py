"""Trained models: JSON documents, corruption, schema checks, explanations and encodings."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from leadsift.scoring import predictor
from leadsift.scoring.calibration import choose_method, fit_calibration
from leadsift.scoring.dataset import FeatureEncoding, FeatureValueError, TrainingData
from leadsift.scoring.evaluation import stratified_folds
from leadsift.scoring.learning import train
from leadsift.scoring.predictor import (
    ModelFileError,
    ModelSchemaError,
    PredictiveModel,
    _digest,
)
from tests.unit.test_learning import NOW, OPTIONS, interaction, synthetic


def columns_of(data: TrainingData, rows: slice = slice(None)) -> dict[str, list[Any]]:
    return {column.name: list(column.values[rows]) for column in data.features}


@pytest.fixture(scope="module")
def linear_data() -> TrainingData:
    return synthetic(1500, seed=11)


@pytest.fixture(scope="module")
def logistic(linear_data: TrainingData) -> PredictiveModel:
    model = train(linear_data, OPTIONS).model
    assert model.kind == "logistic"
    return model


@pytest.fixture(scope="module")
def trees() -> PredictiveModel:
    model = train(interaction(), OPTIONS).model
    assert model.kind == "lightgbm"
    return model


@pytest.fixture(params=["logistic", "trees"])
def case(
    request: pytest.FixtureRequest, linear_data: TrainingData
) -> tuple[PredictiveModel, TrainingData]:
    model = request.getfixturevalue(request.param)
    return model, linear_data if request.param == "logistic" else interaction()


def test_the_document_round_trips_through_json(case: tuple[PredictiveModel, TrainingData]) -> None:
    model, data = case
    text = json.dumps(model.to_document(), allow_nan=False)
    again = PredictiveModel.from_document(json.loads(text))
    columns = columns_of(data)
    expected = model.predict(columns, reference_time=NOW)
    assert np.array_equal(again.predict(columns, reference_time=NOW), expected)
    assert np.array_equal(
        PredictiveModel.from_document(text).predict(columns, reference_time=NOW), expected
    )
    assert again.kind == model.kind
    assert again.feature_names == model.feature_names
    assert again.feature_kinds == model.feature_kinds
    assert ((expected >= 0) & (expected <= 1)).all()


def file_error(document: Any) -> str:
    with pytest.raises(ModelFileError) as caught:
        PredictiveModel.from_document(document)
    assert caught.value.code == "model_file_corrupt"
    return str(caught.value)


def test_a_truncated_file_is_told(trees: PredictiveModel) -> None:
    text = json.dumps(trees.to_document())
    assert file_error(text[: len(text) // 2]).startswith("the model file is not valid JSON")
    document = trees.to_document()
    document["model"]["scorer"]["trees"] = document["model"]["scorer"]["trees"][:5000]
    assert "does not match its sha256 checksum (truncated or edited)" in file_error(document)


def test_an_altered_number_is_told(logistic: PredictiveModel) -> None:
    document = logistic.to_document()
    document["model"]["scorer"]["intercept"] += 0.001
    assert "does not match its sha256 checksum" in file_error(document)


def test_another_version_or_format_is_told(logistic: PredictiveModel) -> None:
    document = logistic.to_document()
    document["format_version"] = 2
    assert file_error(document) == (
        "the model file has format version 2; this leadsift reads version 1: train the model again"
    )
    assert "not a leadsift predictive model" in file_error({"hello": "world"})
    assert "not a leadsift predictive model" in file_error([1, 2, 3])
    del document["format_version"]
    assert "format version None" in file_error(document)


def resealed(document: dict[str, Any]) -> dict[str, Any]:
    """The document with a checksum matching its (edited) body: only content checks remain."""
    document["sha256"] = _digest(document["model"])
    return document


def test_content_that_makes_no_sense_is_told(
    trees: PredictiveModel, logistic: PredictiveModel
) -> None:
    document = trees.to_document()
    document["model"]["scorer"]["trees"] = "not a tree"
    assert file_error(resealed(document)).startswith("the model file is corrupt: LightGBM cannot")
    document = logistic.to_document()
    del document["model"]["calibration"]
    assert file_error(resealed(document)) == "the model file is corrupt: 'calibration'"
    document = logistic.to_document()
    document["model"]["scorer"]["terms"].pop()
    assert "not one term per feature" in file_error(resealed(document))
    document = copy.deepcopy(logistic.to_document())
    document["model"]["features"][0]["kind"] = "colour"
    assert "bad feature 'age' of kind 'colour'" in file_error(resealed(document))


def test_check_schema_names_missing_and_retyped_features(logistic: PredictiveModel) -> None:
    kinds = dict(logistic.feature_kinds)
    logistic.check_schema(kinds)
    del kinds["visits"]
    kinds["plan"] = "number"
    with pytest.raises(ModelSchemaError) as caught:
        logistic.check_schema(kinds)
    assert caught.value.code == "model_schema_mismatch"
    assert str(caught.value) == (
        "the model was trained on another schema: 'visits' is missing; 'plan' is now a number"
        " (the model has a category). Train the model again."
    )


def test_predict_needs_every_feature(logistic: PredictiveModel, linear_data: TrainingData) -> None:
    columns = columns_of(linear_data)
    del columns["newsletter"]
    with pytest.raises(ModelSchemaError, match=r"lacks the feature\(s\) newsletter"):
        logistic.predict(columns)
    columns = columns_of(linear_data)
    columns["age"] = columns["age"][:10]
    with pytest.raises(ModelSchemaError, match="differ in length"):
        logistic.predict(columns)
    assert logistic.predict(columns_of(linear_data, slice(0, 0))).shape == (0,)


def test_explanations_add_up_to_the_score(case: tuple[PredictiveModel, TrainingData]) -> None:
    model, data = case
    columns = columns_of(data, slice(0, 40))
    probabilities = model.predict(columns, reference_time=NOW)
    for index in range(40):
        row = {name: values[index] for name, values in columns.items()}
        explained = model.explain(row, reference_time=NOW)
        total = explained.base + sum(c.contribution for c in explained.contributions)
        assert total == pytest.approx(explained.raw_output, abs=1e-9)
        assert explained.probability == pytest.approx(float(probabilities[index]), abs=1e-12)
        assert [c.feature for c in explained.contributions] != []
        assert sorted(c.feature for c in explained.contributions) == sorted(model.feature_names)
        sizes = [abs(c.contribution) for c in explained.contributions]
        assert sizes == sorted(sizes, reverse=True)
        assert all(c.value == row[c.feature] for c in explained.contributions)


def test_top_sums_the_others(logistic: PredictiveModel, linear_data: TrainingData) -> None:
    row = {name: values[3] for name, values in columns_of(linear_data).items()}
    explained = logistic.explain(row, top=2)
    shown = explained.top()
    assert len(shown) == 3
    assert shown[:2] == explained.contributions[:2]
    assert shown[2].feature == f"({len(logistic.feature_names) - 2} others)"
    rest = sum(c.contribution for c in explained.contributions[2:])
    assert shown[2].contribution == pytest.approx(rest)
    assert explained.top(len(logistic.feature_names)) == explained.contributions


def test_few_many_and_chunked_rows_score_alike(
    case: tuple[PredictiveModel, TrainingData], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, data = case
    columns = columns_of(data, slice(0, 300))
    together = model.predict(columns, reference_time=NOW, threads=1)
    one_by_one = [
        model.predict(
            {name: values[i : i + 1] for name, values in columns.items()}, reference_time=NOW
        )[0]
        for i in range(300)
    ]
    assert np.allclose(together, one_by_one, rtol=0, atol=1e-12)
    monkeypatch.setattr(predictor, "CHUNK_ROWS", 64)
    chunked = model.predict(columns, reference_time=NOW, threads=2)
    assert np.allclose(chunked, together, rtol=0, atol=1e-12)


def test_unknown_and_missing_categories(
    logistic: PredictiveModel, linear_data: TrainingData
) -> None:
    row = {name: values[0] for name, values in columns_of(linear_data).items()}
    scores = {
        plan: logistic.predict(
            {k: [plan if k == "plan" else v] for k, v in row.items()}, reference_time=NOW
        )[0]
        for plan in ("pro", "enterprise", None)
    }
    # Neither an unknown plan nor a missing one occurred in training: both get a zero coefficient.
    assert scores["enterprise"] == scores[None] != scores["pro"]
    explained = logistic.explain({**row, "plan": "enterprise"})
    plan = next(c for c in explained.contributions if c.feature == "plan")
    assert plan.value == "enterprise"
    assert plan.contribution != 0


def test_encodings_read_values_like_their_kind() -> None:
    plan = FeatureEncoding("plan", "category", ("free", "pro", "3"))
    assert plan.encode(["pro", None, "gold", 3, float("nan")] * 4, NOW).tolist()[:5] == [
        1,
        4,
        3,
        2,
        4,
    ]
    assert [plan.encode_one(v, NOW) for v in ["pro", None, "gold", 3]] == [1, 4, 3, 2]
    number = FeatureEncoding("age", "number")
    assert number.encode([1, None, 2.5, True] * 5, NOW)[:4].tolist()[2:] == [2.5, 1.0]
    with pytest.raises(
        FeatureValueError, match="feature 'age' is a number but has the value 'old'"
    ):
        number.encode(["old"] * 20, NOW)
    with pytest.raises(FeatureValueError, match="'old'"):
        number.encode_one("old", NOW)
    seen = FeatureEncoding("seen", "datetime")
    assert seen.encode_one(NOW - timedelta(days=2), NOW) == 2.0
    with pytest.raises(FeatureValueError, match="an aware datetime is needed"):
        seen.encode([datetime(2026, 1, 1)] * 20, NOW)  # noqa: DTZ001 — the naive value tested


def test_isotonic_calibration_is_chosen_when_clearly_better_and_round_trips(
    logistic: PredictiveModel, linear_data: TrainingData
) -> None:
    # Scores whose true probability is a step: no sigmoid fits it, isotonic does.
    rng = np.random.RandomState(12)
    raw = rng.uniform(-3, 3, 4000)
    y = (rng.rand(4000) < np.where(raw > 1, 0.9, 0.05)).astype(np.float64)
    folds = stratified_folds(y, 5, 0)
    method, probabilities = choose_method(raw, y, folds)
    assert method == "isotonic"
    assert probabilities.shape == (4000,)
    assert choose_method(raw * 0.0 + rng.normal(size=4000), y, folds)[0] == "sigmoid"
    calibration = fit_calibration("isotonic", raw, y)
    model = PredictiveModel(logistic.encodings, logistic.scorer, calibration)
    again = PredictiveModel.from_document(json.loads(json.dumps(model.to_document())))
    assert again.calibration == calibration
    columns = columns_of(linear_data)
    assert np.array_equal(
        again.predict(columns, reference_time=NOW), model.predict(columns, reference_time=NOW)
    )
    document = model.to_document()
    document["model"]["calibration"]["y"][0] = 1.5
    assert "probabilities must lie in [0, 1]" in file_error(resealed(document))
