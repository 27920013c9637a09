"""The reference scorer: frequency-based naive Bayes, as open-source CRMs score leads; pure.

Odoo's predictive lead scoring, for instance, takes for each field value its frequency among
won and among lost leads and multiplies them naively. scikit-learn's CategoricalNB is exactly
that (with Laplace smoothing) once every feature is a category: numbers are cut into quantile
bins by KBinsDiscretizer (missing being one more bin), categories keep their codes. It is only
reported beside the model for comparison, never kept in one.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.naive_bayes import CategoricalNB
from sklearn.preprocessing import KBinsDiscretizer

from leadsift.scoring.dataset import FeatureEncoding, FloatArray

BINS = 10


def naive_bayes_probabilities(
    encodings: Sequence[FeatureEncoding], x_train: FloatArray, y: FloatArray, x_test: FloatArray
) -> FloatArray:
    """Fit the reference on the training rows and give its probabilities for the test rows."""
    numeric = [i for i, encoding in enumerate(encodings) if encoding.kind != "category"]
    categorical = [i for i, encoding in enumerate(encodings) if encoding.kind == "category"]
    train_parts = [x_train[:, categorical]]
    test_parts = [x_test[:, categorical]]
    widths = [encodings[i].width for i in categorical]
    if numeric:
        binned_train, binned_test = _bins(x_train[:, numeric], x_test[:, numeric])
        train_parts.append(binned_train)
        test_parts.append(binned_test)
        widths.extend([BINS + 1] * len(numeric))
    model = CategoricalNB(alpha=1.0, min_categories=np.asarray(widths))
    model.fit(np.hstack(train_parts).astype(np.int64), y)
    probabilities = model.predict_proba(np.hstack(test_parts).astype(np.int64))
    return np.asarray(probabilities[:, 1], dtype=np.float64)


def _bins(train: FloatArray, test: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Quantile bins learnt on the training rows; a missing value gets bin number BINS."""
    with warnings.catch_warnings():
        # An all-missing column in a fold, or bins too narrow on a column of few values
        # (KBinsDiscretizer merges them and says so): both are expected here.
        warnings.simplefilter("ignore")
        medians = np.nan_to_num(np.nanmedian(train, axis=0))
        discretizer = KBinsDiscretizer(n_bins=BINS, encode="ordinal", strategy="quantile")
        discretizer.fit(np.where(np.isnan(train), medians, train))
        out = []
        for part in (train, test):
            missing = np.isnan(part)
            binned = np.asarray(discretizer.transform(np.where(missing, medians, part)))
            out.append(np.where(missing, float(BINS), binned))
    return out[0], out[1]
