"""Honest evaluation: folds, the five reported metrics, and the drift check; pure.

Metrics (scikit-learn for the first three):
* roc_auc — how well the scores rank a positive above a negative (0.5 = chance);
* pr_auc — average precision, the area under the precision/recall curve;
* brier — mean squared error of the probabilities (lower is better);
* top_decile_lift — the positive rate among the 10 % best-scored rows over the base rate;
* captured_at_20pct — the share of all positives found among the 20 % best-scored rows.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold

from leadsift.scoring.dataset import FloatArray, IntArray

METRICS = ("roc_auc", "pr_auc", "brier", "top_decile_lift", "captured_at_20pct")
# The holdout's positive rate this many times the training part's (or its inverse) is drift.
DRIFT_RATE_FACTOR = 1.5
# A mean predicted probability off the observed rate by more than this share is drift too.
DRIFT_CALIBRATION_SHARE = 0.5


def stratified_folds(y: FloatArray, folds: int, seed: int) -> list[tuple[IntArray, IntArray]]:
    """Shuffled folds keeping each fold's positive rate that of the whole."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return [
        (np.asarray(train, dtype=np.int64), np.asarray(test, dtype=np.int64))
        for train, test in splitter.split(np.zeros(len(y)), y)
    ]


def ranked_share(y: FloatArray, scores: FloatArray, share: float) -> tuple[float, float]:
    """Positives among the best-scored `share` of rows: (their rate there, their share of all)."""
    count = max(1, math.ceil(share * len(y)))
    # A stable sort on the negated scores: ties keep the row order, so reruns agree.
    top = np.argsort(-scores, kind="stable")[:count]
    found = float(y[top].sum())
    return found / count, found / float(y.sum())


def metrics(y: FloatArray, probabilities: FloatArray) -> dict[str, float]:
    """The five metrics of probabilities against 0/1 labels (both classes present)."""
    base_rate = float(y.mean())
    top_rate, _ = ranked_share(y, probabilities, 0.1)
    _, captured = ranked_share(y, probabilities, 0.2)
    return {
        "roc_auc": float(roc_auc_score(y, probabilities)),
        "pr_auc": float(average_precision_score(y, probabilities)),
        "brier": float(brier_score_loss(y, np.clip(probabilities, 0.0, 1.0))),
        "top_decile_lift": top_rate / base_rate,
        "captured_at_20pct": captured,
    }


def drift_warning(
    base_rate_train: float, base_rate_holdout: float, mean_predicted: float, holdout_share: float
) -> str | None:
    """A sentence with the figures when the holdout's rate or calibration moved, else None."""
    ratio = base_rate_holdout / base_rate_train if base_rate_train > 0 else math.inf
    rate_moved = not 1 / DRIFT_RATE_FACTOR <= ratio <= DRIFT_RATE_FACTOR
    off = abs(mean_predicted - base_rate_holdout) / base_rate_holdout
    calibration_moved = off > DRIFT_CALIBRATION_SHARE
    if not (rate_moved or calibration_moved):
        return None
    part = f"the last {holdout_share:.0%} of rows"
    return (
        f"drift: {part} have a positive rate of {base_rate_holdout:.1%} against"
        f" {base_rate_train:.1%} in the rows trained on ({ratio:.2f}×), and the model predicts"
        f" {mean_predicted:.1%} on average there ({off:.0%} off): behaviour changes over time,"
        " so trust the holdout figures over the cross-validated ones and retrain often"
    )
