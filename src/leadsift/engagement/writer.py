"""Group commit: events of concurrent requests recorded together, one transaction at a time.

A commit costs a disk flush (SQLite's `synchronous=FULL`, PostgreSQL's WAL flush). One writer
thread takes every request waiting in its queue, records each one's events in one pass, commits
once and only then answers them all: throughput grows with the number of clients.

Scores and stages follow in the same thread. When nobody else is waiting, the contacts touched
are rescored (and moved by the playbook's policy) in the same transaction, before the answer.
Under load, answering comes first: the contacts touched are collected and rescored together at
most `max_score_delay` later (a quarter of a second by default, well inside the one second the
API promises), so one scoring pass serves many requests. A crash between the two loses no event,
only a rescoring that the next event or `leadsift score` redoes.

A group that fails is retried request by request, so one request's failure never loses another's
events.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
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


@dataclass
class _Pending:
    """Contacts whose events are stored but not yet scored, and since when."""

    contact_ids: set[int] = field(default_factory=set)
    since: float | None = None

    def add(self, contact_ids: set[int]) -> None:
        """Remember contacts to rescore."""
        if contact_ids and self.since is None:
            self.since = time.monotonic()
        self.contact_ids |= contact_ids

    def take(self) -> set[int]:
        """The contacts to rescore now; nothing is pending afterwards."""
        taken, self.contact_ids, self.since = self.contact_ids, set(), None
        return taken


class EventWriter:
    """The one thread that writes events for a process; `submit` from any thread."""

    def __init__(
        self,
        database: Database,
        after: AfterEvents,
        options: IngestOptions,
        max_group_events: int = 5_000,
        max_score_delay: float = 0.25,
    ) -> None:
        self.database = database
        self.after = after
        self.options = options
        self.max_group_events = max_group_events
        self.max_score_delay = max_score_delay
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._pending = _Pending()
        self._thread = threading.Thread(target=self._run, name="leadsift-event-writer", daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued (events and their scoring), then stop."""
        self._queue.put(None)
        self._thread.join(timeout)

    def submit(self, events: Sequence[Any]) -> Future[IngestResult]:
        """Queue one request's events; the future holds its answer once committed."""
        job = _Job(events)
        self._queue.put(job)
        return job.future

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:  # the pending scores are due and nobody is waiting
                self._score_pending()
                continue
            if isinstance(item, _Stop):
                self._score_pending()
                return
            group, stopping = self._drain(item)
            self._write(group)
            if stopping:
                self._score_pending()
                return
            if self._overdue():
                self._score_pending()

    def _next(self) -> _Job | _Stop | None:
        """The next job; `_Stop` when asked to stop; None when pending scores are due."""
        timeout = None
        if self._pending.since is not None:
            timeout = max(self._pending.since + self.max_score_delay - time.monotonic(), 0.0)
        try:
            job = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        return _STOP if job is None else job

    def _overdue(self) -> bool:
        since = self._pending.since
        return since is not None and time.monotonic() - since >= self.max_score_delay

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
        # Under load (several requests at once, or more waiting), answer first and score this
        # group's contacts with the next ones', later; a lone request is scored before its answer.
        score_now = len(group) == 1 and self._queue.empty()
        try:
            results = self._transaction(group, score_now=score_now)
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

    def _transaction(self, group: list[_Job], *, score_now: bool) -> list[IngestResult]:
        with self.database.unit_of_work() as session:
            now = utcnow()
            requests = [job.events for job in group]
            results, touched = ingest_requests(session, requests, now=now, options=self.options)
            if score_now:
                self.after(session, touched | self._pending.contact_ids, now)
        if score_now:
            self._pending.take()
        else:
            self._pending.add(touched)
        return results

    def _score_pending(self) -> None:
        contact_ids = self._pending.take()
        if not contact_ids:
            return
        try:
            with self.database.unit_of_work() as session:
                self.after(session, contact_ids, utcnow())
        except Exception:
            # The events are stored; their next event or `leadsift score` rescores them.
            logger.exception("rescoring %d contacts failed", len(contact_ids))


class _Stop:
    """The marker `_next` returns when the writer is asked to stop."""


_STOP = _Stop()


def _failure() -> Exception:
    return DatabaseError("the events could not be recorded; nothing was stored, retry later")
