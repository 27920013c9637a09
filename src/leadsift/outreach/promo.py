"""Promo programs and personal codes: create a program, issue codes to campaign messages,
redeem a code (a purchase event that makes the contact a customer, attributed to the
campaign). Flushes, never commits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from leadsift.access.schemas import Caller
from leadsift.engagement.service import record_for_contacts
from leadsift.errors import ConflictError, InvalidInputError, NotFoundError
from leadsift.outreach import campaign_repository, promo_repository
from leadsift.outreach.models import PromoProgram
from leadsift.outreach.promo_codes import (
    CodeFacts,
    ProgramTerms,
    closed_reason,
    display_code,
    new_code,
    normalise_code,
    refusal,
)
from leadsift.scoring.service import after_events

_COLLISION_RETRIES = 5


class PromoRefusedError(ConflictError):
    """A code that cannot be redeemed: expired, foreign, already used, exhausted…"""

    code = "promo_refused"


@dataclass(frozen=True)
class Redemption:
    """A code redeemed: by whom, for which campaign, the amount, and the contact's stage."""

    code: str
    program: str
    contact_id: int | None
    campaign: str | None
    amount: float | None
    stage: str | None
    redeemed_at: datetime


def create_program(
    session: Session,
    key: str,
    *,
    discount: str,
    now: datetime,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    max_redemptions: int | None = None,
    one_per_customer: bool = True,
    prefix: str = "",
) -> PromoProgram:
    """A new promo program (its codes are issued by campaigns)."""
    if promo_repository.program_by_key(session, key) is not None:
        raise ConflictError(f"promo program {key!r} already exists: choose another key")
    if not discount.strip():
        raise InvalidInputError("--discount: say what the code gives, e.g. '20%' or '10 EUR'")
    if valid_from and valid_until and valid_until <= valid_from:
        raise InvalidInputError("--until must be later than --from")
    if max_redemptions is not None and max_redemptions < 1:
        raise InvalidInputError("--max-redemptions: give a whole number of at least 1")
    new_code(prefix=prefix)  # a bad prefix is refused here, not when the first code is issued
    program = PromoProgram(
        key=key,
        discount=discount.strip(),
        code_prefix=prefix,
        valid_from=valid_from,
        valid_until=valid_until,
        max_redemptions=max_redemptions,
        one_per_customer=one_per_customer,
        redemptions=0,
        created_at=now,
    )
    return promo_repository.add_program(session, program)


def _draw(session: Session, program: PromoProgram, row: dict[str, Any]) -> str:
    """Insert a new code of PROGRAM for ROW (contact, campaign, outbox message); its text."""
    for _ in range(_COLLISION_RETRIES):
        code = new_code(prefix=program.code_prefix)
        if promo_repository.insert_code(session, {**row, "code": code, "program_id": program.id}):
            return code
    # 31^10 codes: five collisions in a row do not happen.
    raise RuntimeError("could not draw an unused promo code")  # pragma: no cover


def issue_codes(
    session: Session, program: PromoProgram, claims: list[dict[str, Any]], now: datetime
) -> dict[int, str]:
    """A code for each claimed outbox message (the one issued before when it is re-claimed),
    written before anything is sent: a code in a sent message always exists."""
    codes = promo_repository.codes_of_outbox(session, [c["id"] for c in claims])
    for claim in claims:
        if claim["id"] not in codes:
            row = {"contact_id": claim["contact_id"], "campaign_id": claim["campaign_id"],
                   "outbox_id": claim["id"], "issued_at": now}  # fmt: skip
            codes[claim["id"]] = _draw(session, program, row)
    return codes


def program_by_key(session: Session, key: str) -> PromoProgram:
    """The program KEY, or a not-found error naming the command that lists them."""
    program = promo_repository.program_by_key(session, key)
    if program is None:
        raise NotFoundError(f"no promo program {key!r}: see `leadsift promo program list`")
    return program


def issue_to_contacts(
    session: Session, key: str, contact_ids: Sequence[int], caller: Caller, now: datetime
) -> dict[int, str | None]:
    """A new personal code of program KEY for each contact (outside any campaign), by contact
    id; None for a contact that does not exist or CALLER may not see. An ended or exhausted
    program gives none."""
    program = program_by_key(session, key)
    closed = closed_reason(
        program.key, program.valid_until, program.max_redemptions, program.redemptions, now
    )
    if closed is not None:
        raise ConflictError(closed)
    known = promo_repository.visible_contacts(session, contact_ids, caller)
    issued: dict[int, str | None] = {}
    for contact_id in dict.fromkeys(contact_ids):  # once per contact, in the order given
        row = {"contact_id": contact_id, "campaign_id": None, "outbox_id": None, "issued_at": now}
        issued[contact_id] = _draw(session, program, row) if contact_id in known else None
    session.flush()
    return issued


@dataclass(frozen=True)
class CodeView:
    """A personal code: its program and campaign, its owner, when issued and redeemed."""

    id: int
    code: str
    program: str
    campaign: str | None
    contact_id: int | None
    issued_at: datetime
    redeemed_at: datetime | None
    redeemed_amount: float | None


def list_codes(
    session: Session,
    caller: Caller,
    *,
    program: str | None = None,
    campaign: str | None = None,
    redeemed: bool | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[CodeView]:
    """Codes of contacts CALLER may see, in the order issued, LIMIT from the one after id
    AFTER; those of program PROGRAM, campaign CAMPAIGN, (not) REDEEMED when given."""
    program_id = program_by_key(session, program).id if program is not None else None
    campaign_id = None
    if campaign is not None:
        found = campaign_repository.campaign_by_key(session, campaign)
        if found is None:
            raise NotFoundError(f"no campaign {campaign!r}: see `leadsift campaign list`")
        campaign_id = found.id
    rows = promo_repository.codes_page(
        session, caller, program_id=program_id, campaign_id=campaign_id, redeemed=redeemed,
        after=after, limit=limit,
    )  # fmt: skip
    return [
        CodeView(
            c.id,
            c.code,
            program_key,
            campaign_key,
            c.contact_id,
            c.issued_at,
            c.redeemed_at,
            c.redeemed_amount,
        )
        for c, program_key, campaign_key in rows
    ]


def redeem(
    session: Session,
    text: str,
    *,
    now: datetime,
    amount: float | None = None,
    presented_by: int | None = None,
) -> Redemption:
    """Redeem a code: checked against its program, recorded as a purchase event attributed to
    the code's campaign, and the contact moved by the lifecycle policy (to customer)."""
    code = normalise_code(text)
    found = promo_repository.code_for_update(session, code) if code else None
    if found is None:
        raise NotFoundError(f"no promo code {text.strip()!r}: check the spelling (no O, I or L)")
    if amount is not None and not (math.isfinite(amount) and amount >= 0):
        raise InvalidInputError(f"--amount {amount}: give the purchase amount, a number 0 or more")
    program = promo_repository.program_for_update(session, found.program_id)
    assert program is not None  # noqa: S101 — a code's program is never deleted before it
    facts = CodeFacts(
        owner_contact_id=found.contact_id,
        redeemed_at=found.redeemed_at,
        program_redemptions=program.redemptions,
        owner_redeemed_in_program=found.contact_id is not None
        and promo_repository.owner_redeemed(session, program.id, found.contact_id),
    )
    terms = ProgramTerms(
        program.valid_from, program.valid_until, program.max_redemptions, program.one_per_customer
    )
    refused = refusal(terms, facts, presented_by, now)
    if refused is not None:
        reason, message = refused
        raise PromoRefusedError(f"code {display_code(found.code)}: {message}", code=reason)
    promo_repository.mark_redeemed(session, found.id, now, amount)
    program.redemptions += 1
    campaign = None
    if found.campaign_id is not None:
        campaigns = campaign_repository.campaigns_by_id(session, [found.campaign_id])
        campaign = campaigns[found.campaign_id].key if found.campaign_id in campaigns else None
    stage = None
    if found.contact_id is not None:
        stage = _record_purchase(
            session, found.contact_id, code=found.code, program=program, campaign=campaign,
            amount=amount, now=now,
        )  # fmt: skip
    session.flush()
    return Redemption(found.code, program.key, found.contact_id, campaign, amount, stage, now)


def _record_purchase(
    session: Session,
    contact_id: int,
    *,
    code: str,
    program: PromoProgram,
    campaign: str | None,
    amount: float | None,
    now: datetime,
) -> str | None:
    properties: dict[str, Any] = {"promo_code": code, "program": program.key}
    if amount is not None:
        properties["amount"] = amount
    event: dict[str, Any] = {
        "type": "purchase",
        "occurred_at": now,
        "properties": properties,
        "source": "promo",
        "idempotency_key": f"promo:{code}",
    }
    if campaign is not None:
        event["campaign"] = campaign
    record_for_contacts(session, [(contact_id, event)], now=now)
    after_events(session, {contact_id}, now)
    return campaign_repository.contact_stage(session, contact_id)
