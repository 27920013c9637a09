"""What the model commands return: training summaries, stored models, scoring runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, StrictBool


class TrainOptions(BaseModel):
    """The options of `model train` but its holdout: what to learn, from which fields, how."""

    label: str | None = Field(
        default=None, description="a field or criteria expression (default: became a customer)"
    )
    positive: str | None = Field(default=None, description="the label field's positive value")
    exclude: list[str] = Field(default_factory=list)
    include: list[str] = Field(default_factory=list)
    cv: int = Field(default=5, ge=2, le=20)
    activate: StrictBool = True  # JSON's 0 is not false (the API's schema says boolean)


class TrainRequest(TrainOptions):
    """The options of `model train`."""

    holdout_last: float | None = Field(default=None, gt=0.0, lt=1.0)
    order_by: str | None = None


class ExcludedField(BaseModel):
    """A field the model does not learn from, and why."""

    field: str
    reason: str


class TrainSummary(BaseModel):
    """What `model train` learnt and how well it does on data it did not see."""

    model_id: int
    kind: str
    label: str
    rows: int
    positives: int
    features: list[str]
    excluded: list[ExcludedField]
    metrics: dict[str, float]
    holdout: dict[str, Any] | None
    candidates: dict[str, Any]
    calibration: str
    warnings: list[str]
    activated: bool
    seconds: float


class ModelView(BaseModel):
    """A stored model as `model list` and `model show` give it."""

    id: int
    kind: str
    label: str
    rows: int
    positives: int
    roc_auc: float | None
    created_at: datetime
    activated_at: datetime | None
    active: bool
    card: dict[str, Any] | None = None


class ScoreRun(BaseModel):
    """What `model score` wrote."""

    model_id: int
    contacts: int
    mean_probability: float | None
    above: dict[str, int] = Field(description="contacts with a probability of at least each bar")
    seconds: float
