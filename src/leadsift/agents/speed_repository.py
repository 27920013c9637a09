"""SQL of speed to lead: when prospects qualified and were first touched, and who waits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    case,
    func,
    literal_column,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access.models import ContactOwner
from leadsift.access.schemas import Caller
from leadsift.agents.models import Touch
from leadsift.contacts.models import Contact
from leadsift.qualification.models import StageChange
from leadsift.qualification.stages import Stage

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
