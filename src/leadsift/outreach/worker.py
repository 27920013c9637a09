"""The outbox worker: claims due messages, re-checks consent and suppression right before each
send, sends, and settles each message in its own transaction before the next one.

Why it never sends twice nor loses a message: a claim is committed before anything is sent,
and messages of a claim are sent one at a time, in id order, each settled (committed) before
the next is touched. So when a worker dies, of the messages it claimed and did not settle only
the first may have left — it is marked `ambiguous` and listed, never re-sent — and the others
certainly did not leave and go back to the queue. A worker is known dead when its process is
gone (same host) or its heartbeat is stale.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from leadsift.db import Database
from leadsift.kit.clock import utcnow
from leadsift.outreach import campaign_repository, promo_repository
from leadsift.outreach import outbox_repository as outbox
from leadsift.outreach.campaigns import Sending, composer
from leadsift.outreach.channels.base import EmailChannel, SmsChannel
from leadsift.outreach.consent import suppression_secret
from leadsift.outreach.delivery import Delivery, deliver
from leadsift.outreach.models import OutboxWorker
from leadsift.outreach.promo import issue_codes

# A connection-level failure (the server is down) sends the rest of the claim back this late.
SERVER_DOWN_DELAY = timedelta(seconds=30)


@dataclass(frozen=True)
class WorkerOptions:
    """How the worker runs."""

    once: bool = False
    batch: int = 50
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

    @property
    def handled(self) -> int:
        """Messages settled by this run."""
        return sum(self.outcomes.values())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(
    session: Session, now: datetime, stale_after: timedelta, me: str | None = None
) -> tuple[list[int], int]:
    """Settle the claims of dead workers: the first unsettled message of each may have left
    (ambiguous), the others go back to the queue. Returns (ambiguous ids, released count)."""
    host = socket.gethostname()
    tokens = outbox.orphan_tokens(session)
    for worker in outbox.running_workers(session):
        if worker.token == me:
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


class Worker:
    """One worker process's loop over the outbox."""

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
        self._channels: dict[str, EmailChannel | SmsChannel] = {}
        self.report = WorkerReport(token=secrets.token_hex(16))
        self._last_beat = 0.0
        self._composers: dict[int, Delivery] = {}

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> WorkerReport:
        """Work until nothing is due (`once`), MAX_MESSAGES are settled, or SHOULD_STOP."""
        started = time.perf_counter()
        self._register()
        try:
            while not should_stop():
                if self._limit_reached():
                    break
                claimed = self._claim()
                if claimed:
                    self._work(claimed)
                    continue
                if self.options.once:
                    break
                self._beat(force=False)
                time.sleep(self.options.poll_seconds)
        finally:
            self._close()
        self.report.seconds = round(time.perf_counter() - started, 3)
        return self.report

    def _limit_reached(self) -> bool:
        limit = self.options.max_messages
        return limit is not None and self.report.handled >= limit

    def _register(self) -> None:
        now = self.clock()
        with self.database.unit_of_work() as session:
            ambiguous, released = recover(session, now, self.options.stale_after)
            self.report.recovered_ambiguous += ambiguous
            self.report.recovered_released += released
            worker = OutboxWorker(
                token=self.report.token,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=now,
                heartbeat_at=now,
            )
            outbox.register_worker(session, worker)

    def _beat(self, *, force: bool) -> None:
        if not force and time.monotonic() - self._last_beat < self.options.heartbeat_seconds:
            return
        self._last_beat = time.monotonic()
        with self.database.unit_of_work() as session:
            now = self.clock()
            outbox.heartbeat(session, self.report.token, now)
            ambiguous, released = recover(
                session, now, self.options.stale_after, me=self.report.token
            )
            self.report.recovered_ambiguous += ambiguous
            self.report.recovered_released += released

    def _claim(self) -> list[dict[str, Any]]:
        now = self.clock()
        limit = self.options.batch
        if self.options.max_messages is not None:
            limit = max(1, min(limit, self.options.max_messages - self.report.handled))
        with self.database.unit_of_work() as session:
            claimed = outbox.claim(session, self.report.token, now, limit)
            by_campaign: dict[int, list[dict[str, Any]]] = {}
            for row in claimed:
                by_campaign.setdefault(int(str(row["campaign_id"])), []).append(row)
            campaigns = campaign_repository.campaigns_by_id(session, list(by_campaign))
            for campaign_id, rows in by_campaign.items():
                campaign = campaigns[campaign_id]
                if campaign.promo_program_id is None:
                    continue
                program = campaign_repository.program(session, campaign.promo_program_id)
                if program is not None:
                    issue_codes(session, program, rows, now)
        return claimed

    def _delivery(self, session: Session, campaign_id: int) -> Delivery:
        found = self._composers.get(campaign_id)
        if found is None:
            campaign = campaign_repository.campaigns_by_id(session, [campaign_id])[campaign_id]
            secret = suppression_secret(session)
            found = Delivery(campaign, composer(session, campaign, self.sending), secret)
            self._composers[campaign_id] = found
        return found

    def _channel(self, name: str) -> EmailChannel | SmsChannel:
        found = self._channels.get(name)
        if found is None:
            made: EmailChannel | SmsChannel = self._factories[name]()
            made.open()
            self._channels[name] = found = made
        return found

    def _work(self, claimed: list[dict[str, Any]]) -> None:
        for position, row in enumerate(claimed):
            with self.database.unit_of_work() as session:
                outbox_id = int(str(row["id"]))
                delivery = self._delivery(session, int(str(row["campaign_id"])))
                code = None
                if delivery.campaign.promo_program_id is not None:
                    code = promo_repository.codes_of_outbox(session, [outbox_id]).get(outbox_id)
                channel = self._channel(delivery.campaign.channel)
                outcome = deliver(
                    session, delivery, row, code=code, channel=channel, clock=self.clock
                )
            self.report.count(outcome)
            if outcome == "server_down":
                rest = [int(str(r["id"])) for r in claimed[position + 1 :]]
                with self.database.unit_of_work() as session:
                    outbox.release(session, rest, self.clock() + SERVER_DOWN_DELAY)
                break
        self._beat(force=False)

    def _close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        with self.database.unit_of_work() as session:
            outbox.release(session, outbox.claimed_by(session, self.report.token))
            outbox.stop_worker(session, self.report.token, self.clock())
