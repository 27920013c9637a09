"""Group commit: events of concurrent requests recorded together, one transaction at a time.

A commit costs a disk flush (SQLite's `synchronous=FULL`, PostgreSQL's WAL flush). One writer
thread takes every request waiting in its queue, records each one's events in one pass, commits
once and only then answers them all: throughput grows with the number of clients.

Scores and stages follow. A lone request (nobody else waiting, no crowd lately) has its contacts
rescored and moved by the playbook's policy in the same transaction, before its answer. Under
load, answering comes first: the contacts touched go to the `Rescorer`, a second thread that
rescores whatever accumulated, a pass at a time, a tenth of a second after the first of them
arrived (well inside the one second the API promises). On PostgreSQL its queries run in another
server process while the writer records the next events. A crash between the two loses no
event, only a rescoring that the contact's next event or `leadsift score` redoes.

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
from leadsift.kit.sequences import pieces

logger = logging.getLogger("leadsift.events")


@dataclass
class _Job:
    events: Sequence[Any]
    future: Future[IngestResult] = field(default_factory=Future)


class Rescorer:
    """Rescores, in its own thread, the contacts whose events were stored without it."""

    def __init__(
        self, database: Database, after: AfterEvents, *, delay: float = 0.1, slice_size: int = 256
    ) -> None:
        self.database = database
        self.after = after
        self.delay = delay
        self.slice_size = slice_size
        self._pending: set[int] = set()
        self._since: float | None = None
        self._stopping = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="leadsift-rescorer", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Rescore what is pending, then stop."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self._thread.join(timeout)

    def add(self, contact_ids: set[int]) -> None:
        """Contacts to rescore soon."""
        if not contact_ids:
            return
        with self._changed:
            if self._since is None:
                self._since = time.monotonic()
            self._pending |= contact_ids
            self._changed.notify()

    def due_in(self) -> float | None:
        """Seconds until pending contacts are due (0 when due now), None when none pend."""
        with self._changed:
            if self._since is None:
                return None
            return max(self._since + self.delay - time.monotonic(), 0.0)

    def score_due_slice(self) -> None:
        """Inline mode: rescore one slice of the contacts due, if any (the rest stays due)."""
        with self._changed:
            if self._since is None or time.monotonic() - self._since < self.delay:
                return
            ordered = sorted(self._pending)
            chosen = set(ordered[: self.slice_size])
            self._pending -= chosen
            if not self._pending:
                self._since = None
        self._score(chosen)

    def score_all(self) -> None:
        """Inline mode: rescore everything pending now (when stopping)."""
        with self._changed:
            taken, self._pending, self._since = self._pending, set(), None
        self._score_in_slices(taken)

    def _take(self) -> set[int] | None:
        """The contacts due (after the delay), or None when stopping with nothing left."""
        with self._changed:
            while True:
                if self._since is None:
                    if self._stopping:
                        return None
                    self._changed.wait()
                    continue
                wait = self._since + self.delay - time.monotonic()
                if wait > 0 and not self._stopping:
                    self._changed.wait(wait)
                    continue
                taken, self._pending, self._since = self._pending, set(), None
                return taken

    def _run(self) -> None:
        while (contact_ids := self._take()) is not None:
            self._score_in_slices(contact_ids)

    def _score_in_slices(self, contact_ids: set[int]) -> None:
        # Sorted: one lock order for every pass (no deadlocks between passes).
        for piece in pieces(sorted(contact_ids), self.slice_size):
            self._score(set(piece))

    def _score(self, contact_ids: set[int]) -> None:
        try:
            with self.database.unit_of_work() as session:
                self.after(session, contact_ids, utcnow())
        except Exception:
            # The events are stored; their next event or `leadsift score` rescores them.
            logger.exception("rescoring %d contacts failed", len(contact_ids))


class EventWriter:
    """The one thread that writes events for a process; `submit` from any thread."""

    def __init__(
        self,
        database: Database,
        after: AfterEvents,
        options: IngestOptions,
        *,
        max_group_events: int = 5_000,
        crowd_memory: float = 0.25,
    ) -> None:
        self.database = database
        self.after = after
        self.options = options
        self.max_group_events = max_group_events
        self.crowd_memory = crowd_memory
        self.rescorer = Rescorer(database, after)
        # PostgreSQL rescoring runs in its own thread (its queries in another server process,
        # in parallel); SQLite has one writer at a time, and a writer waiting for the lock
        # backs off for up to 100 ms, so there the writer thread rescores between groups.
        self.threaded_rescoring = database.dialect == "postgresql"
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._crowded_at = -1.0e9  # when a group last held several requests
        self._thread = threading.Thread(target=self._run, name="leadsift-event-writer", daemon=True)

    def start(self) -> None:
        """Start the writer thread (and the rescorer's, on PostgreSQL)."""
        if self.threaded_rescoring:
            self.rescorer.start()
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is queued (events, then their scoring), then stop."""
        self._queue.put(None)
        self._thread.join(timeout)
        if self.threaded_rescoring:
            self.rescorer.stop(timeout)

    def submit(self, events: Sequence[Any]) -> Future[IngestResult]:
        """Queue one request's events; the future holds its answer once committed."""
        job = _Job(events)
        self._queue.put(job)
        return job.future

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self._rescore_due_in())
            except queue.Empty:  # pending scores are due and nobody is waiting
                self.rescorer.score_due_slice()
                continue
            if first is None:
                break
            group, stopping = self._drain(first)
            self._write(group)
            if stopping:
                break
            if not self.threaded_rescoring:
                self.rescorer.score_due_slice()  # one slice, then the requests waiting
        if not self.threaded_rescoring:
            self.rescorer.score_all()

    def _rescore_due_in(self) -> float | None:
        return None if self.threaded_rescoring else self.rescorer.due_in()

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
        # A lone request is scored before its answer; under load (several requests at once
        # lately, or more waiting) answering comes first and the rescorer follows.
        now = time.monotonic()
        if len(group) > 1:
            self._crowded_at = now
        quiet = now - self._crowded_at > self.crowd_memory
        score_now = quiet and len(group) == 1 and self._queue.empty()
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
                self.after(session, touched, now)
        if not score_now:
            self.rescorer.add(touched)
        return results


def _failure() -> Exception:
    return DatabaseError("the events could not be recorded; nothing was stored, retry later")
