"""What the lifecycle commands return: qualify summaries, stage changes, explanations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class QualifySummary(BaseModel):
    """What `qualify` did (or would do, with --dry-run)."""

    playbook: str
    playbook_version: int | None
    evaluated: int
    changed: int
    stages: dict[str, int]
    reasons: dict[str, int]
    dry_run: bool = False
    seconds: float = 0.0


class StageChangeView(BaseModel):
    """One entry of a contact's stage history."""

    model_config = {"from_attributes": True}

    id: int
    contact_id: int
    from_stage: str
    to_stage: str
    reason: str
    actor: str
    playbook_version_id: int | None = None
    explanation: dict[str, Any] | None = None
    changed_at: datetime


class Explanation(BaseModel):
    """Why a contact is where it is: its history and its last evaluation, criterion by criterion."""

    contact_id: int
    stage: str
    stage_reason: str | None
    fit: int | None
    history: list[StageChangeView]
    evaluation: dict[str, Any] | None = Field(
        default=None, description="the last playbook evaluation, criterion by criterion"
    )
    interest: dict[str, Any] | None = Field(
        default=None,
        description="the interest now under the active playbook, rule by rule and event by event",
    )
    prediction: dict[str, Any] | None = Field(
        default=None,
        description="the active model's probability and priority, and the features behind them",
    )


class ScoreSummary(BaseModel):
    """What `leadsift score` did: contacts scored and moves by `from->to:reason`."""

    playbook: str
    playbook_version: int
    scored: int
    moves: dict[str, int]
    stages: dict[str, int]
    dry_run: bool = False
    seconds: float = 0.0
