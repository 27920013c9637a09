"""SQL of assignment: prospects waiting for an owner, owners, loads and round-robin positions."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, case, delete, func, literal, select, update
from sqlalchemy.orm import Session, aliased

from leadsift.access.models import ContactOwner
from leadsift.agents.models import RoundRobinPosition
from leadsift.contacts.models import Contact, ContactPrediction, ContactScore
from leadsift.kit.bulk import dialect_insert, driver_connection, is_postgres
from leadsift.kit.sequences import pieces
from leadsift.qualification.stages import Stage

NO_RULE = -1
# Ranks of contacts the model scored sit above any fit + interest: the queue takes predicted
# prospects first, by priority, then the others by points (two scales never compared).
PREDICTED = 1e12
# The rank's own names for the two tables: a rule's condition reads scores and predictions in
# subqueries of its own, which must not correlate with the rank's joins.
_PREDICTION = aliased(ContactPrediction, name="rank_prediction")
_SCORE = aliased(ContactScore, name="rank_score")
OWNER_COLUMNS: Final = (
    "contact_id", "user_id", "team_id", "rule", "assigned_by", "assigned_at", "queue_rank",
)  # fmt: skip


def _rank_value() -> Any:
    """The call-order rank of a contact row joined by `_ranked` (NULL if not a prospect)."""
    points = func.coalesce(Contact.fit, 0) + func.coalesce(_SCORE.interest, 0)
    return case(
        (Contact.stage != Stage.QUALIFIED.value, None),
        (_PREDICTION.priority.is_not(None), PREDICTED + _PREDICTION.priority),
        else_=points,
    )


def _ranked(query: Any) -> Any:
    """QUERY (over contacts) joined to what the rank reads."""
    return query.outerjoin(_PREDICTION, _PREDICTION.contact_id == Contact.id).outerjoin(
        _SCORE, _SCORE.contact_id == Contact.id
    )


def _rank() -> Any:
    """The call-order rank of the owner row's contact, as a scalar subquery (NULL if closed)."""
    query = select(_rank_value()).select_from(Contact)
    return _ranked(query).where(Contact.id == ContactOwner.contact_id).scalar_subquery()


def refresh_ranks(session: Session, contact_ids: Collection[int] | None) -> None:
    """Recompute the call order of these contacts' owner rows (all of them with None)."""
    if is_postgres(session):
        _refresh_ranks_postgres(session, contact_ids)
        return
    statement = (
        update(ContactOwner).values(queue_rank=_rank()).execution_options(synchronize_session=False)
    )
    if contact_ids is None:
        session.execute(statement)
        return
    for piece in pieces(sorted(contact_ids)):
        session.execute(statement.where(ContactOwner.contact_id.in_(piece)))


def _refresh_ranks_postgres(session: Session, contact_ids: Collection[int] | None) -> None:
    """PostgreSQL: one join (a correlated subquery per row took 30 µs a row), and only rows
    whose rank moved are written (each write is a new row version and five index entries)."""
    ranks = _ranked(select(Contact.id.label("id"), _rank_value().label("rank"))).subquery()
    statement = (
        update(ContactOwner)
        .where(
            ContactOwner.contact_id == ranks.c.id,
            ContactOwner.queue_rank.is_distinct_from(ranks.c.rank),
        )
        .values(queue_rank=ranks.c.rank)
        .execution_options(synchronize_session=False)
    )
    if contact_ids is None:
        session.execute(statement)
        return
    for piece in pieces(sorted(contact_ids)):
        session.execute(statement.where(ContactOwner.contact_id.in_(piece)))


def waiting_prospects(
    session: Session, conditions: Sequence[ColumnElement[bool]], contact_ids: Collection[int] | None
) -> list[tuple[int, int, float | None]]:
    """(contact id, index of the first matching condition or NO_RULE, call-order rank) of
    qualified prospects without an owner, longest qualified first; CONTACT_IDS limits the
    search."""
    rule = (
        case(*((condition, index) for index, condition in enumerate(conditions)), else_=NO_RULE)
        if conditions
        else literal(NO_RULE)
    )
    owned = select(ContactOwner.contact_id).where(ContactOwner.contact_id == Contact.id)
    query = (
        _ranked(select(Contact.id, rule, _rank_value()).select_from(Contact))
        .where(Contact.stage == Stage.QUALIFIED.value, ~owned.exists())
        .order_by(Contact.stage_changed_at, Contact.id)
    )
    if contact_ids is None:
        return [(int(i), int(r), rank) for i, r, rank in session.execute(query)]
    found: list[tuple[int, int, float | None]] = []
    for piece in pieces(sorted(contact_ids)):
        rows = session.execute(query.where(Contact.id.in_(piece)))
        found += [(int(i), int(r), rank) for i, r, rank in rows]
    found.sort(key=lambda row: row[0])
    return found


def add_owners(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Give contacts their owner and call order (OWNER_COLUMNS; a contact that has an owner
    keeps it); how many were given one."""
    session.flush()  # written below the ORM: its pending changes go first
    # In key order: the primary key and the contacts' rows (read by the foreign key's check)
    # are then visited in order, not at random (PostgreSQL: 100,000 rows 3.9 → 3.1 s).
    rows = sorted(rows, key=lambda row: int(row["contact_id"]))
    if is_postgres(session):
        return _add_owners_postgres(session, rows)
    insert = dialect_insert(session)
    statement = insert(ContactOwner).on_conflict_do_nothing(index_elements=["contact_id"])
    connection, added = session.connection(), 0
    for piece in pieces(list(rows), 5_000):
        added += connection.execute(statement, list(piece)).rowcount
    return added


_COPY_OWNERS: Final = f"COPY contact_owners ({', '.join(OWNER_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
_OWNER_TYPES: Final = ("int8", "int8", "int8", "text", "text", "timestamptz", "float8")
# Columns bound as arrays in binary (their types named: a column of NULLs has none of its own).
_UNNEST_OWNERS: Final = (
    f"INSERT INTO contact_owners ({', '.join(OWNER_COLUMNS)}) SELECT * FROM unnest("  # noqa: S608  # nosec B608 — names and types are constants, values bound
    + ", ".join(f"%b::{name}[]" for name in _OWNER_TYPES)
    + ") ON CONFLICT (contact_id) DO NOTHING"
)


def _add_owners_postgres(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """PostgreSQL: COPY (the ORM's statement per row cost 50 µs a row, half of it in Python);
    when a contact was given an owner meanwhile (the COPY fails on the primary key), undone and
    written again by one `INSERT … SELECT unnest(arrays) ON CONFLICT DO NOTHING`."""
    from psycopg.errors import UniqueViolation  # noqa: PLC0415 - PostgreSQL only

    with driver_connection(session).cursor() as cursor:
        cursor.execute("SAVEPOINT leadsift_owners_copy")
        try:
            with cursor.copy(_COPY_OWNERS) as copy:
                copy.set_types(list(_OWNER_TYPES))
                for row in rows:
                    copy.write_row([row[name] for name in OWNER_COLUMNS])
        except UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT leadsift_owners_copy")
            cursor.execute(_UNNEST_OWNERS, [[row[name] for row in rows] for name in OWNER_COLUMNS])
            added = int(cursor.rowcount)
        else:
            added = len(rows)
        cursor.execute("RELEASE SAVEPOINT leadsift_owners_copy")
    return added


def set_owner(session: Session, contact_id: int, values: dict[str, Any]) -> None:
    """Give one contact an owner, replacing the one it had."""
    insert = dialect_insert(session)
    statement = insert(ContactOwner).values(contact_id=contact_id, **values)
    session.execute(statement.on_conflict_do_update(index_elements=["contact_id"], set_=values))


def release_open(session: Session, user_id: int) -> list[int]:
    """Take USER_ID's qualified prospects back (their other contacts keep them as owner)."""
    open_ids = select(Contact.id).where(Contact.stage == Stage.QUALIFIED.value)
    ids = list(
        session.scalars(
            select(ContactOwner.contact_id).where(
                ContactOwner.user_id == user_id, ContactOwner.contact_id.in_(open_ids)
            )
        )
    )
    for piece in pieces(ids):
        session.execute(
            delete(ContactOwner)
            .where(ContactOwner.contact_id.in_(piece))
            .execution_options(synchronize_session=False)
        )
    return ids


def claim_from_team(
    session: Session, contact_id: int, team_ids: Collection[int], user_id: int, now: datetime
) -> bool:
    """Move a prospect from one of TEAM_IDS' queues to USER_ID; False if someone was faster."""
    result = session.execute(
        update(ContactOwner)
        .where(
            ContactOwner.contact_id == contact_id,
            ContactOwner.team_id.in_(sorted(team_ids)),
            ContactOwner.user_id.is_(None),
        )
        .values(user_id=user_id, team_id=None, rule="claimed", assigned_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def open_prospects(session: Session, user_ids: Collection[int]) -> dict[int, int]:
    """How many qualified prospects each of USER_IDS owns now."""
    if not user_ids:
        return {}
    query = (
        select(ContactOwner.user_id, func.count())
        .join(Contact, Contact.id == ContactOwner.contact_id)
        .where(ContactOwner.user_id.in_(sorted(user_ids)), Contact.stage == Stage.QUALIFIED.value)
        .group_by(ContactOwner.user_id)
    )
    return {int(user or 0): int(n) for user, n in session.execute(query)}


def round_robin_state(session: Session, key: str) -> dict[str, int]:
    """Where the round robin KEY stands (empty when it never ran)."""
    state = session.scalars(
        select(RoundRobinPosition.state).where(RoundRobinPosition.key == key)
    ).first()
    return {str(k): int(v) for k, v in (state or {}).items()}


def save_round_robin_state(
    session: Session, key: str, state: dict[str, int], now: datetime
) -> None:
    """Remember where the round robin KEY stands."""
    insert = dialect_insert(session)
    statement = insert(RoundRobinPosition).values(key=key, state=state, updated_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["key"], set_={"state": state, "updated_at": now}
        )
    )
