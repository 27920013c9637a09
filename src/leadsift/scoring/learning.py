"""Training: from feature columns and labels to a calibrated model and an honest evaluation; pure.

1. Checks: both classes, at least `min_positives` positives and enough rows of each class for
   the folds, all in the rows trained on (without the holdout).
2. Screening (`screening.py`): identifiers, constants and leaks set aside, with reasons.
3. Candidates, scored out-of-fold on stratified folds of the rows trained on: LightGBM, the
   regularised logistic regression, a plain logistic regression (the Brier baseline) and the
   naive-Bayes reference (what a CRM's frequency scoring gives).
4. Choice between LightGBM and the logistic regression by ROC AUC of the raw scores; within
   TIE_AUC the logistic regression, the simpler, is kept. With `holdout_last`, the choice never
   sees the holdout: both are trained on the first 80 % of the rows trained on and compared on
   the last 20 % of them, in order, which favours the model that survives drift.
5. The chosen one is trained on all the rows trained on and calibrated on its out-of-fold
   scores; the metrics reported are out-of-fold, each fold calibrated on the other folds.
6. With `holdout_last`, every candidate trained on the first part is evaluated on the last
   one, and a drift warning gives the figures when the positive rate or the calibration moved.

`candidates[name]` holds the five out-of-fold metrics; with a holdout, the same five prefixed
"holdout_"; for "lightgbm" and "logistic", "selection_roc_auc" is the figure the choice used.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from leadsift.errors import InvalidInputError
from leadsift.scoring.calibration import (
    Calibration,
    CalibrationMethod,
    Folds,
    choose_method,
    fit_calibration,
    sigmoid,
)
from leadsift.scoring.dataset import (
    FEATURE_KINDS,
    FeatureEncoding,
    FloatArray,
    IntArray,
    TrainingData,
    TrainingOptions,
    encode,
    fit_encoding,
)
from leadsift.scoring.evaluation import METRICS, drift_warning, metrics, stratified_folds
from leadsift.scoring.linear import PLAIN_C, REGULARISED_C, Term, design, fit_logistic, layout
from leadsift.scoring.predictor import PredictiveModel, Scorer
from leadsift.scoring.reference import naive_bayes_probabilities
from leadsift.scoring.screening import Exclusion, screen
from leadsift.scoring.trees import fit_lightgbm

__all__ = ["Exclusion", "TrainingOutcome", "TrainingRefused", "train"]

CANDIDATES = ("lightgbm", "logistic", "plain_logistic", "naive_bayes_reference")
CALIBRATED = ("lightgbm", "logistic")
# ROC AUC differences smaller than this are noise between folds: keep the simpler model.
TIE_AUC = 0.005
# With a holdout, the choice compares models on this last share of the rows trained on.
VALIDATION_SHARE = 0.2
# BLAS and scikit-learn's OpenMP work here is on matrices of tens of columns: a second thread
# saves little, and while another process used a core their spinning threads made training on
# the bank data take 32–54 s instead of 10–11 s with one thread (measured; about 4 s on an idle
# machine). LightGBM is given `options.threads` itself, and waits passively (see `trees`).
TRAINING_LIBRARY_THREADS = 1


class TrainingRefused(InvalidInputError):
    """Training cannot give a usable model from this data; the message says why."""

    code = "training_refused"


@dataclass(frozen=True)
class TrainingOutcome:
    """The trained model and everything known about how good it is."""

    model: PredictiveModel
    rows: int
    positives: int
    features: list[str]
    excluded: list[Exclusion]
    metrics: dict[str, float]
    holdout: dict[str, Any] | None
    candidates: dict[str, dict[str, float]]
    chosen: str
    calibration: str
    warnings: list[str]


class _Learner:
    """Fits any candidate on rows (given by index) of the training matrix."""

    def __init__(
        self,
        encodings: Sequence[FeatureEncoding],
        x: FloatArray,
        y: FloatArray,
        options: TrainingOptions,
    ) -> None:
        self.encodings = list(encodings)
        self.x, self.y = x, y
        self.categorical = [i for i, e in enumerate(encodings) if e.kind == "category"]
        # Imputation and scaling from all the rows trained on: they use no label, so folds
        # sharing them (and the design matrix, built once) leak nothing.
        self.terms: list[Term] = layout(encodings, x)
        self.design = design(self.terms, x)
        self.threads = options.threads
        self.seed = options.seed

    def fit(self, name: str, rows: IntArray) -> Scorer:
        """Train LightGBM or one of the logistic regressions on the given rows."""
        if name == "lightgbm":
            return fit_lightgbm(
                self.x[rows], self.y[rows], self.categorical, self.threads, self.seed
            )
        c = REGULARISED_C if name == "logistic" else PLAIN_C
        return fit_logistic(self.terms, self.design[rows], self.y[rows], c)

    def scores(self, name: str, rows: IntArray, test: FloatArray) -> FloatArray:
        """Train on `rows` and score `test`: raw log-odds, or probabilities for the reference."""
        if name == "naive_bayes_reference":
            return naive_bayes_probabilities(self.encodings, self.x[rows], self.y[rows], test)
        return self.fit(name, rows).raw(test, self.threads)

    def out_of_fold(self, name: str, folds: Folds) -> FloatArray:
        """Scores of every row by a model trained on the other folds."""
        out = np.empty(len(self.y))
        for train, test in folds:
            out[test] = self.scores(name, train, self.x[test])
        return out


class _Run:
    """One training run: out-of-fold scores of every candidate, the choice, the evaluation."""

    def __init__(self, learner: _Learner, folds: Folds) -> None:
        self.learner, self.y, self.folds = learner, learner.y, folds
        self.all_rows = np.arange(len(self.y), dtype=np.int64)
        self.oof = _out_of_fold(learner, folds)
        self.methods: dict[str, CalibrationMethod] = {}
        self.candidates: dict[str, dict[str, float]] = {}
        for name in CANDIDATES:
            if name in CALIBRATED:
                # Each fold calibrated on the others' scores: honest calibrated figures.
                self.methods[name], probabilities = choose_method(self.oof[name], self.y, folds)
            elif name == "plain_logistic":
                probabilities = sigmoid(self.oof[name])
            else:
                probabilities = self.oof[name]
            self.candidates[name] = metrics(self.y, probabilities)
        self.chosen = "logistic"

    def choose(self, time_ordered: bool) -> list[str]:
        """Pick LightGBM or the logistic regression; warnings about how the choice went."""
        warnings: list[str] = []
        selection = self._time_validation() if time_ordered else None
        if time_ordered and selection is None:
            warnings.append(
                f"the last {VALIDATION_SHARE:.0%} of the rows trained on lack positives or"
                " negatives: the model was chosen by cross-validation instead of in time order"
            )
        if selection is None:
            selection = {name: float(roc_auc_score(self.y, self.oof[name])) for name in CALIBRATED}
        for name in CALIBRATED:
            self.candidates[name]["selection_roc_auc"] = selection[name]
        gap = selection["lightgbm"] - selection["logistic"]
        self.chosen = "lightgbm" if gap > TIE_AUC else "logistic"
        if abs(gap) <= TIE_AUC:
            warnings.append(
                f"LightGBM and the logistic regression score alike (ROC AUC"
                f" {selection['lightgbm']:.3f} and {selection['logistic']:.3f}): the simpler"
                " logistic regression is kept"
            )
        return warnings

    def _time_validation(self) -> dict[str, float] | None:
        """ROC AUC of each model trained on the early rows, on the later ones (None if unusable)."""
        cut = int(len(self.y) * (1 - VALIDATION_SHARE))
        early, late = self.y[:cut], self.y[cut:]
        if not (0 < early.sum() < len(early) and 0 < late.sum() < len(late)):
            return None
        test = self.learner.x[cut:]
        return {
            name: float(roc_auc_score(late, self.learner.scores(name, self.all_rows[:cut], test)))
            for name in CALIBRATED
        }

    def final(self) -> tuple[Scorer, Calibration]:
        """The chosen model trained on all the rows, and its calibration."""
        return self.learner.fit(self.chosen, self.all_rows), self.calibration(self.chosen)

    def calibration(self, name: str) -> Calibration:
        """The calibration of a candidate, learnt on its out-of-fold raw scores."""
        return fit_calibration(self.methods[name], self.oof[name], self.y)

    def evaluate_holdout(
        self, model: PredictiveModel, x_holdout: FloatArray, y_holdout: FloatArray
    ) -> dict[str, Any]:
        """Every candidate trained on the first part, evaluated on the holdout."""
        chosen_probabilities = np.zeros(0)
        for name in CANDIDATES:
            if name == self.chosen:
                raw = model.raw(x_holdout, self.learner.threads)
                probabilities = chosen_probabilities = model.calibration.apply(raw)
            else:
                probabilities = self._holdout_probabilities(name, x_holdout)
            figures = metrics(y_holdout, probabilities)
            self.candidates[name].update({f"holdout_{k}": v for k, v in figures.items()})
        return {
            "rows": len(y_holdout),
            "positives": int(y_holdout.sum()),
            "base_rate_train": float(self.y.mean()),
            "base_rate_holdout": float(y_holdout.mean()),
            "metrics": metrics(y_holdout, chosen_probabilities),
            "mean_predicted": float(chosen_probabilities.mean()),
        }

    def _holdout_probabilities(self, name: str, x_holdout: FloatArray) -> FloatArray:
        scores = self.learner.scores(name, self.all_rows, x_holdout)
        if name in CALIBRATED:
            return self.calibration(name).apply(scores)
        return sigmoid(scores) if name == "plain_logistic" else scores


def _out_of_fold(learner: _Learner, folds: Folds) -> dict[str, FloatArray]:
    """Every candidate's out-of-fold scores: the regressions and the reference in a second
    thread while LightGBM trains in this one (its C code, and numpy's, release the GIL).
    Each computation is the one it was, with the same threads: the same scores, sooner."""
    others = [name for name in CANDIDATES if name != "lightgbm"]
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(lambda: {name: learner.out_of_fold(name, folds) for name in others})
        trees = learner.out_of_fold("lightgbm", folds)
        found = {"lightgbm": trees, **pending.result()}
    return {name: found[name] for name in CANDIDATES}


def train(data: TrainingData, options: TrainingOptions) -> TrainingOutcome:
    """Train, choose, calibrate and evaluate (TrainingRefused when the data cannot do)."""
    y_all = _labels(data)
    train_rows = _training_rows(len(y_all), options)
    y = y_all[:train_rows]
    _check_history(y, y_all[train_rows:], options)
    reference = options.reference_time or datetime.now(UTC)
    folds = stratified_folds(y, options.cv_folds, options.seed)
    with threadpool_limits(TRAINING_LIBRARY_THREADS):
        screening = screen(data.features, y, folds, options.include, reference)
        if not screening.kept:
            reasons = "; ".join(f"{e.field} {e.reason}" for e in screening.excluded)
            raise TrainingRefused(f"no feature is left to learn from: {reasons}")
        encodings = [fit_encoding(column, train_rows) for column in screening.kept]
        x_all = encode(encodings, {c.name: c.values for c in screening.kept}, reference)
        run = _Run(_Learner(encodings, x_all[:train_rows], y, options), folds)
        warnings = [*screening.warnings, *run.choose(options.holdout_last is not None)]
        model = PredictiveModel(encodings, *run.final())
        holdout = None
        if options.holdout_last is not None:
            holdout = run.evaluate_holdout(model, x_all[train_rows:], y_all[train_rows:])
            drift = drift_warning(
                holdout["base_rate_train"],
                holdout["base_rate_holdout"],
                holdout["mean_predicted"],
                options.holdout_last,
            )
            warnings.extend([drift] if drift else [])
    return TrainingOutcome(
        model=model,
        rows=len(y_all),
        positives=int(y_all.sum()),
        features=[encoding.name for encoding in encodings],
        excluded=screening.excluded,
        metrics={name: run.candidates[run.chosen][name] for name in METRICS},
        holdout=holdout,
        candidates=run.candidates,
        chosen=run.chosen,
        calibration=run.methods[run.chosen],
        warnings=warnings,
    )


def _labels(data: TrainingData) -> FloatArray:
    """The labels as 0/1 floats, once the columns are checked to fit them."""
    rows = len(data.labels)
    if any(label is None for label in data.labels):
        raise TrainingRefused("some rows have no label: every row needs a positive or negative")
    names = [column.name for column in data.features]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise TrainingRefused(f"features named twice: {', '.join(duplicated)}")
    for column in data.features:
        if column.kind not in FEATURE_KINDS:
            raise TrainingRefused(f"feature {column.name!r} has an unknown kind {column.kind!r}")
        if len(column.values) != rows:
            raise TrainingRefused(
                f"feature {column.name!r} has {len(column.values)} values for {rows} labels"
            )
    return np.fromiter((1.0 if label else 0.0 for label in data.labels), np.float64, rows)


def _training_rows(rows: int, options: TrainingOptions) -> int:
    """How many first rows are trained on (all, or all but the holdout)."""
    if options.holdout_last is None:
        return rows
    if not 0.0 < options.holdout_last < 1.0:
        raise TrainingRefused(
            f"--holdout-last must be a fraction between 0 and 1, not {options.holdout_last}"
        )
    holdout = round(rows * options.holdout_last)
    if holdout < 1 or holdout >= rows:
        raise TrainingRefused(
            f"--holdout-last {options.holdout_last} of {rows} rows leaves no rows"
        )
    return rows - holdout


def _check_history(y: FloatArray, y_holdout: FloatArray, options: TrainingOptions) -> None:
    """TrainingRefused unless the rows trained on (and the holdout) can teach and be judged."""
    where = " in the rows trained on (before the holdout)" if len(y_holdout) else ""
    positives, negatives = int(y.sum()), len(y) - int(y.sum())
    if positives == 0 or negatives == 0:
        outcome = "negative" if positives == 0 else "positive"
        raise TrainingRefused(
            f"the label has one class only: all {len(y)} rows{where} are {outcome};"
            " a model needs both outcomes to learn from"
        )
    if positives < options.min_positives:
        raise TrainingRefused(
            f"not enough history: {positives} positive rows{where}, at least"
            f" {options.min_positives} are needed to learn who will convert"
        )
    if options.cv_folds < 2 or min(positives, negatives) < options.cv_folds:
        raise TrainingRefused(
            f"too few rows per fold: {options.cv_folds}-fold cross-validation needs at least"
            f" 2 folds and as many positive and negative rows ({positives} and {negatives})"
        )
    if len(y_holdout) and not 0 < y_holdout.sum() < len(y_holdout):
        raise TrainingRefused(
            f"the holdout (the last {len(y_holdout)} rows) has one class only: it cannot be"
            " evaluated; give a larger --holdout-last or another order"
        )
