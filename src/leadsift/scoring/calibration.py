"""Calibration: raw log-odds to probabilities that match observed rates; pure.

Both methods are learnt on out-of-fold raw scores (the final model's own training rows would
look too good) and kept as plain numbers: sigmoid (Platt) as p = 1 / (1 + e^−(a·raw + b));
isotonic as the step points of scikit-learn's IsotonicRegression (`X_thresholds_`,
`y_thresholds_`), applied with numpy.interp exactly as IsotonicRegression.predict does, clipped
at both ends.

Sigmoid is kept unless isotonic lowers the cross-calibrated Brier score clearly: it never
reorders nor ties scores (isotonic's flat steps tie many, which costs ROC AUC and, on rows
beyond the training range as under drift, flattens the top), and it needs fewer positives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal, get_args

import numpy as np

from leadsift.scoring.dataset import FloatArray, IntArray

# scikit-learn is imported by the fitting functions only: applying a calibration is numpy, and
# importing scikit-learn would cost every command and API process ~2 s at start-up.
CalibrationMethod = Literal["isotonic", "sigmoid"]
Folds = Sequence[tuple[IntArray, IntArray]]
# Below this many positives (or negatives) isotonic steps are too noisy to be worth trying.
ISOTONIC_MIN_CLASS = 200
# Isotonic must lower the out-of-fold Brier score by more than this share to be chosen.
ISOTONIC_MIN_GAIN = 0.01


def sigmoid(z: FloatArray) -> FloatArray:
    """1 / (1 + e^−z), without overflow for large |z|."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass(frozen=True)
class Calibration:
    """A fitted calibration: `a`, `b` for sigmoid, the step points `x`, `y` for isotonic."""

    method: CalibrationMethod
    a: float = 1.0
    b: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()

    def apply(self, raw: FloatArray) -> FloatArray:
        """Probabilities of raw log-odds."""
        if self.method == "sigmoid":
            return sigmoid(self.a * raw + self.b)
        return np.interp(raw, self.x, self.y)

    def to_document(self) -> dict[str, Any]:
        """JSON-safe form."""
        if self.method == "sigmoid":
            return {"method": "sigmoid", "a": self.a, "b": self.b}
        return {"method": "isotonic", "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Calibration:
        """Read `to_document`'s form back (ValueError/KeyError/TypeError when malformed)."""
        method = document["method"]
        if method == "sigmoid":
            return cls("sigmoid", a=float(document["a"]), b=float(document["b"]))
        if method != "isotonic":
            raise ValueError(f"unknown calibration {method!r}")
        x = tuple(float(value) for value in document["x"])
        y = tuple(float(value) for value in document["y"])
        if not x or len(x) != len(y) or any(b < a for a, b in pairwise(x)):
            raise ValueError("isotonic steps must be increasing, as many x as y")
        if any(not 0.0 <= value <= 1.0 for value in y):
            raise ValueError("isotonic probabilities must lie in [0, 1]")
        return cls("isotonic", x=x, y=y)


def fit_calibration(method: CalibrationMethod, raw: FloatArray, y: FloatArray) -> Calibration:
    """Learn `method` from raw scores and 0/1 labels (threads pinned by the caller)."""
    if method == "sigmoid":
        from sklearn.linear_model import LogisticRegression  # noqa: PLC0415 — only when fitting

        model = LogisticRegression(C=1e6, solver="newton-cholesky").fit(raw.reshape(-1, 1), y)
        return Calibration("sigmoid", a=float(model.coef_[0][0]), b=float(model.intercept_[0]))
    from sklearn.isotonic import IsotonicRegression  # noqa: PLC0415 — only when fitting

    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
    return Calibration(
        "isotonic",
        x=tuple(float(value) for value in isotonic.X_thresholds_),
        y=tuple(float(value) for value in isotonic.y_thresholds_),
    )


def cross_calibrate(
    method: CalibrationMethod, raw: FloatArray, y: FloatArray, folds: Folds
) -> FloatArray:
    """Honest calibrated probabilities: each fold calibrated by a fit on the other folds."""
    out = np.empty(len(raw))
    for train, test in folds:
        out[test] = fit_calibration(method, raw[train], y[train]).apply(raw[test])
    return out


def choose_method(
    raw: FloatArray, y: FloatArray, folds: Folds
) -> tuple[CalibrationMethod, FloatArray]:
    """Sigmoid, unless there are enough rows of each class and isotonic is clearly better;
    with the method's cross-calibrated probabilities."""
    positives = int(y.sum())
    methods: tuple[CalibrationMethod, ...] = get_args(CalibrationMethod)
    if min(positives, len(y) - positives) < ISOTONIC_MIN_CLASS:
        methods = ("sigmoid",)
    probabilities = {method: cross_calibrate(method, raw, y, folds) for method in methods}
    from sklearn.metrics import brier_score_loss  # noqa: PLC0415 — only when fitting

    brier = {method: float(brier_score_loss(y, p)) for method, p in probabilities.items()}
    if "isotonic" in brier and brier["isotonic"] < brier["sigmoid"] * (1 - ISOTONIC_MIN_GAIN):
        return "isotonic", probabilities["isotonic"]
    return "sigmoid", probabilities["sigmoid"]
