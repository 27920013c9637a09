"""Training on synthetic histories: screening, refusals, the model choice, holdout and drift."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from leadsift.scoring.dataset import FeatureColumn, TrainingData, TrainingOptions
from leadsift.scoring.evaluation import METRICS
from leadsift.scoring.learning import TrainingOutcome, TrainingRefused, train

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
# One thread: CI runs test processes side by side, and LightGBM's OpenMP threads spin-wait for
# each other, so two threads on a shared core are many times slower than one.
OPTIONS = TrainingOptions(reference_time=NOW, threads=1)


def options(**changes: Any) -> TrainingOptions:
    return TrainingOptions(reference_time=NOW, threads=1, **changes)


def synthetic(
    rows: int = 2000,
    seed: int = 0,
    *,
    shift_last: float = 0.0,
    extra: Sequence[FeatureColumn] = (),
) -> TrainingData:
    """Contacts whose conversion depends on age, visits, plan, newsletter and last visit.

    `shift_last` adds that many log-odds to the last 20 % of rows: the base rate jumps there.
    """
    rng = np.random.RandomState(seed)
    age = rng.normal(40, 10, rows)
    visits = rng.poisson(3, rows).astype(float)
    plan = rng.choice(["free", "pro", "team"], rows, p=[0.6, 0.3, 0.1])
    newsletter = rng.rand(rows) < 0.4
    days = rng.exponential(20, rows)
    logit = (
        -2.0
        + 0.05 * (age - 40)
        + 0.45 * (visits - 3)
        + np.select([plan == "pro", plan == "team"], [0.8, 1.5], 0.0)
        + 0.7 * newsletter
        - 0.03 * (days - 20)
    )
    logit[int(rows * 0.8) :] += shift_last
    labels = rng.rand(rows) < 1 / (1 + np.exp(-logit))
    missing_age = rng.rand(rows) < 0.05
    features = [
        FeatureColumn(
            "age",
            "number",
            [None if m else float(a) for a, m in zip(age, missing_age, strict=True)],
        ),
        FeatureColumn("visits", "number", [int(v) for v in visits]),
        FeatureColumn("plan", "category", [str(p) for p in plan]),
        FeatureColumn("newsletter", "boolean", [bool(n) for n in newsletter]),
        FeatureColumn("last_visit", "datetime", [NOW - timedelta(days=float(d)) for d in days]),
        FeatureColumn("noise", "number", list(rng.normal(size=rows))),
        *extra,
    ]
    return TrainingData(features, [bool(label) for label in labels])


def with_column(data: TrainingData, column: FeatureColumn) -> TrainingData:
    return TrainingData([*data.features, column], data.labels)


def reason(outcome: TrainingOutcome, field: str) -> str:
    found = [e.reason for e in outcome.excluded if e.field == field]
    assert found, f"{field} was not excluded: {outcome.excluded}"
    return found[0]


@pytest.fixture(scope="module")
def base_data() -> TrainingData:
    return synthetic()


@pytest.fixture(scope="module")
def outcome(base_data: TrainingData) -> TrainingOutcome:
    return train(base_data, OPTIONS)


def test_learns_a_signal_and_reports_every_figure(
    base_data: TrainingData, outcome: TrainingOutcome
) -> None:
    assert outcome.rows == 2000
    assert outcome.positives == sum(base_data.labels)
    assert set(outcome.metrics) == set(METRICS)
    assert outcome.metrics["roc_auc"] > 0.75
    assert outcome.metrics["top_decile_lift"] > 2.0
    assert 0.0 < outcome.metrics["brier"] < 0.2
    assert outcome.features == ["age", "visits", "plan", "newsletter", "last_visit", "noise"]
    assert outcome.excluded == []
    assert set(outcome.candidates) == {
        "lightgbm",
        "logistic",
        "plain_logistic",
        "naive_bayes_reference",
    }
    for figures in outcome.candidates.values():
        assert set(METRICS) <= set(figures)
    assert outcome.metrics == {k: outcome.candidates[outcome.chosen][k] for k in METRICS}
    assert outcome.chosen in {"lightgbm", "logistic"}
    assert outcome.calibration in {"isotonic", "sigmoid"}
    assert outcome.holdout is None
    # Calibrated: the model's mean probability is close to the observed rate.
    columns = {c.name: c.values for c in base_data.features}
    probabilities = outcome.model.predict(columns, reference_time=NOW)
    assert probabilities.mean() == pytest.approx(outcome.positives / outcome.rows, rel=0.1)


def test_chosen_model_is_no_worse_than_plain_logistic_on_brier(outcome: TrainingOutcome) -> None:
    assert outcome.metrics["brier"] <= outcome.candidates["plain_logistic"]["brier"] * 1.02


def test_same_seed_same_model(base_data: TrainingData, outcome: TrainingOutcome) -> None:
    again = train(base_data, OPTIONS)
    assert again.model.to_document() == outcome.model.to_document()
    assert again.metrics == outcome.metrics


def test_a_leaking_feature_is_excluded_with_its_reason(base_data: TrainingData) -> None:
    rng = np.random.RandomState(1)
    leak = [float(label) + rng.normal(0, 0.01) for label in base_data.labels]
    data = with_column(base_data, FeatureColumn("deal_amount", "number", leak))
    outcome = train(data, OPTIONS)
    assert "alone separates the classes (AUC" in reason(outcome, "deal_amount")
    assert "deal_amount" not in outcome.features
    assert any("--include deal_amount" in warning for warning in outcome.warnings)

    kept = train(data, options(include=frozenset({"deal_amount"})))
    assert "deal_amount" in kept.features
    assert not any(e.field == "deal_amount" for e in kept.excluded)
    assert any("kept on request" in warning for warning in kept.warnings)
    assert kept.metrics["roc_auc"] > 0.99


def test_a_category_that_leaks_is_excluded(base_data: TrainingData) -> None:
    status = ["won" if label else "lost" for label in base_data.labels]
    outcome = train(with_column(base_data, FeatureColumn("status", "category", status)), OPTIONS)
    assert "alone separates" in reason(outcome, "status")


def test_a_feature_present_only_for_positives_is_excluded(base_data: TrainingData) -> None:
    rng = np.random.RandomState(2)
    signed = [rng.uniform(0, 100) if label else None for label in base_data.labels]
    outcome = train(
        with_column(base_data, FeatureColumn("contract_value", "number", signed)), OPTIONS
    )
    assert "present for 100% of positives but 0.0% of negatives" in reason(
        outcome, "contract_value"
    )


def test_identifiers_and_constants_are_never_features(base_data: TrainingData) -> None:
    rows = len(base_data.labels)
    ids = FeatureColumn("email", "category", [f"user{i}@example.com" for i in range(rows)])
    same = FeatureColumn("country", "category", ["FR"] * rows)
    empty = FeatureColumn("score", "number", [None] * rows)
    data = TrainingData([*base_data.features, ids, same, empty], base_data.labels)
    outcome = train(data, options(include=frozenset({"email", "nothing"})))
    assert "looks like an identifier or free text (2000 distinct values" in reason(outcome, "email")
    assert "same value in every row" in reason(outcome, "country")
    assert "missing in every row" in reason(outcome, "score")
    assert any("--include names no feature: nothing" in w for w in outcome.warnings)
    # A high-cardinality column below the identifier threshold is not mistaken for a leak.
    rng = np.random.RandomState(3)
    towns = FeatureColumn("town", "category", [f"town{rng.randint(400)}" for _ in range(rows)])
    assert "town" in train(with_column(base_data, towns), OPTIONS).features


def refused(data: TrainingData, options: TrainingOptions = OPTIONS) -> str:
    with pytest.raises(TrainingRefused) as caught:
        train(data, options)
    assert caught.value.code == "training_refused"
    return str(caught.value)


def test_refuses_one_class() -> None:
    data = synthetic(300)
    message = refused(TrainingData(data.features, [False] * 300))
    assert message.startswith("the label has one class only: all 300 rows are negative")


def test_refuses_without_enough_positives() -> None:
    data = synthetic(400)
    labels = [False] * 400
    for index in range(30):
        labels[index * 13] = True
    message = refused(TrainingData(data.features, labels))
    assert "not enough history: 30 positive rows, at least 50 are needed" in message
    relaxed = options(min_positives=20)
    assert train(TrainingData(data.features, labels), relaxed).positives == 30


def test_refuses_when_every_feature_is_excluded(base_data: TrainingData) -> None:
    rows = len(base_data.labels)
    only = [FeatureColumn("id", "category", [str(i) for i in range(rows)])]
    message = refused(TrainingData(only, base_data.labels))
    assert message.startswith("no feature is left to learn from: id looks like an identifier")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"cv_folds": 1}, "too few rows per fold: 1-fold"),
        ({"holdout_last": 1.5}, "--holdout-last must be a fraction between 0 and 1"),
    ],
)
def test_refuses_bad_options(
    base_data: TrainingData, change: dict[str, Any], expected: str
) -> None:
    assert expected in refused(base_data, options(**change))


def test_refuses_columns_that_do_not_fit_the_labels(base_data: TrainingData) -> None:
    short = FeatureColumn("short", "number", [1.0, 2.0])
    message = refused(with_column(base_data, short))
    assert message == "feature 'short' has 2 values for 2000 labels"


def test_holdout_with_drift_warns_with_the_figures() -> None:
    data = synthetic(3000, seed=5, shift_last=2.5)
    outcome = train(data, options(holdout_last=0.2))
    holdout = outcome.holdout
    assert holdout is not None
    assert holdout["rows"] == 600
    assert holdout["base_rate_holdout"] > 2 * holdout["base_rate_train"]
    assert set(holdout["metrics"]) == set(METRICS)
    assert holdout["metrics"]["roc_auc"] > 0.7
    drift = [w for w in outcome.warnings if w.startswith("drift:")]
    assert len(drift) == 1
    assert "the last 20% of rows" in drift[0]
    for figures in outcome.candidates.values():
        assert "holdout_roc_auc" in figures
    assert "selection_roc_auc" in outcome.candidates["lightgbm"]


def test_holdout_without_drift_does_not_warn() -> None:
    data = synthetic(3000, seed=6)
    outcome = train(data, options(holdout_last=0.2))
    assert outcome.holdout is not None
    assert not [w for w in outcome.warnings if w.startswith("drift:")]
    assert outcome.holdout["metrics"]["roc_auc"] > 0.75


def test_a_tie_keeps_the_logistic_regression() -> None:
    # One yes/no feature: both models can only rank the two groups, so their AUCs are equal.
    rng = np.random.RandomState(7)
    flag = rng.rand(2000) < 0.5
    labels = rng.rand(2000) < np.where(flag, 0.4, 0.1)
    data = TrainingData([FeatureColumn("flag", "boolean", list(flag))], list(labels))
    outcome = train(data, OPTIONS)
    assert outcome.chosen == "logistic"
    assert outcome.model.kind == "logistic"
    assert any("score alike" in warning for warning in outcome.warnings)


def test_an_interaction_makes_lightgbm_win() -> None:
    outcome = train(interaction(), OPTIONS)
    assert outcome.chosen == "lightgbm"
    assert outcome.model.kind == "lightgbm"
    assert outcome.candidates["lightgbm"]["roc_auc"] > outcome.candidates["logistic"]["roc_auc"]


def interaction(rows: int = 2000, seed: int = 8) -> TrainingData:
    """A label only trees can learn: the sign of x times the sign of y (plus a category)."""
    rng = np.random.RandomState(seed)
    x, y = rng.normal(size=rows), rng.normal(size=rows)
    channel = rng.choice(["ads", "seo", "referral", "event"], rows)
    logit = np.where(x * y > 0, 1.0, -2.0) + np.where(channel == "referral", 1.0, 0.0)
    labels = rng.rand(rows) < 1 / (1 + np.exp(-logit))
    missing = rng.rand(rows) < 0.1
    features = [
        FeatureColumn("x", "number", list(x)),
        FeatureColumn(
            "y", "number", [None if m else float(v) for v, m in zip(y, missing, strict=True)]
        ),
        FeatureColumn(
            "channel",
            "category",
            [None if m else str(c) for c, m in zip(channel, missing[::-1], strict=True)],
        ),
    ]
    return TrainingData(features, list(labels))
