"""What the agents domain returns: assignment runs, the next call, logged calls, speed to lead."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from leadsift.agents.speed import Speed


class AssignmentSummary(BaseModel):
    """Who got (or would get) which newly qualified prospects, by owner and by rule."""

    playbook: str | None
    dry_run: bool
    waiting: int
    assigned: int
    unassigned: int
    by_owner: dict[str, int]
    by_rule: dict[str, int]
    # A few contact ids per owner, to look at.
    examples: dict[str, list[int]]
    notes: list[str] = []
    seconds: float = 0.0


class OwnerView(BaseModel):
    """A contact's owner after a manual assignment."""

    contact_id: int
    user: str | None
    team: str | None
    rule: str
    assigned_at: datetime


class Exclusion(BaseModel):
    """Why someone may not be called now, and until when."""

    code: str
    message: str
    until: datetime | None = None


class NextCall(BaseModel):
    """The agent's next prospect, with what they need for the call; or nobody and why."""

    agent: str
    at: datetime
    contact: dict[str, Any] | None = None
    reason: str | None = None
    callback_due: datetime | None = None
    priority: float | None = None
    history: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    explanation: dict[str, Any] | None = None
    script: str | None = None
    # When nobody is returned: why (the calling window, or why each waiting prospect is out).
    nobody: Exclusion | None = None
    excluded: dict[str, int] = {}
    waiting: int = 0


class LoggedCall(BaseModel):
    """A call as logged: its outcome, the events written and the stage it left the contact in."""

    touch_id: int
    contact_id: int
    agent: str
    outcome: str
    reason: str | None = None
    callback_at: datetime | None = None
    amount: float | None = None
    stage: str
    stage_change: dict[str, Any] | None = None
    events: list[str]
    at: datetime


class SpeedReport(BaseModel):
    """Speed to lead per agent, source or team, over a period."""

    by: str
    sla_minutes: float
    since: datetime
    until: datetime
    rows: list[Speed]
    total: Speed


class WaitingProspect(BaseModel):
    """A qualified prospect nobody has touched yet, beyond the SLA."""

    contact_id: int
    qualified_at: datetime
    waiting_minutes: float
    owner: str | None
    source: str | None
