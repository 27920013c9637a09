"""SQL of the call queue: prospects in call order, the calling rules' facts, touches, state
(speed to lead: `speed_repository`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, or_, select, true
from sqlalchemy.orm import Session

from leadsift.access.models import ContactOwner, User
from leadsift.agents.models import CallState, Touch
from leadsift.contacts.models import ConsentRecord, Contact
from leadsift.kit.bulk import dialect_insert, is_postgres
from leadsift.kit.sequences import pieces
from leadsift.outreach.models import Suppression
from leadsift.qualification.stages import Stage

_CANDIDATE_COLUMNS = (
    Contact.id,
    Contact.phone,
    ContactOwner.team_id,
    ContactOwner.queue_rank,
    CallState.callback_at,
    CallState.last_refusal_at,
    CallState.wrong_phone,
)


@dataclass(frozen=True)
class QueueFilter:
    """What SQL can tell of the calling rules, to skip most excluded prospects in the query
    itself (the pure rules still decide, on what the query returns)."""

    now: datetime
    refused_before: datetime  # a refusal after this is too recent
    consent_required: bool  # consumers now need recorded phone consent


def _phone_consent() -> Any:
    """The latest phone consent word of the contact (NULL when never stated)."""
    return (
        select(ConsentRecord.granted)
        .where(
            ConsentRecord.contact_id == Contact.id,
            ConsentRecord.channel == "phone",
            ConsentRecord.purpose == "marketing",
        )
        .order_by(ConsentRecord.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _callable(rules: QueueFilter) -> list[ColumnElement[bool]]:
    consent = _phone_consent()
    return [
        Contact.stage == Stage.QUALIFIED.value,
        Contact.phone.is_not(None),
        or_(CallState.callback_at.is_(None), CallState.callback_at <= rules.now),
        or_(CallState.wrong_phone.is_(None), CallState.wrong_phone != Contact.phone),
        or_(
            CallState.last_refusal_at.is_(None),
            CallState.last_refusal_at <= rules.refused_before,
        ),
        consent == true() if rules.consent_required else func.coalesce(consent, true()) == true(),
    ]


def _candidates() -> Any:
    return (
        select(*_CANDIDATE_COLUMNS)
        .select_from(ContactOwner)
        .join(Contact, Contact.id == ContactOwner.contact_id)
        .outerjoin(CallState, CallState.contact_id == ContactOwner.contact_id)
        .where(ContactOwner.queue_rank.is_not(None))
    )


def _owned(user_id: int, team_ids: Collection[int]) -> ColumnElement[bool]:
    mine = ContactOwner.user_id == user_id
    return or_(mine, ContactOwner.team_id.in_(sorted(team_ids))) if team_ids else mine


def candidate_row(session: Session, contact_id: int) -> dict[str, Any]:
    """One contact's queue facts (as the queue reads them), owned or not."""
    query = (
        select(*_CANDIDATE_COLUMNS)
        .select_from(Contact)
        .outerjoin(ContactOwner, ContactOwner.contact_id == Contact.id)
        .outerjoin(CallState, CallState.contact_id == Contact.id)
        .where(Contact.id == contact_id)
    )
    return dict(session.execute(query).one()._mapping)


def due_callbacks(
    session: Session, user_id: int, team_ids: Collection[int], rules: QueueFilter, limit: int
) -> list[dict[str, Any]]:
    """The agent's callable prospects whose call-back is due, oldest call-back first.

    Read from the due call-backs (a range of their index, all agents' together — few) and then
    their owners by key, so a large team queue is never scanned for the few due in it.
    """
    if is_postgres(session):
        return _due_callbacks_postgres(session, user_id, team_ids, rules, limit)
    due = select(CallState.contact_id).where(CallState.callback_at <= rules.now)
    found: list[dict[str, Any]] = []
    for piece in pieces(list(session.scalars(due.order_by(CallState.callback_at)))):
        query = (
            _candidates()
            .where(ContactOwner.contact_id.in_(piece), _owned(user_id, team_ids))
            .where(*_callable(rules))
            .order_by(CallState.callback_at, ContactOwner.contact_id)
            .limit(limit - len(found))
        )
        found += [dict(row._mapping) for row in session.execute(query)]
        if len(found) >= limit:
            break
    found.sort(key=lambda row: (row["callback_at"], row["id"]))
    return found


def _due_callbacks_postgres(
    session: Session, user_id: int, team_ids: Collection[int], rules: QueueFilter, limit: int
) -> list[dict[str, Any]]:
    """PostgreSQL: the same in one statement, along the due call-backs' index in call-back
    order, each one's owner row by key (LATERAL … LIMIT 1: never the agent's whole queue
    hashed, 10 ms for 23,000), until LIMIT callable ones. The due ids sent back as an IN list
    of thousands cost 15 ms a call, and their garbage a full GC of the process now and then."""
    owner = (
        select(ContactOwner.contact_id, ContactOwner.team_id, ContactOwner.queue_rank)
        .where(
            ContactOwner.contact_id == CallState.contact_id,
            _owned(user_id, team_ids),
            ContactOwner.queue_rank.is_not(None),
        )
        .limit(1)
        .lateral("owner")
    )
    columns = [Contact.id, Contact.phone, owner.c.team_id, owner.c.queue_rank]
    columns += [CallState.callback_at, CallState.last_refusal_at, CallState.wrong_phone]
    query = (
        select(*columns)
        .select_from(CallState)
        .join(owner, true())
        .join(Contact, Contact.id == owner.c.contact_id)
        .where(CallState.callback_at <= rules.now, *_callable(rules))
        .order_by(CallState.callback_at, owner.c.contact_id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in session.execute(query)]


def ranked_page(
    session: Session,
    owner: tuple[str, int],
    rules: QueueFilter,
    after: tuple[float, int] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """One owner's (("user", id) or ("team", id)) callable prospects, best first, after the
    (rank, id) AFTER: one range of the rank index, never a sort of the whole queue."""
    kind, owner_id = owner
    column = ContactOwner.user_id if kind == "user" else ContactOwner.team_id
    query = _candidates().where(column == owner_id, *_callable(rules))
    if after is not None:
        rank, contact_id = after
        query = query.where(
            or_(
                ContactOwner.queue_rank < rank,
                and_(ContactOwner.queue_rank == rank, ContactOwner.contact_id < contact_id),
            )
        )
    query = query.order_by(ContactOwner.queue_rank.desc(), ContactOwner.contact_id.desc())
    return [dict(row._mapping) for row in session.execute(query.limit(limit))]


def queue_size(session: Session, user_id: int, team_ids: Collection[int]) -> int:
    """How many open prospects an agent's queue holds (from the rank index alone)."""
    query = (
        select(func.count())
        .select_from(ContactOwner)
        .where(_owned(user_id, team_ids), ContactOwner.queue_rank.is_not(None))
    )
    return int(session.scalar(query) or 0)


def exclusion_counts(
    session: Session, user_id: int, team_ids: Collection[int], rules: QueueFilter
) -> dict[str, int]:
    """How many of the agent's prospects each rule SQL can check keeps out now (the first one
    that applies, in the pure rules' order); "callable" for the others."""
    consent = _phone_consent()
    consent_missing = (
        func.coalesce(consent, false()) == false() if rules.consent_required else false()
    )
    code = case(
        (Contact.stage != Stage.QUALIFIED.value, "closed"),
        (CallState.callback_at > rules.now, "callback_later"),
        (CallState.wrong_phone == Contact.phone, "wrong_number"),
        (Contact.phone.is_(None), "no_phone"),
        (consent == false(), "phone_consent_withdrawn"),
        (consent_missing, "phone_consent_required"),
        (CallState.last_refusal_at > rules.refused_before, "refused_recently"),
        else_="callable",
    )
    query = _candidates().with_only_columns(code, func.count()).where(_owned(user_id, team_ids))
    return {str(c): int(n) for c, n in session.execute(query.group_by(code))}


def call_attempts(
    session: Session, contact_ids: Sequence[int], since: datetime
) -> dict[int, list[datetime]]:
    """The times of calls to each contact since SINCE."""
    found: dict[int, list[datetime]] = {i: [] for i in contact_ids}
    if not contact_ids:
        return found
    query = select(Touch.contact_id, Touch.at).where(
        Touch.contact_id.in_(list(contact_ids)), Touch.channel == "phone", Touch.at > since
    )
    for contact_id, at in session.execute(query):
        found[int(contact_id)].append(at)
    return found


def phone_consent(session: Session, contact_ids: Sequence[int]) -> dict[int, bool]:
    """The latest phone consent word of each contact that has one."""
    if not contact_ids:
        return {}
    latest = (
        select(func.max(ConsentRecord.id))
        .where(
            ConsentRecord.contact_id.in_(list(contact_ids)),
            ConsentRecord.channel == "phone",
            ConsentRecord.purpose == "marketing",
        )
        .group_by(ConsentRecord.contact_id)
    )
    query = select(ConsentRecord.contact_id, ConsentRecord.granted).where(
        ConsentRecord.id.in_(latest)
    )
    return {int(c): bool(g) for c, g in session.execute(query)}


def phone_suppressions(session: Session, hashes: Collection[str]) -> dict[str, str]:
    """The suppression reason of each of these phone hashes suppressed for calls."""
    if not hashes:
        return {}
    query = select(Suppression.identifier_hash, Suppression.reason).where(
        Suppression.identifier_hash.in_(sorted(hashes)),
        Suppression.channel.in_(["phone", "all"]),
    )
    return {h: r for h, r in session.execute(query)}


def add_touch(session: Session, touch: Touch) -> Touch:
    """Store a touch and flush so it has an id."""
    session.add(touch)
    session.flush()
    return touch


def touches_of(session: Session, contact_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """A contact's latest touches, newest first, with the agent's name."""
    query = (
        select(Touch.at, Touch.channel, Touch.outcome, Touch.reason, Touch.amount, User.name)
        .join(User, User.id == Touch.user_id)
        .where(Touch.contact_id == contact_id)
        .order_by(Touch.at.desc(), Touch.id.desc())
        .limit(limit)
    )
    return [
        {"at": at, "channel": ch, "outcome": out, "reason": r, "amount": amt, "agent": name}
        for at, ch, out, r, amt, name in session.execute(query)
    ]


def save_call_state(session: Session, contact_id: int, values: dict[str, Any]) -> None:
    """Write what the queue keeps of a contact's calls (the given columns only)."""
    insert = dialect_insert(session)
    statement = insert(CallState).values(contact_id=contact_id, **values)
    session.execute(statement.on_conflict_do_update(index_elements=["contact_id"], set_=values))
