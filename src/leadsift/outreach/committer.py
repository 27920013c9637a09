"""Group commit for the worker's lanes on SQLite: the writes lanes ask for at the same moment
share one transaction, hence one flush to disk.

SQLite has one writer and makes every commit durable with an fsync (`synchronous=FULL`): lanes
committing each message on their own wait in line for the disk, one flush per message. Here a
single thread takes every write queued, runs them in one transaction (when one fails, the
group is rolled back and each write runs again alone, so only the failing lane gets the error),
commits once, and only then tells each lane its write is done — so a lane still never sends
its next message before the previous one is recorded on disk. On PostgreSQL each lane commits
on its own connection (the server already groups concurrent commits): `LaneWrites` picks.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from leadsift.db import Database

T = TypeVar("T")
_STOP: Any = object()


class GroupCommitter:
    """Runs writes for several threads, those queued together in one transaction."""

    def __init__(self, database: Database, *, max_group: int = 64) -> None:
        self.database = database
        self.max_group = max_group
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="leadsift-commit", daemon=True)
        self._thread.start()

    def write(self, work: Callable[[Session], T]) -> T:
        """Run WORK in a transaction and return its result once that transaction is committed."""
        done: Future[T] = Future()
        self._queue.put((work, done))
        return done.result()

    def close(self) -> None:
        """Stop after the writes already queued."""
        self._queue.put(_STOP)
        self._thread.join()

    def _take(self) -> tuple[list[tuple[Callable[[Session], Any], Future[Any]]], bool]:
        first = self._queue.get()
        if first is _STOP:
            return [], True
        group, stop = [first], False
        while len(group) < self.max_group:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                stop = True
                break
            group.append(item)
        return group, stop

    def _run(self) -> None:
        stop = False
        while not stop:
            group, stop = self._take()
            if group:
                self._commit(group)

    def _commit(self, group: list[tuple[Callable[[Session], Any], Future[Any]]]) -> None:
        results: list[Any] = []
        try:
            with self.database.unit_of_work() as session:
                for work, _ in group:
                    results.append(work(session))
        except Exception as exc:
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            # One write failed and took the group's transaction with it: each again, alone.
            for item in group:
                self._commit([item])
            return
        except BaseException as exc:
            for _, done in group:
                done.set_exception(exc)
            raise
        for (_, done), result in zip(group, results, strict=True):
            done.set_result(result)


class LaneWrites:
    """How the worker's lanes write: through a `GroupCommitter` on SQLite; on PostgreSQL each
    on a connection the lane holds while it works a claim (no pool check-out, hence no
    pre-ping round trip, per message)."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._committer: GroupCommitter | None = None

    def start(self) -> None:
        """Start the committer (SQLite)."""
        if self.database.dialect == "sqlite":
            self._committer = GroupCommitter(self.database)

    def close(self) -> None:
        """Stop the committer (after the writes already queued)."""
        if self._committer is not None:
            self._committer.close()
            self._committer = None

    @contextmanager
    def held(self) -> Iterator[Connection | None]:
        """A connection for a lane to keep meanwhile (None on SQLite)."""
        if self._committer is not None:
            yield None
            return
        with self.database.engine.connect() as connection:
            yield connection

    def write(self, work: Callable[[Session], T], held: Connection | None = None) -> T:
        """Run WORK in a committed transaction (on HELD when given) and return its result."""
        if self._committer is not None:
            return self._committer.write(work)
        if held is None:
            with self.database.unit_of_work() as session:
                return work(session)
        session = self.database.sessions(bind=held)
        try:
            result = work(session)
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def read(self, work: Callable[[Session], T], held: Connection | None = None) -> T:
        """Run WORK in a read-only transaction (on HELD when given): no write lock on SQLite."""
        if held is not None:
            return self.write(work, held)
        with self.database.unit_of_work(read_only=True) as session:
            return work(session)
