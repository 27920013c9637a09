"""SQL of the interest policy: who qualifies, converts or is recycled, and writing the moves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from leadsift.contacts.models import Contact
from leadsift.criteria import Moment
from leadsift.criteria.sql import to_sql
from leadsift.engagement.models import Event
from leadsift.interest.decay import InterestRuleSpec
from leadsift.interest.repository import rule_condition
from leadsift.kit.bulk import driver_connection, is_postgres
from leadsift.kit.sequences import pieces
from leadsift.qualification.models import StageChange
from leadsift.qualification.policy import (
    CONVERSION_EVENTS,
    CONVERTED_STAGES,
    HAND_RAISER_EVENTS,
    REQUALIFIED_REASONS,
    CompiledPolicy,
    Move,
)
from leadsift.qualification.repository import STAGE_CHANGE_COLUMNS
from leadsift.qualification.stages import Stage
from leadsift.segments.repository import WorkspaceSqlFields

_CONTACT_COLUMNS = ("id", "stage", "stage_reason", "stage_changed_at", "fit")


def _pieces(ids: Sequence[int] | None) -> list[Sequence[int] | None]:
    """Everyone (None) in one statement; given contacts, IN lists of bounded length."""
    return [None] if ids is None else list(pieces(ids))


def _contacts(*extra: Any) -> Any:
    table = Contact.__table__
    return select(*(table.c[name] for name in _CONTACT_COLUMNS), *extra)


def _rows(session: Session, query: Any) -> list[dict[str, Any]]:
    # On the session's connection: Core rows, without the ORM's result machinery.
    return [dict(row) for row in session.connection().execute(query).mappings()]


def promotion_candidates(
    session: Session, policy: CompiledPolicy, now: datetime, contact_ids: Sequence[int] | None
) -> list[dict[str, Any]]:
    """Leads (and contacts recycled for no interest) meeting the qualify policy, with reason."""
    if policy.qualify is None:
        return []
    contacts = Contact.__table__
    eligible = or_(
        contacts.c.stage == Stage.LEAD.value,
        and_(
            contacts.c.stage == Stage.UNQUALIFIED.value,
            contacts.c.stage_reason.in_(REQUALIFIED_REASONS),
        ),
    )
    condition = to_sql(policy.qualify, WorkspaceSqlFields(), Moment(now))
    found: list[dict[str, Any]] = []
    for piece in _pieces(contact_ids):
        query = _contacts().where(eligible, condition)
        if piece is not None:
            query = query.where(contacts.c.id.in_(list(piece)))
        found += _rows(session, query)
    # Sorted here: given `ORDER BY id`, PostgreSQL walks the primary key of every contact
    # (random reads of the table) to avoid sorting the few it finds.
    found.sort(key=lambda contact: int(contact["id"]))
    # The reason, for the contacts found only (a correlated EXISTS in the query above is
    # planned by PostgreSQL as a hash of every hand raised in the window).
    raised = _hand_raisers(session, [c["id"] for c in found], now - policy.hand_raiser_window)
    for contact in found:
        contact["reason"] = "hand_raiser" if contact["id"] in raised else "interest_threshold"
    return found


def _hand_raisers(session: Session, contact_ids: Sequence[int], since: datetime) -> set[int]:
    """Those of these contacts who raised a hand (a form, a call-back request…) since SINCE."""
    raised: set[int] = set()
    for piece in _pieces(contact_ids):
        query = select(Event.contact_id).where(
            Event.contact_id.in_(list(piece or ())),
            Event.type.in_(HAND_RAISER_EVENTS),
            Event.occurred_at >= since,
        )
        raised.update(session.scalars(query.distinct()))
    return raised


def conversion_candidates(
    session: Session, contact_ids: Sequence[int] | None
) -> list[dict[str, Any]]:
    """Leads, qualified and unqualified contacts with a purchase or a redeemed promo code."""
    contacts = Contact.__table__
    if contact_ids is None:
        # Everyone: the few buyers from one pass over the events (a semi-join), rather than a
        # probe of the event index for each of a million contacts.
        buyers = select(Event.contact_id).where(Event.type.in_(list(CONVERSION_EVENTS)))
        query = _contacts().where(contacts.c.stage.in_(CONVERTED_STAGES), contacts.c.id.in_(buyers))
        return _rows(session, query.order_by(contacts.c.id))
    bought = (
        select(Event.contact_id)
        .where(Event.contact_id == contacts.c.id, Event.type.in_(list(CONVERSION_EVENTS)))
        .exists()
    )
    found: list[dict[str, Any]] = []
    for piece in _pieces(contact_ids):
        query = _contacts().where(
            contacts.c.stage.in_(CONVERTED_STAGES), bought, contacts.c.id.in_(list(piece or ()))
        )
        found += _rows(session, query.order_by(contacts.c.id))
    return found


def recycle_candidates(
    session: Session, policy: CompiledPolicy, now: datetime
) -> list[dict[str, Any]]:
    """Leads for longer than `recycle_after` with no event earning points in that time."""
    if policy.recycle_after is None:
        return []
    contacts = Contact.__table__
    since = now - policy.recycle_after
    positive = policy.interest.positive_rules() if policy.interest is not None else ()
    moment = Moment(now)
    query = _contacts().where(
        contacts.c.stage == Stage.LEAD.value,
        func.coalesce(contacts.c.stage_changed_at, contacts.c.created_at) <= since,
    )
    if positive:
        # Selecting an indexed column keeps SQLite's probe on the index (`*` reads the row).
        showed_interest = (
            select(Event.contact_id)
            .where(
                Event.contact_id == contacts.c.id,
                Event.occurred_at >= since,
                _earning_points(positive, moment),
            )
            .exists()
        )
        query = query.where(~showed_interest)
    return _rows(session, query.order_by(contacts.c.id))


def _earning_points(rules: Sequence[InterestRuleSpec], moment: Moment) -> Any:
    """An event some of RULES counts. A rule with a `where` adds nothing when a rule without
    one counts the same type: the condition then stays on indexed columns (no JSON read)."""
    whole = sorted({rule.event for rule in rules if rule.where is None})
    partial = [
        rule_condition(r, moment) for r in rules if r.where is not None and r.event not in whole
    ]
    return or_(Event.type.in_(whole), *partial) if whole else or_(*partial)


def prepare_bulk(session: Session) -> None:
    """Before a policy run over everyone: on PostgreSQL, no JIT, and fresh statistics of
    `contacts` when most rows changed since the last ANALYZE (after `qualify`, the stage
    estimates are off by a million rows and the plans with them); on SQLite, a page cache that
    holds the contacts being moved."""
    if not is_postgres(session):
        session.connection().exec_driver_sql("PRAGMA cache_size = -131072")
        return
    session.execute(text("SET LOCAL jit = off"))
    if session.execute(_STALE_CONTACTS).scalar():
        session.execute(text("ANALYZE contacts"))


_STALE_CONTACTS = text(
    "SELECT coalesce(last_analyze, last_autoanalyze) IS NULL "
    "OR n_mod_since_analyze > n_live_tup / 2 "
    "FROM pg_stat_user_tables WHERE relid = 'contacts'::regclass"
)


def apply_moves(
    session: Session, moves: Sequence[Move], policy: CompiledPolicy, at: datetime
) -> None:
    """Write every move's stage change and put each contact in its last move's stage."""
    if not moves:
        return
    final = list({move.contact_id: move for move in moves}.values())
    if is_postgres(session):
        _apply_moves_core(session, moves, final, policy, at)
    else:
        _apply_moves_sqlite(session, moves, final, policy, at)


def _apply_moves_core(
    session: Session, moves: Sequence[Move], final: Sequence[Move], policy: CompiledPolicy, at: Any
) -> None:
    """Core executemany (psycopg pipelines it), not the ORM's bulk insert, with what every
    row shares bound once (as arrays through `unnest` it was no faster: the server's work of
    ~45 µs per move dominates); many stage changes through COPY instead."""
    connection = session.connection()
    if len(moves) >= COPY_HISTORY_FROM:
        _copy_history(session, moves, policy, at)
    else:
        _insert_history(connection, moves, policy, at)
    statement = (
        update(Contact.__table__)  # type: ignore[arg-type]  # a Table, typed as FromClause
        .where(Contact.__table__.c.id == bindparam("moved_id"))
        .values(
            stage=bindparam("new_stage", type_=String()),
            stage_reason=bindparam("new_reason", type_=String()),
            stage_changed_at=literal(at, Contact.stage_changed_at.type),
        )
    )
    moved = [
        {"moved_id": m.contact_id, "new_stage": m.target.value, "new_reason": m.reason}
        for m in final
    ]
    connection.execute(statement, moved)


# From this many moves, PostgreSQL's stage changes go through COPY: one statement instead of
# one per row and no per-row parameter processing (a first `score` after `qualify`, 170,000
# moves: 8-10 s less than the pipelined INSERTs).
COPY_HISTORY_FROM = 1000


def _copy_history(
    session: Session, moves: Sequence[Move], policy: CompiledPolicy, at: datetime
) -> None:
    """The stage changes through COPY, in the moves' order (so the same ids); the JSONB and
    the timestamp parsed by the server from the text the INSERT's parameters would send."""
    if at.tzinfo is None:
        raise ValueError("naive datetime given to a UtcDateTime column")
    actor, version_id, encode, stamp = policy.actor, policy.version_id, _json_text, at.isoformat()
    columns = ", ".join(_HISTORY_COLUMNS)
    with (
        driver_connection(session).cursor() as cursor,
        cursor.copy(f"COPY stage_changes ({columns}) FROM STDIN") as copy,  # fixed names
    ):
        copy.set_types(["int8", "text", "text", "text", "text", "int8", "text", "text"])
        write_row = copy.write_row
        for move in moves:
            write_row(
                (
                    move.contact_id,
                    move.source.value,
                    move.target.value,
                    move.reason,
                    actor,
                    version_id,
                    encode(move.explanation),
                    stamp,
                )
            )


def _insert_history(
    connection: Any, moves: Sequence[Move], policy: CompiledPolicy, at: datetime
) -> None:
    """The stage changes as one pipelined executemany (few moves: no COPY to set up)."""
    shared = insert(StageChange.__table__).values(  # type: ignore[arg-type]  # a Table
        actor=literal(policy.actor, String()),
        playbook_version_id=literal(policy.version_id, BigInteger()),
        changed_at=literal(at, StageChange.changed_at.type),
    )
    history = [
        {
            "contact_id": move.contact_id,
            "from_stage": move.source.value,
            "to_stage": move.target.value,
            "reason": move.reason,
            "explanation": move.explanation,
        }
        for move in moves
    ]
    connection.execute(shared, history)


def _apply_moves_sqlite(
    session: Session, moves: Sequence[Move], final: Sequence[Move], policy: CompiledPolicy, at: Any
) -> None:
    """The same writes through the driver's executemany: SQLAlchemy's per-row parameter
    processing cost 1.7 s per 100,000 moves, more than the inserts and updates themselves."""
    connection = session.connection()
    stored_at = StageChange.changed_at.type.bind_processor(connection.dialect)
    when = stored_at(at) if stored_at is not None else at
    history = [
        (
            move.contact_id,
            move.source.value,
            move.target.value,
            move.reason,
            policy.actor,
            policy.version_id,
            _json_text(move.explanation),  # the text SQLAlchemy's JSON type would write
            when,
        )
        for move in moves
    ]
    connection.exec_driver_sql(_SQLITE_HISTORY, history)
    connection.exec_driver_sql(
        _SQLITE_MOVE, [(m.target.value, m.reason, when, m.contact_id) for m in final]
    )


_HISTORY_COLUMNS = STAGE_CHANGE_COLUMNS
_SQLITE_HISTORY = (
    f"INSERT INTO stage_changes ({', '.join(_HISTORY_COLUMNS)}) "  # noqa: S608 - fixed names
    f"VALUES ({', '.join('?' for _ in _HISTORY_COLUMNS)})"
)
_SQLITE_MOVE = "UPDATE contacts SET stage = ?, stage_reason = ?, stage_changed_at = ? WHERE id = ?"
_json_text = json.JSONEncoder().encode
