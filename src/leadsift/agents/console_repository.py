"""SQL of the agent console: an agent's call figures over a period, and the contacts of their
queue as shown (names, phone, company, stage)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadsift.agents.models import Touch
from leadsift.contacts.models import Contact
from leadsift.kit.sequences import pieces

# Call outcomes where nobody answered (as the call log counts `call_connected`).
NOT_REACHED: Final = ("no_answer", "wrong_number")
_SHOWN = (
    Contact.id,
    Contact.first_name,
    Contact.last_name,
    Contact.phone,
    Contact.company,
    Contact.stage,
)


def call_figures(
    session: Session, user_id: int, since: datetime, until: datetime
) -> dict[str, Any]:
    """The user's calls in [SINCE, UNTIL): calls, connected, sales and their revenue (one range
    of the touches' (user, time) index)."""
    is_sale = Touch.outcome == "sale"
    query = select(
        func.count(),
        func.count().filter(Touch.outcome.not_in(NOT_REACHED)),
        func.count().filter(is_sale),
        func.coalesce(func.sum(Touch.amount).filter(is_sale), 0.0),
    ).where(
        Touch.user_id == user_id,
        Touch.at >= since,
        Touch.at < until,
        Touch.channel == "phone",
    )
    calls, connected, sales, revenue = session.execute(query).one()
    return {
        "calls": int(calls),
        "connected": int(connected),
        "sales": int(sales),
        "revenue": float(revenue or 0.0),
    }


def shown_contacts(session: Session, contact_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """What the queue shows of these contacts, by id."""
    found: dict[int, dict[str, Any]] = {}
    for piece in pieces(list(contact_ids)):
        for row in session.execute(select(*_SHOWN).where(Contact.id.in_(piece))):
            found[int(row.id)] = dict(row._mapping)
    return found
