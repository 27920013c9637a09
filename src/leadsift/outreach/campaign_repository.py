"""SQL of campaigns: the campaign rows and their history, the outbox rows a campaign decides
(written by the driver: a million rows in seconds), and the counts its status shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from leadsift.access.repository import visible_filter
from leadsift.access.schemas import Caller
from leadsift.contacts.models import Contact
from leadsift.kit.bulk import driver_connection, is_postgres, sqlite_timestamp
from leadsift.kit.sequences import pieces
from leadsift.outreach.models import Campaign, CampaignChange, OutboxMessage, PromoProgram

_OUTBOX = OutboxMessage.__table__.c
_CAMPAIGNS = cast(Table, Campaign.__table__)
_COLUMNS = ("campaign_id", "contact_id", "channel", "step", "status", "due_at", "attempts",
            "created_at")  # fmt: skip
_SQLITE_INSERT = (
    f"INSERT INTO outbox_messages ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608
)
_COPY = f"COPY outbox_messages ({', '.join(_COLUMNS)}) FROM STDIN"


def campaign_by_key(session: Session, key: str, *, lock: bool = False) -> Campaign | None:
    """The campaign named KEY (its row locked on PostgreSQL when LOCK)."""
    query = select(Campaign).where(Campaign.key == key)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def campaigns(session: Session) -> list[Campaign]:
    """Every campaign, newest first."""
    return list(session.scalars(select(Campaign).order_by(Campaign.id.desc())))


def campaigns_by_id(session: Session, ids: Sequence[int]) -> dict[int, Campaign]:
    """Campaigns by id."""
    if not ids:
        return {}
    found = session.scalars(select(Campaign).where(Campaign.id.in_(list(ids))))
    return {c.id: c for c in found}


def add_campaign(session: Session, campaign: Campaign) -> Campaign:
    """Store a new campaign."""
    session.add(campaign)
    session.flush()
    return campaign


def move_status(
    session: Session, campaign_id: int, source: Sequence[str], target: str, now: datetime
) -> bool:
    """Set the status to TARGET if it is one of SOURCE now (a compare-and-set: two commands
    racing cannot both succeed); returns whether it changed."""
    statement = (
        update(_CAMPAIGNS)
        .where(_CAMPAIGNS.c.id == campaign_id, _CAMPAIGNS.c.status.in_(source))
        .values(status=target, updated_at=now)
    )
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def add_change(session: Session, change: CampaignChange) -> None:
    """Write one history row of a campaign."""
    session.add(change)
    session.flush()


def changes(session: Session, campaign_id: int) -> list[CampaignChange]:
    """A campaign's history, oldest first."""
    query = select(CampaignChange).where(CampaignChange.campaign_id == campaign_id)
    return list(session.scalars(query.order_by(CampaignChange.id)))


def insert_outbox(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """Outbox rows as (campaign, contact, channel, step, status, due_at, attempts, created_at):
    COPY on PostgreSQL, the driver's executemany on SQLite."""
    if not rows:
        return
    if is_postgres(session):
        with driver_connection(session).cursor() as cursor, cursor.copy(_COPY) as copy:
            for piece in pieces(list(rows), 50_000):
                copy.write(
                    "".join(
                        f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{r[4]}\t{r[5].isoformat()}\t{r[6]}\t"
                        f"{r[7].isoformat()}\n"
                        for r in piece
                    )
                )
        return
    cursor = driver_connection(session).cursor()
    try:
        cursor.executemany(
            _SQLITE_INSERT,
            ((*r[:5], sqlite_timestamp(r[5]), r[6], sqlite_timestamp(r[7])) for r in rows),
        )
    finally:
        cursor.close()


def add_outbox(session: Session, message: OutboxMessage) -> None:
    """One outbox row (a sequence's next step)."""
    session.add(message)
    session.flush()


def status_counts(session: Session, campaign_id: int) -> dict[tuple[int, str], int]:
    """How many outbox rows per (step, status)."""
    query = (
        select(_OUTBOX.step, _OUTBOX.status, func.count())
        .where(_OUTBOX.campaign_id == campaign_id)
        .group_by(_OUTBOX.step, _OUTBOX.status)
    )
    return {(step, status): n for step, status, n in session.execute(query)}


def reason_counts(session: Session, campaign_id: int) -> dict[str, int]:
    """How many settled rows per reason (skips, failures)."""
    query = (
        select(_OUTBOX.reason, func.count())
        .where(_OUTBOX.campaign_id == campaign_id, _OUTBOX.reason.is_not(None))
        .group_by(_OUTBOX.reason)
    )
    return {reason: n for reason, n in session.execute(query)}


def ambiguous(session: Session, campaign_id: int | None = None) -> list[OutboxMessage]:
    """Messages whose fate is unknown (handed over, then the process died)."""
    query = select(OutboxMessage).where(OutboxMessage.status == "ambiguous")
    if campaign_id is not None:
        query = query.where(OutboxMessage.campaign_id == campaign_id)
    return list(session.scalars(query.order_by(OutboxMessage.id)))


def outbox_page(
    session: Session,
    campaign_id: int,
    caller: Caller,
    *,
    status: str | None,
    after: int | None,
    limit: int,
) -> list[OutboxMessage]:
    """LIMIT outbox rows of a campaign about contacts CALLER may see, ids above AFTER, in id
    order (only STATUS when given)."""
    query = select(OutboxMessage).where(
        OutboxMessage.campaign_id == campaign_id,
        visible_filter(caller, OutboxMessage.contact_id),
    )
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    if after is not None:
        query = query.where(OutboxMessage.id > after)
    return list(session.scalars(query.order_by(OutboxMessage.id).limit(limit)))


def program(session: Session, program_id: int) -> PromoProgram | None:
    """A promo program by id."""
    return session.get(PromoProgram, program_id)


def contact_stage(session: Session, contact_id: int) -> str | None:
    """A contact's stage now."""
    return session.scalar(select(Contact.stage).where(Contact.id == contact_id))


def hold(session: Session, campaign_id: int, *, held: bool) -> int:
    """Set a paused campaign's waiting messages aside (`held`), or back in the queue."""
    source, target = ("pending", "held") if held else ("held", "pending")
    statement = (
        update(OutboxMessage)
        .where(OutboxMessage.campaign_id == campaign_id, OutboxMessage.status == source)
        .values(status=target)
    )
    done = session.execute(statement.execution_options(synchronize_session=False))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]
