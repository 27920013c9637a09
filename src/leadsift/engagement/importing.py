"""`import events`: a file's rows recorded in chunks through `ingest`, in one transaction, then
the contacts whose events were stored rescored and moved (`AfterEvents`) in that transaction.

Services flush; the entrypoint commits (all or nothing: a crash leaves nothing). Re-importing a
file stores nothing new: a row with a key or a time is the same event again (a time the row
does not give is not part of what it says), and a row with neither gets a key derived from its
content (see `event_rows`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from leadsift.engagement import bulk_repository
from leadsift.engagement.event_files import EventRow, open_event_file
from leadsift.engagement.event_rows import Defaults, DerivedKeys, RowError
from leadsift.engagement.service import AfterEvents, IngestOptions, ingest
from leadsift.kit.clock import utcnow

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class RowRejection:
    """A row of the file that was not stored, and why."""

    row: int
    code: str
    message: str


RejectionsCallback = Callable[[Sequence[RowRejection]], None]


@dataclass(frozen=True)
class EventImportOptions:
    """How to read the file and check its events."""

    default_region: str = "FR"
    source: str | None = None
    campaign: str | None = None
    encoding: str | None = None
    dry_run: bool = False
    future_tolerance: timedelta = timedelta(minutes=5)
    chunk_rows: int = 10_000


class EventImportSummary(BaseModel):
    """The outcome of one event import; `--json` prints exactly this."""

    file: str
    format: str
    rows: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_by_code: dict[str, int] = Field(default_factory=dict)
    dated_at_import: int = 0
    contacts_rescored: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    warnings: list[str] = Field(default_factory=list)


@dataclass
class _Run:
    options: EventImportOptions
    now: datetime
    keys: DerivedKeys = field(default_factory=DerivedKeys)
    counts: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    contact_ids: set[int] = field(default_factory=set)

    @property
    def ingest_options(self) -> IngestOptions:
        return IngestOptions(self.options.default_region, self.options.future_tolerance)


def _chunks(rows: Iterator[EventRow], size: int) -> Iterator[list[EventRow]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def import_events(
    session: Session,
    path: Path,
    options: EventImportOptions,
    *,
    after: AfterEvents,
    now: datetime | None = None,
    progress: ProgressCallback | None = None,
    on_rejections: RejectionsCallback | None = None,
) -> EventImportSummary:
    """Record a file's events (each row checked on its own), then rescore their contacts."""
    started = time.perf_counter()
    run = _Run(options, now or utcnow())
    defaults = Defaults(options.source, options.campaign)
    with open_event_file(path, encoding=options.encoding, defaults=defaults) as events:
        bulk_repository.tune_for_bulk_import(session)
        for chunk in _chunks(events.rows, options.chunk_rows):
            rejected = _record_chunk(session, run, chunk)
            run.counts["rows"] += len(chunk)
            run.codes.update(r.code for r in rejected)
            if on_rejections is not None and rejected:
                on_rejections(rejected)
            if progress is not None:
                progress(events.bytes_read(), events.info.size_bytes)
        info = events.info
    after(session, run.contact_ids, run.now)
    session.flush()
    return EventImportSummary(
        file=info.name,
        format=info.file_format,
        rows=run.counts["rows"],
        inserted=run.counts["inserted"],
        duplicates=run.counts["duplicates"],
        rejected=run.codes.total(),
        rejected_by_code=dict(sorted(run.codes.items())),
        dated_at_import=run.counts["undated"],
        contacts_rescored=len(run.contact_ids),
        seconds=round(time.perf_counter() - started, 3),
        dry_run=options.dry_run,
        warnings=_warnings(run),
    )


def _warnings(run: _Run) -> list[str]:
    undated = run.counts["undated"]
    if not undated:
        return []
    return [
        f"{undated:,} row(s) had no occurred_at: they are dated at the import "
        f"({run.now.isoformat(timespec='seconds')}); give occurred_at to keep when they happened"
    ]


def _record_chunk(session: Session, run: _Run, chunk: list[EventRow]) -> list[RowRejection]:
    """Ingest one chunk; return its rejected rows in file order."""
    rejected: list[RowRejection] = []
    raws: list[dict[str, Any]] = []
    numbers: list[int] = []
    undated: list[bool] = []
    for number, item in chunk:
        if isinstance(item, RowError):
            rejected.append(RowRejection(number, item.code, item.message))
            continue
        dated = run.keys.assign(item)
        raws.append(item)
        numbers.append(number)
        undated.append(not dated)
    recorded = ingest(session, raws, now=run.now, options=run.ingest_options)
    errors = recorded.result.errors
    refused = {e.index for e in errors}
    run.counts["undated"] += sum(
        1 for index, flag in enumerate(undated) if flag and index not in refused
    )
    rejected += [RowRejection(numbers[e.index], e.code, e.message) for e in errors]
    run.counts["inserted"] += recorded.result.inserted
    run.counts["duplicates"] += recorded.result.duplicates
    run.contact_ids |= recorded.contact_ids
    return sorted(rejected, key=lambda r: r.row)
