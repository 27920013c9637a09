"""SQL of the call queue: prospects in call order, the calling rules' facts, touches, state."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    false,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access.models import ContactOwner, User
from leadsift.access.schemas import Caller
from leadsift.agents.models import CallState, Touch
from leadsift.contacts.models import ConsentRecord, Contact
from leadsift.kit.bulk import dialect_insert
from leadsift.kit.sequences import pieces
from leadsift.outreach.models import Suppression
from leadsift.qualification.models import StageChange
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
    """The latest phone consent word of the owner row's contact (NULL when never stated)."""
    return (
        select(ConsentRecord.granted)
        .where(
            ConsentRecord.contact_id == ContactOwner.contact_id,
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


# The qualified stage written out, so the planner sees the partial indexes' condition (of
# qualifications by time, and of qualified prospects by when they qualified).
_QUALIFIED: Final[ColumnElement[str]] = literal_column(f"'{Stage.QUALIFIED.value}'")


def _qualified_in(since: datetime, until: datetime, user_id: int | None) -> Any:
    """Each contact's latest move to qualified within [SINCE, UNTIL) (of USER_ID's contacts)."""
    moved = select(
        StageChange.contact_id.label("contact_id"),
        func.max(StageChange.changed_at).label("qualified_at"),
    ).where(
        StageChange.to_stage == _QUALIFIED,
        StageChange.changed_at >= since,
        StageChange.changed_at < until,
    )
    if user_id is not None:
        owned = select(ContactOwner.contact_id).where(ContactOwner.user_id == user_id)
        moved = moved.where(StageChange.contact_id.in_(owned))
    return moved.group_by(StageChange.contact_id).subquery()


def _first_touch(moved: Any) -> Any:
    """The first touch by a person at or after the qualification."""
    return (
        select(func.min(Touch.at))
        .where(Touch.contact_id == moved.c.contact_id, Touch.at >= moved.c.qualified_at)
        .scalar_subquery()
    )


def _moment(value: Any) -> datetime:
    """A timestamp as the driver gives it: SQLite's stored UTC text (parsed at C speed, tens of
    thousands at a time), or PostgreSQL's datetime."""
    if isinstance(value, str):
        offset = value[19:]
        naive = "+" not in offset and "-" not in offset and not offset.endswith("Z")
        # Marking the zone in the text costs a tenth of datetime.replace.
        return datetime.fromisoformat(value + "+00:00" if naive else value)
    if not isinstance(value, datetime):
        raise TypeError(f"unexpected timestamp value {value!r}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class QualificationTimes:
    """Qualifications of a period: (qualified at, first touch) of those touched since, and how
    many were not — in all, and qualified before a cutoff."""

    touched: list[tuple[datetime, datetime]]
    untouched: int
    untouched_before: int


def qualification_times(
    session: Session, since: datetime, until: datetime, user_id: int | None, cutoff: datetime
) -> QualificationTimes:
    """Each contact's latest move to qualified within [SINCE, UNTIL) (every contact's, or those
    USER_ID owns): the times of those touched since, the others counted (before CUTOFF too)."""
    moved = _qualified_in(since, until, user_id)
    # Each first touch found once (PostgreSQL runs a subquery per mention); times read as text
    # (SQLAlchemy's parsing of SQLite's costs more than the query), and only for the touched.
    found = select(moved.c.qualified_at, _first_touch(moved).label("touched_at")).cte("found")
    found = found.prefix_with("MATERIALIZED")
    untouched = found.c.touched_at.is_(None)
    query = select(
        type_coerce(case((untouched, None), else_=found.c.qualified_at), String()),
        type_coerce(found.c.touched_at, String()),
        case((and_(untouched, found.c.qualified_at < cutoff), 1), else_=0),
    )
    touched, alone, before = [], 0, 0
    for qualified, touched_at, early in session.connection().execute(query):
        if touched_at is None:
            alone, before = alone + 1, before + early
        else:
            touched.append((_moment(qualified), _moment(touched_at)))
    return QualificationTimes(touched, alone, before)


def qualification_times_by(
    session: Session, since: datetime, until: datetime, cutoff: datetime, *, source: bool
) -> dict[tuple[Any, ...], QualificationTimes]:
    """qualification_times of everyone's, per owner ((user id, team id)) or SOURCE ((source,))."""
    moved = _qualified_in(since, until, None)
    keys: list[Any] = [Contact.source] if source else [ContactOwner.user_id, ContactOwner.team_id]
    found = select(*keys, moved.c.qualified_at, _first_touch(moved).label("touched_at"))
    table, on = (Contact, Contact.id) if source else (ContactOwner, ContactOwner.contact_id)
    found = found.join(table, on == moved.c.contact_id, isouter=not source)
    # Each first touch found once for both halves (PostgreSQL runs a subquery per mention);
    # the touched ones' times read as text, the others (most) only counted per key.
    cte = found.cte("found").prefix_with("MATERIALIZED")
    key = [cte.c[column.key] for column in keys]
    untouched = cte.c.touched_at.is_(None)
    early = func.sum(case((cte.c.qualified_at < cutoff, 1), else_=0))
    times = [type_coerce(cte.c.qualified_at, String()), type_coerce(cte.c.touched_at, String())]
    each = select(*key, *times, null(), null()).where(~untouched)
    counted = select(*key, null(), null(), func.count(), early).where(untouched).group_by(*key)
    touched: dict[tuple[Any, ...], list[tuple[datetime, datetime]]] = {}
    counts: dict[tuple[Any, ...], tuple[int, int]] = {}
    rows = session.connection().execute(union_all(each, counted))
    for *group, qualified, touched_at, alone, before in rows:
        if touched_at is None:
            counts[tuple(group)] = (int(alone), int(before))
        else:
            touched.setdefault(tuple(group), []).append((_moment(qualified), _moment(touched_at)))
    return {
        group: QualificationTimes(touched.get(group, []), *counts.get(group, (0, 0)))
        for group in touched.keys() | counts.keys()
    }


def untouched_since_qualified(
    session: Session, cutoff: datetime, limit: int, caller: Caller | None = None
) -> list[dict[str, Any]]:
    """Qualified prospects, qualified before CUTOFF, with no touch since: longest waiting first
    (among those CALLER may see)."""
    touched = select(Touch.id).where(
        Touch.contact_id == Contact.id, Touch.at >= Contact.stage_changed_at
    )
    query = (
        select(Contact.id, Contact.stage_changed_at.label("qualified_at"), Contact.source,
               ContactOwner.user_id, ContactOwner.team_id)
        .outerjoin(ContactOwner, ContactOwner.contact_id == Contact.id)
        .where(Contact.stage == _QUALIFIED, Contact.stage_changed_at < cutoff, ~touched.exists())
        .order_by(Contact.stage_changed_at, Contact.id)
        .limit(limit)
    )  # fmt: skip
    if caller is not None and not caller.sees_everything:
        query = query.where(access_repository.visible_filter(caller, Contact.id))
    return [dict(row._mapping) for row in session.execute(query)]
