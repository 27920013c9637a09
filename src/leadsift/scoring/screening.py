"""Which features a model may learn from: identifiers, constants and leaks are set aside; pure.

* A category with more distinct values than half the rows (and over 100) is an identifier or
  free text: never a feature, `include` or not.
* A feature with one value and no missing ones (or only missing ones) carries nothing.
* Leaks, which `include` overrides: a feature that alone separates the classes (single-feature
  ROC AUC above 0.95 either way), or that is present for positives and almost never for
  negatives — both typical of a field filled in once the outcome was known.

The single-feature AUC is out-of-fold: a row's score is the positive rate of its value (its
category, or its number's quantile bin, missing being a value too) in the other folds, so a
column with a distinct value per row scores by chance instead of perfectly.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from leadsift.scoring.calibration import Folds
from leadsift.scoring.dataset import FeatureColumn, FloatArray, IntArray, factorise, numbers

IDENTIFIER_SHARE = 0.5
IDENTIFIER_MIN_DISTINCT = 100
LEAK_AUC = 0.95
LEAK_PRESENT_POSITIVES = 0.2
LEAK_PRESENT_NEGATIVES = 0.01
QUANTILE_BINS = 20


@dataclass(frozen=True)
class Exclusion:
    """A feature left out of the model, and why (a sentence)."""

    field: str
    reason: str


@dataclass(frozen=True)
class Screening:
    """The screening's verdict: features kept (in the given order), exclusions, warnings."""

    kept: list[FeatureColumn]
    excluded: list[Exclusion]
    warnings: list[str]


@dataclass(frozen=True)
class _Profile:
    """A feature's values as integer bins (missing has its own) and what they look like."""

    bins: IntArray
    missing: npt.NDArray[np.bool_]
    distinct: int
    category: bool = False


def screen(
    features: Sequence[FeatureColumn],
    y: FloatArray,
    folds: Folds,
    include: Collection[str],
    reference: datetime,
) -> Screening:
    """Screen the features on the training rows (`y` gives their count)."""
    kept: list[FeatureColumn] = []
    excluded: list[Exclusion] = []
    warnings: list[str] = []
    for column in features:
        profile = _profile(column, len(y), reference)
        reason = _never_a_feature(profile, len(y))
        if reason is None:
            leak = _leak(profile, y, folds)
            if leak is None:
                kept.append(column)
                continue
            if column.name in include:
                kept.append(column)
                warnings.append(f"feature {column.name!r} kept on request although it {leak}")
                continue
            reason = leak
            warnings.append(
                f"feature {column.name!r} excluded: it {leak} (--include {column.name} keeps it)"
            )
        excluded.append(Exclusion(column.name, reason))
    unknown = sorted(set(include) - {column.name for column in features})
    if unknown:
        warnings.append(f"--include names no feature: {', '.join(unknown)}")
    return Screening(kept, excluded, warnings)


def _profile(column: FeatureColumn, rows: int, reference: datetime) -> _Profile:
    values = column.values[:rows]
    if column.kind == "category":
        bins = factorise(values)
        return _Profile(bins, bins == 0, int(bins.max(initial=0)), category=True)
    array = numbers(column.name, column.kind, values, reference)
    missing = np.isnan(array)
    present = array[~missing]
    distinct = int(np.unique(present).size)
    if distinct == 0:
        return _Profile(np.zeros(rows, dtype=np.int64), missing, 0)
    edges = np.unique(np.quantile(present, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1]))
    bins = np.searchsorted(edges, np.where(missing, 0.0, array), side="right") + 1
    return _Profile(np.where(missing, 0, bins).astype(np.int64), missing, distinct)


def _never_a_feature(profile: _Profile, rows: int) -> str | None:
    if profile.category and profile.distinct > max(
        IDENTIFIER_SHARE * rows, IDENTIFIER_MIN_DISTINCT
    ):
        return (
            f"looks like an identifier or free text ({profile.distinct} distinct values"
            f" in {rows} rows): never a feature"
        )
    missing = int(profile.missing.sum())
    if profile.distinct == 0:
        return "is missing in every row trained on: nothing to learn"
    if profile.distinct == 1 and missing == 0:
        return "has the same value in every row trained on: nothing to learn"
    return None


def _leak(profile: _Profile, y: FloatArray, folds: Folds) -> str | None:
    positive = y > 0
    present_positives = float((~profile.missing[positive]).mean())
    present_negatives = float((~profile.missing[~positive]).mean())
    if present_positives >= LEAK_PRESENT_POSITIVES and present_negatives <= LEAK_PRESENT_NEGATIVES:
        return (
            f"is present for {present_positives:.0%} of positives but {present_negatives:.1%}"
            " of negatives: likely recorded only once the outcome was known"
        )
    auc = _out_of_fold_auc(profile.bins, y, folds)
    if auc > LEAK_AUC:
        return f"alone separates the classes (AUC {auc:.3f}): likely known only after the outcome"
    return None


def _out_of_fold_auc(bins: IntArray, y: FloatArray, folds: Folds) -> float:
    width = int(bins.max()) + 1
    rows = np.bincount(bins, minlength=width).astype(np.float64)
    positives = np.bincount(bins, weights=y, minlength=width)
    scores = np.empty(len(y))
    for train, test in folds:
        rows_other = rows - np.bincount(bins[test], minlength=width)
        positives_other = positives - np.bincount(bins[test], weights=y[test], minlength=width)
        prior = float(y[train].mean())
        # One pseudo-row at the prior: a value unseen in the other folds scores the prior.
        scores[test] = ((positives_other + prior) / (rows_other + 1.0))[bins[test]]
    auc = _auc(y, scores)
    return max(auc, 1.0 - auc)


def _auc(y: FloatArray, scores: FloatArray) -> float:
    """ROC AUC of scores with few distinct values (the Mann–Whitney count, ties halved).

    scikit-learn's roc_auc_score gives the same figure; this one is several times faster on
    such scores, and screening computes one per feature.
    """
    values, index = np.unique(scores, return_inverse=True)
    positives = np.bincount(index, weights=y, minlength=len(values))
    negatives = np.bincount(index, minlength=len(values)) - positives
    below = np.cumsum(negatives) - negatives
    pairs = float(positives.sum() * negatives.sum())
    return float((positives * (below + 0.5 * negatives)).sum() / pairs)
