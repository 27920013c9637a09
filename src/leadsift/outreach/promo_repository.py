"""SQL of promo programs and codes: issuing a code per outbox message (once) or per contact,
finding a code to redeem (locked), counting redemptions, pages of codes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from leadsift.access.repository import visible_filter
from leadsift.access.schemas import Caller
from leadsift.contacts.models import Contact
from leadsift.kit.bulk import dialect_insert
from leadsift.kit.sequences import pieces
from leadsift.outreach.models import Campaign, PromoCode, PromoProgram

_CODES = PromoCode.__table__.c
_CODE_TABLE = cast(Table, PromoCode.__table__)


def add_program(session: Session, program: PromoProgram) -> PromoProgram:
    """Store a new program."""
    session.add(program)
    session.flush()
    return program


def program_by_key(session: Session, key: str) -> PromoProgram | None:
    """The program named KEY."""
    return session.scalars(select(PromoProgram).where(PromoProgram.key == key)).first()


def programs(session: Session) -> list[PromoProgram]:
    """Every program, oldest first."""
    return list(session.scalars(select(PromoProgram).order_by(PromoProgram.id)))


def codes_of_outbox(session: Session, outbox_ids: Sequence[int]) -> dict[int, str]:
    """The code already issued for each of these outbox messages."""
    if not outbox_ids:
        return {}
    query = select(_CODES.outbox_id, _CODES.code).where(_CODES.outbox_id.in_(list(outbox_ids)))
    return {outbox_id: code for outbox_id, code in session.execute(query)}


def insert_code(session: Session, row: dict[str, Any]) -> bool:
    """Insert one code unless its text or its outbox message already has one; returns whether
    it was inserted (a collision of random codes is retried by the caller)."""
    statement = dialect_insert(session)(PromoCode.__table__).values(**row).on_conflict_do_nothing()
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def code_for_update(session: Session, code: str) -> PromoCode | None:
    """The code CODE, its row locked until the transaction ends (two redemptions racing on
    PostgreSQL: the second waits, then sees the first)."""
    query = select(PromoCode).where(PromoCode.code == code).with_for_update()
    return session.scalars(query).first()


def program_for_update(session: Session, program_id: int) -> PromoProgram | None:
    """A program, locked: its redemption counter is read and raised in one transaction."""
    query = select(PromoProgram).where(PromoProgram.id == program_id).with_for_update()
    return session.scalars(query).first()


def owner_redeemed(session: Session, program_id: int, contact_id: int) -> bool:
    """Whether the contact already redeemed a code of the program."""
    query = select(func.count()).where(
        _CODES.program_id == program_id,
        _CODES.contact_id == contact_id,
        _CODES.redeemed_at.is_not(None),
    )
    return bool(session.scalar(query))


def mark_redeemed(session: Session, code_id: int, at: datetime, amount: float | None) -> None:
    """Record the redemption on the code."""
    session.execute(
        update(_CODE_TABLE)
        .where(_CODES.id == code_id)
        .values(redeemed_at=at, redeemed_amount=amount)
    )


def visible_contacts(session: Session, contact_ids: Sequence[int], caller: Caller) -> set[int]:
    """Those of CONTACT_IDS that exist and CALLER may see."""
    found: set[int] = set()
    for piece in pieces(sorted(set(contact_ids)), 500):
        query = select(Contact.id).where(Contact.id.in_(piece), visible_filter(caller, Contact.id))
        found.update(session.scalars(query))
    return found


def codes_page(
    session: Session,
    caller: Caller,
    *,
    program_id: int | None,
    campaign_id: int | None,
    redeemed: bool | None,
    after: int | None,
    limit: int,
) -> list[tuple[PromoCode, str, str | None]]:
    """LIMIT codes (with their program's and campaign's keys) of contacts CALLER may see, ids
    above AFTER, in id order, filtered by program, campaign and redemption when given."""
    query = (
        select(PromoCode, PromoProgram.key, Campaign.key)
        .join(PromoProgram, PromoProgram.id == PromoCode.program_id)
        .outerjoin(Campaign, Campaign.id == PromoCode.campaign_id)
        .where(visible_filter(caller, PromoCode.contact_id))
    )
    if program_id is not None:
        query = query.where(PromoCode.program_id == program_id)
    if campaign_id is not None:
        query = query.where(PromoCode.campaign_id == campaign_id)
    if redeemed is not None:
        done = PromoCode.redeemed_at.is_not(None)
        query = query.where(done if redeemed else ~done)
    if after is not None:
        query = query.where(PromoCode.id > after)
    rows = session.execute(query.order_by(PromoCode.id).limit(limit))
    return [(code, program, campaign) for code, program, campaign in rows]
