"""The interest formula of `scoring.interest` in SQL, set-based: one grouped pass over the
events of the rules' types, written to `contact_scores`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Float, and_, case, delete, func, insert, literal, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql import visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FromClause
from sqlalchemy.sql.selectable import Alias

from leadsift.contacts.models import ContactScore
from leadsift.criteria import Moment
from leadsift.criteria.sql import to_sql
from leadsift.engagement.criteria_sql import EventSqlFields
from leadsift.engagement.models import Event
from leadsift.kit.sqljson import epoch_seconds
from leadsift.scoring.interest import (
    FORGOTTEN_AFTER_HALF_LIVES,
    InterestModel,
    InterestRuleSpec,
)

# Contacts rescored in one statement (SQLite allows 32,766 bound parameters).
_PIECE = 5_000
# The index the everyone pass reads events through, in contact order, when it holds every
# column the rules read.
_CONTACT_ORDER_INDEX = "ix_events_contact_type_time"
# PostgreSQL, for the everyone pass: the per-contact sums of a million contacts hash in memory
# (~150 MB) instead of spilling to 80 batches on disk; JIT compiles for seconds to save less.
_BULK_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '256MB'")


class _TableScan(Alias):
    """`events` read by a full scan on SQLite (`NOT INDEXED`); a plain alias elsewhere."""

    inherit_cache = True


@compiles(_TableScan, "sqlite")
def _table_scan_sqlite(element: _TableScan, compiler: SQLCompiler, **kw: Any) -> str:
    rendered = str(compiler.visit_alias(element, **kw))
    return rendered + " NOT INDEXED" if kw.get("asfrom") else rendered


def rule_condition(rule: InterestRuleSpec, moment: Moment, events: FromClause | None = None) -> Any:
    """The SQL condition under which a row of `events` (or of an alias of it) counts for RULE."""
    events = events if events is not None else Event.__table__
    condition = events.c.type == rule.event
    if rule.where is not None:
        condition = and_(condition, to_sql(rule.where, EventSqlFields(events), moment))
    return condition


def _clamped(total: Any, rule: InterestRuleSpec) -> Any:
    if rule.cap is None:
        return total
    limit = literal(float(rule.cap), Float())
    return case((total > limit, limit), (total < -limit, -limit), else_=total)


def _weight(model: InterestModel, now: datetime, events: FromClause) -> Any:
    """The decayed share of an event's points at NOW (the `decay` of `scoring.interest`).

    The bounds compare the timestamp column itself (exact, and cheap on both engines); the age
    in seconds is computed only for the events in between.
    """
    occurred_at = events.c.occurred_at
    age = literal(now.timestamp(), Float()) - epoch_seconds(occurred_at)
    rate = math.log(2) / model.half_life.total_seconds()
    # An event dated after the scoring moment counts in full (no growth); a very old one, nothing.
    bounds: list[tuple[Any, Any]] = [
        (occurred_at >= literal(now, occurred_at.type), literal(1.0, Float()))
    ]
    try:
        forgotten = now - model.half_life * FORGOTTEN_AFTER_HALF_LIVES
    except OverflowError:  # before year 1: no stored event is that old
        pass
    else:
        bounds.append((occurred_at <= literal(forgotten, occurred_at.type), literal(0.0, Float())))
    return case(*bounds, else_=func.exp(-rate * age))


def _read_columns(model: InterestModel, moment: Moment) -> set[str]:
    """The columns of `events` the rules read."""
    table = Event.__table__
    found = {"contact_id", "type", "occurred_at"}
    for rule in model.rules:
        for element in visitors.iterate(rule_condition(rule, moment)):
            if getattr(element, "table", None) is table:
                found.add(element.name)  # type: ignore[attr-defined]
    return found


def _everyone_source(session: Session, model: InterestModel, moment: Moment) -> FromClause:
    """Where the everyone pass reads events from.

    SQLite groups by contact through the (contact, type, time) index when that index holds
    every column the rules read; when a rule reads more (`properties`), following the index
    would cost one table look-up per event (38 s for 5M events), so the table is scanned
    instead and the per-contact sums sorted (no hash aggregation in SQLite).
    """
    table = Event.__table__
    if session.get_bind().dialect.name != "sqlite":
        return table
    index = next(i for i in table.indexes if i.name == _CONTACT_ORDER_INDEX)
    if _read_columns(model, moment) <= {column.name for column in index.columns}:
        return table
    return _TableScan._construct(table, name="scanned_events")


def interest_query(
    model: InterestModel,
    now: datetime,
    contact_ids: Sequence[int] | None,
    events: FromClause | None = None,
) -> Any:
    """(contact_id, interest) of every contact with events of the rules' types (of CONTACT_IDS),
    reading EVENTS (`events` or an alias of it)."""
    per_rule = _per_rule_sums(model, now, contact_ids, events)
    total: Any = literal(0.0, Float())
    for rule in model.rules:
        total = total + _clamped(per_rule.c[f"rule_{rule.index}"] * rule.points, rule)
    return select(per_rule.c.contact_id, total.label("interest"))


def _per_rule_sums(
    model: InterestModel,
    now: datetime,
    contact_ids: Sequence[int] | None,
    events: FromClause | None,
) -> Any:
    """(contact_id, rule_0, rule_1, …): each rule's decayed total per contact."""
    events = events if events is not None else Event.__table__
    moment = Moment(now)
    weight = _weight(model, now, events)
    shares = {
        f"rule_{rule.index}": case(
            (rule_condition(rule, moment, events), weight), else_=literal(0.0, Float())
        )
        for rule in model.rules
    }
    scope = [events.c.contact_id.is_not(None), events.c.type.in_(model.event_types())]
    if contact_ids is not None:
        scope.append(events.c.contact_id.in_(list(contact_ids)))
    if not isinstance(events, _TableScan):
        sums = [func.sum(share).label(name) for name, share in shares.items()]
        grouped = select(events.c.contact_id, *sums).where(*scope)
        return grouped.group_by(events.c.contact_id).subquery()
    # Each event's share per rule first (a subquery SQLite runs as a co-routine): the sort of
    # the grouping then carries numbers, not the events' JSON.
    labelled = [share.label(name) for name, share in shares.items()]
    rows = select(events.c.contact_id, *labelled).where(*scope).offset(0).subquery()
    sums = [func.sum(rows.c[name]).label(name) for name in shares]
    return select(rows.c.contact_id, *sums).group_by(rows.c.contact_id).subquery()


def _insert_scores(session: Session, computed: Any, now: datetime) -> None:
    """Insert (contact_id, interest) rows of COMPUTED, in contact order (appends to the key)."""
    rows = select(
        computed.c.contact_id,
        computed.c.interest,
        literal(now, ContactScore.scored_at.type),
    ).order_by(computed.c.contact_id)
    session.execute(insert(ContactScore).from_select(["contact_id", "interest", "scored_at"], rows))


def write_interest(
    session: Session, model: InterestModel | None, now: datetime, contact_ids: Sequence[int] | None
) -> None:
    """Replace the stored interest of CONTACT_IDS (everyone when None) by its value at NOW."""
    if contact_ids is None:
        _write_everyone(session, model, now)
        return
    for start in range(0, len(contact_ids), _PIECE):
        piece = contact_ids[start : start + _PIECE]
        session.execute(delete(ContactScore).where(ContactScore.contact_id.in_(list(piece))))
        if model is not None and model.rules:
            _insert_scores(session, interest_query(model, now, piece).subquery(), now)


def _write_everyone(session: Session, model: InterestModel | None, now: datetime) -> None:
    """Everyone's interest: the rows of every contact replaced in one pass.

    DELETE + INSERT rather than TRUNCATE: TRUNCATE would be ~1 s faster on PostgreSQL at 1M
    rows but locks `contact_scores` against readers until the commit and is not MVCC-safe.
    """
    if session.get_bind().dialect.name == "postgresql":
        for setting in _BULK_SETTINGS:
            session.execute(text(setting))
    session.execute(delete(ContactScore))
    if model is None or not model.rules:
        return
    source = _everyone_source(session, model, Moment(now))
    _insert_scores(session, interest_query(model, now, None, source).subquery(), now)


def event_facts(
    session: Session, contact_ids: Sequence[int], types: Sequence[str]
) -> dict[int, list[Mapping[str, Any]]]:
    """The events of these contacts and types as rows (oldest first), by contact."""
    table = Event.__table__
    found: dict[int, list[Mapping[str, Any]]] = {contact_id: [] for contact_id in contact_ids}
    for start in range(0, len(contact_ids), _PIECE):
        piece = list(contact_ids[start : start + _PIECE])
        query = (
            select(table)
            .where(table.c.contact_id.in_(piece), table.c.type.in_(list(types)))
            .order_by(table.c.occurred_at, table.c.id)
        )
        for row in session.execute(query).mappings():
            found[row["contact_id"]].append(row)
    return found


def stored_interest(session: Session, contact_ids: Sequence[int]) -> dict[int, float]:
    """The stored interest of these contacts (absent: never scored, i.e. zero)."""
    query = select(ContactScore.contact_id, ContactScore.interest).where(
        ContactScore.contact_id.in_(list(contact_ids))
    )
    return {contact_id: interest for contact_id, interest in session.execute(query)}


def count_scores(session: Session) -> int:
    """How many contacts have a stored interest row."""
    return session.execute(select(func.count()).select_from(ContactScore)).scalar_one()
