"""Group commit: events of concurrent requests recorded together, one transaction at a time.

A commit costs a disk flush (SQLite's `synchronous=FULL`, PostgreSQL's WAL flush). One writer
thread takes every request waiting in its queue, records each one's events, rescores the
contacts they touched, commits once and only then answers them all: throughput grows with the
number of clients while every answer still means "stored and scored". A group that fails is
retried request by request, so one request's failure never loses another's events.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from leadsift.db import Database
from leadsift.engagement.schemas import IngestResult
from leadsift.engagement.service import AfterEvents, IngestOptions, ingest_requests
from leadsift.errors import DatabaseError
from leadsift.kit.clock import utcnow

logger = logging.getLogger("leadsift.events")


@dataclass
class _Job:
    events: Sequence[Any]
    future: Future[IngestResult] = field(default_factory=Future)


class EventWriter:
    """The one thread that writes events for a process; `submit` from any thread."""

    def __init__(
        self,
        database: Database,
        after: AfterEvents,
        options: IngestOptions,
        max_group_events: int = 5_000,
    ) -> None:
        self.database = database
        self.after = after
        self.options = options
        self.max_group_events = max_group_events
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="leadsift-event-writer", daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    def submit(self, events: Sequence[Any]) -> Future[IngestResult]:
        """Queue one request's events; the future holds its answer once committed."""
        job = _Job(events)
        self._queue.put(job)
        return job.future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, stopping = self._drain(first)
            self._write(group)
            if stopping:
                return

    def _drain(self, first: _Job) -> tuple[list[_Job], bool]:
        group, size = [first], len(first.events)
        while size < self.max_group_events:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return group, True
            group.append(job)
            size += len(job.events)
        return group, False

    def _write(self, group: list[_Job]) -> None:
        try:
            results = self._transaction(group)
        except Exception:
            if len(group) == 1:
                logger.exception("recording events failed")
                group[0].future.set_exception(_failure())
                return
            for job in group:  # find the culprit: every other request still gets recorded
                self._write([job])
            return
        for job, result in zip(group, results, strict=True):
            job.future.set_result(result)

    def _transaction(self, group: list[_Job]) -> list[IngestResult]:
        with self.database.unit_of_work() as session:
            now = utcnow()
            requests = [job.events for job in group]
            results, touched = ingest_requests(session, requests, now=now, options=self.options)
            self.after(session, touched, now)
        return results


def _failure() -> Exception:
    return DatabaseError("the events could not be recorded; nothing was stored, retry later")
