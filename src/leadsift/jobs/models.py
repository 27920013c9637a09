"""ORM model of long jobs: what was asked, by whom, where it stands, and what it gave."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from leadsift.kit.orm import Base, IdType, JsonType, UtcDateTime


class Job(Base):
    """One import, scoring, qualification or training run, queued and run by the worker."""

    __tablename__ = "jobs"
    __table_args__ = (
        # The queue (oldest queued first) and `jobs?status=`: one range of this index.
        Index("ix_jobs_status", "status", "id"),
        # A person's or integration's own jobs, newest first.
        Index("ix_jobs_created_by", "created_by", "id"),
        # An Idempotency-Key names one job per caller; most jobs have none.
        Index(
            "uq_jobs_idempotency",
            "created_by",
            "idempotency_key",
            unique=True,
            sqlite_where=text("idempotency_key IS NOT NULL"),
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    # import_contacts, import_events, score, qualify, model_score, model_train.
    kind: Mapped[str] = mapped_column(String(20))
    # queued, running, succeeded, failed, cancelled.
    status: Mapped[str] = mapped_column(String(10))
    # The command's options; an upload's stored path, never a path a client gave.
    parameters: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # The private folder of an upload (and its rejected rows report), removed after a while.
    folder: Mapped[str | None] = mapped_column(String(1000))
    created_by: Mapped[str] = mapped_column(String(60))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # SHA-256 of the request (kind and parameters): a key reused for another request is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    progress_done: Mapped[int | None] = mapped_column(BigInteger)
    progress_total: Mapped[int | None] = mapped_column(BigInteger)
    # What the command's --json prints.
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    warnings: Mapped[list[str] | None] = mapped_column(JsonType)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(String(2000))
    # Claims so far: a job whose worker died is queued again once, then failed.
    attempts: Mapped[int] = mapped_column(Integer)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    # "host:pid" of the process running it (a dead process on the same host is seen at once).
    worker: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
