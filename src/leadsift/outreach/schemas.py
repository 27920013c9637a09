"""Values outreach's services take and give: campaign specifications and summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StepSpec:
    """A later step of a sequence: its delay after the previous step, and its template."""

    delay_s: int
    template: dict[str, Any]
    source: str


@dataclass(frozen=True)
class CampaignSpec:
    """What `campaign create` was asked for."""

    key: str
    template: dict[str, Any]
    template_source: str
    target: str | None = None
    stage: str | None = None
    audience: str = "b2c"
    link_url: str | None = None
    promo: str | None = None
    control_percent: float = 0.0
    throttle_per_hour: int | None = None
    steps: tuple[StepSpec, ...] = ()


@dataclass(frozen=True)
class CampaignView:
    """A campaign as shown by `campaign status` and the API."""

    key: str
    channel: str
    audience: str
    target: str
    status: str
    steps: int
    control_percent: float
    throttle_per_hour: int | None
    link_url: str | None
    promo: str | None
    scheduled_at: datetime | None
    created_at: datetime
    prepared: dict[str, Any] = field(default_factory=dict)
    outbox: dict[str, dict[str, int]] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Skip:
    """A contact the campaign would not message, and why."""

    contact_id: int
    reason: str


@dataclass(frozen=True)
class Preview:
    """One contact's message as it would be sent, and who would be skipped and why."""

    campaign: str
    contact_id: int
    decision: dict[str, Any]
    language: str
    subject: str | None
    text: str
    html: str | None
    recipients: int
    control: int
    skipped: dict[str, int]
    skipped_examples: list[Skip]
