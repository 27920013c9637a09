"""The outbox worker: claims due messages, re-checks consent and suppression right before each
send, sends, and settles each message in its own transaction before the next one.

Why it never sends twice nor loses a message: a claim is committed before anything is sent,
and messages of a claim are sent one at a time, in id order, each settled (committed) before
the next is touched. So when a worker dies, of the messages a claim holds unsettled only the
first may have left — it is marked `ambiguous` and listed, never re-sent — and the others
certainly did not leave and go back to the queue. A worker is known dead when its process is
gone (same host) or its heartbeat is older than `stale_after`.

One process runs several lanes (threads, each with its own claim token, connection to the
server and transactions): one lane's message is on the wire while another's is checked or
recorded. Each lane keeps the rule above, so a killed process leaves at most one ambiguous
message per lane. On SQLite the lanes' writes are grouped by one committer (SQLite has one
writer); on PostgreSQL each lane holds a connection while it works a claim, and a sent message,
its event and the next message's re-check are one statement (`delivery.record_sent`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from leadsift.db import Database
from leadsift.kit.clock import utcnow
from leadsift.outreach import campaign_repository
from leadsift.outreach import outbox_repository as outbox
from leadsift.outreach.campaigns import Sending, composer
from leadsift.outreach.channels.base import EmailChannel, SendResult, SmsChannel
from leadsift.outreach.committer import LaneWrites
from leadsift.outreach.consent import suppression_secret
from leadsift.outreach.delivery import (
    Check,
    Claim,
    Delivery,
    check,
    has_next_step,
    record,
    record_sent,
    send,
    settle_unsent,
    take_claim,
)  # isort: skip
from leadsift.outreach.models import OutboxWorker

T = TypeVar("T")
# A connection-level failure (the server is down) sends the rest of the claim back this late.
SERVER_DOWN_DELAY = timedelta(seconds=30)


@dataclass(frozen=True)
class WorkerOptions:
    """How the worker runs."""

    once: bool = False
    batch: int = 50
    lanes: int = 4
    poll_seconds: float = 1.0
    heartbeat_seconds: float = 5.0
    stale_after: timedelta = timedelta(seconds=60)
    max_messages: int | None = None


@dataclass
class WorkerReport:
    """What one run of the worker did, by outcome."""

    token: str
    outcomes: dict[str, int] = field(default_factory=dict)
    recovered_ambiguous: list[int] = field(default_factory=list)
    recovered_released: int = 0
    seconds: float = 0.0

    def count(self, outcome: str) -> None:
        """Count one message's outcome."""
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(
    session: Session, now: datetime, stale_after: timedelta, mine: frozenset[str] = frozenset()
) -> tuple[list[int], int]:
    """Settle the claims of dead workers: the first unsettled message of each may have left
    (ambiguous), the others go back to the queue. Returns (ambiguous ids, released count)."""
    host = socket.gethostname()
    tokens = outbox.orphan_tokens(session)
    for worker in outbox.running_workers(session):
        if worker.token in mine:
            continue
        gone = worker.host == host and not _alive(worker.pid)
        if gone or worker.heartbeat_at < now - stale_after:
            tokens.append(worker.token)
            outbox.stop_worker(session, worker.token, now)
    ambiguous: list[int] = []
    released = 0
    for token in tokens:
        claimed = outbox.claimed_by(session, token)
        if not claimed:
            continue
        outbox.mark_ambiguous(session, claimed[0], f"worker {token} died while sending", now)
        ambiguous.append(claimed[0])
        released += outbox.release(session, claimed[1:])
    return ambiguous, released


@dataclass
class _Step:
    """One message of a claim: the next one, the check made, what the channel answered."""

    row: dict[str, Any]
    following: dict[str, Any] | None
    decided: Check
    result: SendResult | None = None
    message_id: str | None = None


@dataclass
class _Lane:
    """One thread's token, open channels and campaign caches."""

    token: str
    channels: dict[str, EmailChannel | SmsChannel] = field(default_factory=dict)
    deliveries: dict[int, Delivery] = field(default_factory=dict)
    last_beat: float = field(default_factory=time.monotonic)
    # PostgreSQL: the connection the lane holds while it works a claim.
    held: Connection | None = None


class Worker:
    """One worker process: its lanes over the outbox."""

    def __init__(
        self,
        database: Database,
        *,
        sending: Sending,
        email: Callable[[], EmailChannel],
        sms: Callable[[], SmsChannel],
        options: WorkerOptions,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.database, self.sending, self.options, self.clock = database, sending, options, clock
        self._factories: dict[str, Callable[[], EmailChannel | SmsChannel]] = {
            "email": email,
            "sms": sms,
        }
        self.report = WorkerReport(token=secrets.token_hex(16))
        self._lanes = [_Lane(secrets.token_hex(16)) for _ in range(max(1, options.lanes))]
        self._mine = frozenset(lane.token for lane in self._lanes)
        self._budget = options.max_messages
        self._state = threading.Lock()
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._writes = LaneWrites(database)

    def _write(self, work: Callable[[Session], T], lane: _Lane | None = None) -> T:
        """Run WORK in a committed transaction: grouped with other lanes' on SQLite, on LANE's
        connection when it holds one."""
        return self._writes.write(work, lane.held if lane is not None else None)

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> WorkerReport:
        """Work until nothing is due (`once`), MAX_MESSAGES are claimed, or SHOULD_STOP."""
        started = time.perf_counter()
        self._register()
        self._writes.start()
        threads = [
            threading.Thread(target=self._lane, args=(lane,), name=f"leadsift-lane-{i}")
            for i, lane in enumerate(self._lanes)
        ]
        for thread in threads:
            thread.start()
        try:
            while any(t.is_alive() for t in threads):
                if should_stop():
                    self._stop.set()
                threads[0].join(0.2)
        except KeyboardInterrupt:
            self._stop.set()
            raise
        finally:
            for thread in threads:
                thread.join()
            self._writes.close()
            self.report.seconds = round(time.perf_counter() - started, 3)
        if self._errors:
            raise self._errors[0]
        return self.report

    def _register(self) -> None:
        now = self.clock()
        with self.database.unit_of_work() as session:
            ambiguous, released = recover(session, now, self.options.stale_after, self._mine)
            self.report.recovered_ambiguous += ambiguous
            self.report.recovered_released += released
            for lane in self._lanes:
                worker = OutboxWorker(
                    token=lane.token,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=now,
                    heartbeat_at=now,
                )
                outbox.register_worker(session, worker)

    def _lane(self, lane: _Lane) -> None:
        crashed = False
        try:
            while not self._stop.is_set():
                with self._holding(lane):
                    claim = self._claim(lane)
                    if claim.rows:
                        self._work(lane, claim)
                        continue
                if self.options.once or self._budget == 0:
                    break
                self._beat(lane)
                self._stop.wait(self.options.poll_seconds)
        except BaseException as exc:  # a lane's failure stops the others, then is raised
            crashed = True
            self._errors.append(exc)
            self._stop.set()
        finally:
            self._close(lane, crashed=crashed)

    @contextlib.contextmanager
    def _holding(self, lane: _Lane) -> Iterator[None]:
        with self._writes.held() as held:
            lane.held = held
            try:
                yield
            finally:
                lane.held = None

    def _take_budget(self, wanted: int) -> int:
        with self._state:
            if self._budget is None:
                return wanted
            granted = min(wanted, self._budget)
            self._budget -= granted
            return granted

    def _claim(self, lane: _Lane) -> Claim:
        limit = self._take_budget(self.options.batch)
        if limit == 0:
            return Claim([])
        found = self._write(partial(take_claim, token=lane.token, now=self.clock(), limit=limit),
                            lane)  # fmt: skip
        if self._budget is not None and len(found.rows) < limit:
            with self._state:
                self._budget += limit - len(found.rows)
        return found

    def _delivery(self, lane: _Lane, campaign_id: int) -> Delivery:
        found = lane.deliveries.get(campaign_id)
        if found is None:
            # A writing transaction: the workspace's secrets are made on first use.

            def load(session: Session) -> Delivery:
                campaign = campaign_repository.campaigns_by_id(session, [campaign_id])[campaign_id]
                made = composer(session, campaign, self.sending)
                return Delivery(campaign, made, suppression_secret(session))

            found = lane.deliveries[campaign_id] = self._write(load, lane)
        return found

    def _channel(self, lane: _Lane, name: str) -> EmailChannel | SmsChannel:
        found = lane.channels.get(name)
        if found is None:
            made = self._factories[name]()
            made.open()
            lane.channels[name] = found = made
        return found

    def _check(self, lane: _Lane, session: Session, *, claim: Claim, row: dict[str, Any]) -> Check:
        campaign_id = int(row["campaign_id"])
        facts = claim.facts[campaign_id].get(int(row["contact_id"]))
        return check(session, lane.deliveries[campaign_id], row, facts, self.clock())

    def _work(self, lane: _Lane, claim: Claim) -> None:
        """Each message: the check made in the previous message's transaction (or a short read
        for the first), the send, then one transaction recording it and checking the next."""
        for campaign_id in claim.facts:
            self._delivery(lane, campaign_id)
        rows = claim.rows
        decided = self._writes.read(partial(self._check, lane, claim=claim, row=rows[0]), lane.held)
        for position, row in enumerate(rows):
            step = _Step(row, rows[position + 1] if position + 1 < len(rows) else None, decided)
            if decided.action == "send":
                delivery = lane.deliveries[int(row["campaign_id"])]
                channel = self._channel(lane, delivery.campaign.channel)
                code = claim.codes.get(int(row["id"]))
                step.result, step.message_id = send(delivery, row, decided.facts, code, channel)
            if self._sent_alone(lane, step):
                outcome, upcoming = "sent", self._settle_sent(lane, claim, step)
            else:
                outcome, upcoming = self._write(partial(self._settle, lane, claim, step), lane)
            decided = upcoming or decided
            with self._state:
                self.report.count(outcome)
            if outcome == "server_down":
                rest = [int(r["id"]) for r in rows[position + 1 :]]
                self._write(partial(outbox.release, outbox_ids=rest,
                                    due_at=self.clock() + SERVER_DOWN_DELAY), lane)  # fmt: skip
                break
            self._beat(lane)

    def _settle(
        self, lane: _Lane, claim: Claim, step: _Step, session: Session
    ) -> tuple[str, Check | None]:
        """Record one message's fate and check the next one, in one transaction."""
        row, now = step.row, self.clock()
        if step.result is None:
            outcome = settle_unsent(session, row, step.decided, now)
        else:
            delivery = lane.deliveries[int(row["campaign_id"])]
            outcome = record(
                session, delivery, row, result=step.result, message_id=step.message_id, now=now
            )
        if step.following is None or outcome == "server_down":
            return outcome, None
        return outcome, self._check(lane, session, claim=claim, row=step.following)

    def _sent_alone(self, lane: _Lane, step: _Step) -> bool:
        """Whether `record_sent` records STEP: sent, on PostgreSQL, with no step after it."""
        sent = lane.held is not None and step.result is not None and step.result.status == "sent"
        return sent and not has_next_step(lane.deliveries[int(step.row["campaign_id"])], step.row)

    def _settle_sent(self, lane: _Lane, claim: Claim, step: _Step) -> Check | None:
        """A sent message's record and the next message's re-check, in one statement."""
        assert lane.held is not None and step.result is not None  # noqa: S101 — _sent_alone
        following, row = step.following, step.row
        upcoming = None
        if following is not None:
            campaign_id = int(following["campaign_id"])
            facts = claim.facts[campaign_id].get(int(following["contact_id"]))
            upcoming = (lane.deliveries[campaign_id], following, facts)
        return record_sent(
            lane.held.connection.driver_connection, lane.deliveries[int(row["campaign_id"])], row,
            result=step.result, message_id=step.message_id, now=self.clock(), following=upcoming,
            read=partial(self._write, lane=lane),
        )  # fmt: skip

    def _beat(self, lane: _Lane) -> None:
        if time.monotonic() - lane.last_beat < self.options.heartbeat_seconds:
            return
        lane.last_beat = time.monotonic()

        def beat(session: Session) -> tuple[list[int], int]:
            now = self.clock()
            outbox.heartbeat(session, lane.token, now)
            return recover(session, now, self.options.stale_after, self._mine)

        ambiguous, released = self._write(beat, lane)
        with self._state:
            self.report.recovered_ambiguous += ambiguous
            self.report.recovered_released += released

    def _close(self, lane: _Lane, *, crashed: bool) -> None:
        """Give back what the lane claimed and did not touch; after a failure mid-message, that
        message may have left: ambiguous, as if the process had died."""
        for channel in lane.channels.values():
            with contextlib.suppress(Exception):
                channel.close()

        def close(session: Session) -> None:
            claimed = outbox.claimed_by(session, lane.token)
            if crashed and claimed:
                now = self.clock()
                outbox.mark_ambiguous(session, claimed[0], "the worker failed while sending", now)
                claimed = claimed[1:]
            outbox.release(session, claimed)
            outbox.stop_worker(session, lane.token, self.clock())

        self._write(close)
