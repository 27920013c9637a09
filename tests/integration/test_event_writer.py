"""The API's event writer: a lone request is scored before its answer; under load answers come
first and the contacts are rescored within a second; one bad request never loses the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact
from leadsift.db import Database
from leadsift.engagement.service import IngestOptions
from leadsift.engagement.writer import EventWriter
from leadsift.errors import DatabaseError
from leadsift.kit.clock import utcnow


class Recorder:
    """An `after` hook that remembers which contacts it was given, and when."""

    def __init__(self, fail_for: int | None = None) -> None:
        self.calls: list[tuple[set[int], float]] = []
        self.fail_for = fail_for
        self.lock = threading.Lock()

    def __call__(self, session: Session, contact_ids: set[int], now: datetime) -> None:
        if self.fail_for is not None and self.fail_for in contact_ids:
            raise RuntimeError("scoring failed")
        with self.lock:
            self.calls.append((set(contact_ids), time.monotonic()))

    def seen(self) -> set[int]:
        with self.lock:
            return set().union(*(ids for ids, _ in self.calls)) if self.calls else set()


@pytest.fixture
def workspace(committed_db_url: str) -> Iterator[tuple[Database, list[int]]]:
    database = Database(committed_db_url).ready()
    with database.unit_of_work() as session:
        now = utcnow()
        contacts = [
            Contact(email=f"w{n}@example.com", created_at=now, updated_at=now, attrs={})
            for n in range(40)
        ]
        session.add_all(contacts)
        session.flush()
        ids = [c.id for c in contacts]
    yield database, ids
    database.dispose()


def _event(contact_id: int, key: str) -> dict[str, Any]:
    return {"type": "page_view", "contact_id": contact_id, "idempotency_key": key}


def test_a_lone_request_is_scored_before_its_answer(
    workspace: tuple[Database, list[int]],
) -> None:
    database, ids = workspace
    after = Recorder()
    writer = EventWriter(database, after, IngestOptions())
    writer.start()
    try:
        result = writer.submit([_event(ids[0], "a")]).result(timeout=10)
        assert result.inserted == 1
        assert after.seen() == {ids[0]}  # already scored when the answer came
    finally:
        writer.stop()


def test_under_load_answers_come_first_and_scores_follow_within_a_second(
    workspace: tuple[Database, list[int]],
) -> None:
    database, ids = workspace
    after = Recorder()
    writer = EventWriter(database, after, IngestOptions())
    # Queued before the writer starts: they form one crowded group.
    futures = [writer.submit([_event(contact_id, f"k{contact_id}")]) for contact_id in ids]
    writer.start()
    try:
        answered_at = None
        for future in futures:
            assert future.result(timeout=10).inserted == 1
        answered_at = time.monotonic()
        deadline = answered_at + 1.0
        while after.seen() != set(ids) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert after.seen() == set(ids)
    finally:
        writer.stop()


def test_stopping_scores_what_is_pending(workspace: tuple[Database, list[int]]) -> None:
    database, ids = workspace
    after = Recorder()
    writer = EventWriter(database, after, IngestOptions())
    futures = [writer.submit([_event(contact_id, f"s{contact_id}")]) for contact_id in ids[:10]]
    writer.start()
    for future in futures:
        future.result(timeout=10)
    writer.stop()
    assert after.seen() == set(ids[:10])


def test_a_failing_request_spares_the_others(workspace: tuple[Database, list[int]]) -> None:
    database, ids = workspace
    after = Recorder(fail_for=ids[1])
    writer = EventWriter(database, after, IngestOptions())
    writer.start()
    try:
        # Lone requests are scored in their own transaction: the failing one is refused whole.
        good = writer.submit([_event(ids[0], "g")]).result(timeout=10)
        assert good.inserted == 1
        with pytest.raises(DatabaseError):
            writer.submit([_event(ids[1], "b")]).result(timeout=10)
        again = writer.submit([_event(ids[2], "h")]).result(timeout=10)
        assert again.inserted == 1
    finally:
        writer.stop()
