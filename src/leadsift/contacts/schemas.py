"""Pydantic shapes of what the contacts domain returns to the CLI, API and library users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, Field


@dataclass(frozen=True)
class ImportOptions:
    """How to read, map and merge one file."""

    mapping: tuple[str, ...] = ()
    default_region: str = "FR"
    generate_ids: bool = False
    update: bool = False
    dry_run: bool = False
    encoding: str | None = None
    workers: int | None = None  # None: decided from the file size


class ImportSummary(BaseModel):
    """The outcome of one import; `--json` prints exactly this."""

    batch_id: int | None
    file: str
    rows: int = 0
    created: int = 0
    merged: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = Field(default_factory=dict)
    seconds: float = 0.0
    dry_run: bool = False
    format: str = "csv"
    encoding: str | None = None
    delimiter: str | None = None
    mapping: dict[str, str] = Field(default_factory=dict)
    attribute_types: dict[str, str] = Field(default_factory=dict)


class UndoSummary(BaseModel):
    """What `import undo` removed and restored."""

    batch_id: int
    contacts_deleted: int
    contacts_restored: int
    consent_records_deleted: int


class ContactView(BaseModel):
    """One contact as shown by `contacts show` and the API."""

    id: int
    email: str | None
    phone: str | None
    phone_raw: str | None = None
    external_id: str | None = None
    first_name: str | None
    last_name: str | None
    birth_date: date | None
    age: int | None
    postal_code: str | None = None
    city: str | None = None
    region: str | None = None
    country: str | None = None
    company: str | None = None
    job_title: str | None = None
    source: str | None = None
    stage: str
    stage_reason: str | None = None
    attrs: dict[str, Any] = Field(default_factory=dict)
    consent: dict[str, bool] = Field(default_factory=dict)
    scores: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "fit (points of the last qualify), interest (decayed, as of interest_at), "
            "probability and priority (the active model's, as of predicted_at; null before)"
        ),
    )
