"""SQL of promo programs and codes: issuing a code per outbox message (once), finding a code to
redeem (locked), counting redemptions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from leadsift.kit.bulk import dialect_insert
from leadsift.outreach.models import PromoCode, PromoProgram

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
