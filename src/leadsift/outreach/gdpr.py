"""The rights of the people contacted: export everything stored about a person, erase it
(only keyed hashes of their identifiers stay, on the suppression list), and purge prospects
past the retention delay. Flushes, never commits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.access.schemas import Caller
from leadsift.access.service import audit
from leadsift.errors import NotFoundError
from leadsift.outreach import gdpr_repository as repository
from leadsift.outreach.consent import identifier_hashes, suppress_hashes, suppression_secret
from leadsift.outreach.models import DataRequest

# CNIL's recommendation for prospects: 3 years after the last contact they initiated.
RETENTION: Final = timedelta(days=3 * 365)
# What counts as the prospect's own doing; an email open does not (images load by themselves).
PROSPECT_INITIATED: Final = (
    "email_clicked", "email_replied", "sms_replied", "form_submitted", "callback_requested",
    "page_view", "purchase", "promo_redeemed", "call_connected",
)  # fmt: skip


def export(
    session: Session, contact_id: int, *, now: datetime, actor: str = "cli"
) -> dict[str, Any]:
    """Everything stored about the contact: identity, consents, events, stages, scores,
    messages, codes (the request is logged, without personal data)."""
    data = repository.contact_data(session, contact_id)
    if data is None:
        raise NotFoundError(f"no contact {contact_id}")
    counts = {name: len(rows) for name, rows in data.items() if isinstance(rows, list)}
    repository.log_request(
        session,
        DataRequest(kind="export", contact_id=contact_id, actor=actor, counts=counts, at=now),
    )
    audit(session, Caller(actor=actor), "gdpr_exported", ("contact", contact_id), at=now)
    return {"exported_at": now, "contact_id": contact_id, **data}


def _erase(
    session: Session, contact_ids: list[int], *, suppress: bool, now: datetime
) -> dict[str, int]:
    rows = repository.identifiers_of(session, contact_ids)
    if suppress:
        secret = suppression_secret(session)
        for _, email, phone, _, _ in rows:
            hashes = identifier_hashes(secret, email, phone)
            suppress_hashes(session, hashes, channels=["all"], reason="erased", source="gdpr_erase",
                            now=now)  # fmt: skip
    quoted = [value for _, email, phone, raw, _ in rows for value in (email, phone, raw) if value]
    external_ids = [str(external) for *_, external in rows if external]
    return repository.erase(session, contact_ids, quoted, external_ids)


def erase(
    session: Session, contact_id: int, *, now: datetime, actor: str = "cli"
) -> dict[str, int]:
    """Delete the person from every table; their identifiers stay suppressed (keyed hashes
    only), so a re-import gives a contact nobody may message. Returns rows deleted per table."""
    if not repository.identifiers_of(session, [contact_id]):
        raise NotFoundError(f"no contact {contact_id}")
    counts = _erase(session, [contact_id], suppress=True, now=now)
    repository.log_request(
        session, DataRequest(kind="erase", contact_id=None, actor=actor, counts=counts, at=now)
    )
    return counts


def purge(
    session: Session, *, now: datetime, dry_run: bool = False, actor: str = "cli"
) -> dict[str, Any]:
    """Erase prospects (not customers) with nothing they initiated for 3 years; not suppressed:
    retention ended, they did not object."""
    cutoff = now - RETENTION
    stale = repository.stale_prospects(session, cutoff, PROSPECT_INITIATED)
    summary: dict[str, Any] = {"cutoff": cutoff, "prospects": len(stale), "dry_run": dry_run}
    if dry_run or not stale:
        summary["deleted"] = {}
        return summary
    counts = _erase(session, stale, suppress=False, now=now)
    repository.log_request(
        session, DataRequest(kind="purge", contact_id=None, actor=actor, counts=counts, at=now)
    )
    summary["deleted"] = counts
    return summary
