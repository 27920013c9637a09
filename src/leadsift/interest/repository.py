"""The interest formula of `interest.decay` in SQL, set-based: one grouped pass over the
events of the rules' types, written to `contact_scores`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Float,
    Table,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    text,
)
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
from leadsift.engagement.models import ContactActivity, Event
from leadsift.interest.decay import (
    FORGOTTEN_AFTER_HALF_LIVES,
    InterestModel,
    InterestRuleSpec,
)
from leadsift.interest.sums import STORED_COLUMNS, clamped, model_key, storable, sums_columns
from leadsift.kit.bulk import dialect_insert
from leadsift.kit.sequences import pieces
from leadsift.kit.sqljson import epoch_seconds

_SCORES = cast(Table, ContactScore.__table__)
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
    rendered = str(compiler.visit_alias(element, **kw))  # type: ignore[no-untyped-call]
    return rendered + " NOT INDEXED" if kw.get("asfrom") else rendered


def rule_condition(rule: InterestRuleSpec, moment: Moment, events: FromClause | None = None) -> Any:
    """The SQL condition under which a row of `events` (or of an alias of it) counts for RULE."""
    events = events if events is not None else Event.__table__
    condition = events.c.type == rule.event
    if rule.where is not None:
        condition = and_(condition, to_sql(rule.where, EventSqlFields(events), moment))
    return condition


def _weight(model: InterestModel, now: datetime, events: FromClause) -> Any:
    """The decayed share of an event's points at NOW (the `decay` of `interest.decay`).

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


def _read_columns(rule: InterestRuleSpec, moment: Moment) -> set[str]:
    """The columns of `events` a rule reads."""
    table = Event.__table__
    found = {"contact_id", "type", "occurred_at"}
    for element in visitors.iterate(rule_condition(rule, moment)):
        if getattr(element, "table", None) is table:
            found.add(element.name)  # type: ignore[attr-defined]
    return found


def interest_query(model: InterestModel, now: datetime, contact_ids: Sequence[int] | None) -> Any:
    """(contact_id, interest) of every contact with events of the rules' types (of CONTACT_IDS)."""
    events = Event.__table__
    scope = [events.c.contact_id.is_not(None), events.c.type.in_(model.event_types())]
    if contact_ids is not None:
        scope.append(events.c.contact_id.in_(list(contact_ids)))
    return _with_total(_grouped(model.rules, model, now, events, scope), model)


def _with_total(per_rule: Any, model: InterestModel) -> Any:
    """(contact_id, interest, what is stored of the sums) from the per-rule sums: the interest
    is each rule's sum clamped to its cap, then added."""
    total: Any = literal(0.0, Float())
    for rule in model.rules:
        total = total + clamped(per_rule.c[f"rule_{rule.index}"] * rule.points, rule)
    return select(
        per_rule.c.contact_id,
        total.label("interest"),
        *sums_columns(per_rule, model),
    )


def _grouped(
    rules: Sequence[InterestRuleSpec],
    model: InterestModel,
    now: datetime,
    events: FromClause,
    scope: Sequence[Any],
    *,
    span: bool = True,
) -> Any:
    """(contact_id, rule_i, …, oldest_at, newest_at): the decayed total of each of RULES per
    contact, over the rows of EVENTS (`events` or an alias of it) within SCOPE, and the span of
    those rows (unless not SPAN)."""
    moment = Moment(now)
    weight = _weight(model, now, events)
    shares = {
        f"rule_{rule.index}": case(
            (rule_condition(rule, moment, events), weight), else_=literal(0.0, Float())
        )
        for rule in rules
    }
    if not isinstance(events, _TableScan):
        sums = [func.sum(share).label(name) for name, share in shares.items()]
        spans = _span(events.c.occurred_at) if span else []
        grouped = select(events.c.contact_id, *sums, *spans).where(*scope)
        return grouped.group_by(events.c.contact_id).subquery()
    # Each event's share per rule first (a subquery SQLite runs as a co-routine): the sort of
    # the grouping then carries numbers, not the events' JSON.
    labelled = [share.label(name) for name, share in shares.items()]
    read = [events.c.contact_id, *([events.c.occurred_at] if span else []), *labelled]
    rows = select(*read).where(*scope).offset(0).subquery()
    sums = [func.sum(rows.c[name]).label(name) for name in shares]
    grouped = select(rows.c.contact_id, *sums, *(_span(rows.c.occurred_at) if span else []))
    return grouped.group_by(rows.c.contact_id).subquery()


def _span(occurred_at: Any) -> list[Any]:
    """The oldest and newest event of the group (stored beside the sums)."""
    return [func.min(occurred_at).label("oldest_at"), func.max(occurred_at).label("newest_at")]


def _everyone_sums(session: Session, model: InterestModel, now: datetime) -> tuple[Any, bool]:
    """Everyone's per-rule sums, each rule's events read the cheapest way, and whether some
    are summed from the index.

    Rules that read only what the (contact, type, time) index holds are summed from that index,
    in contact order (no hash, no sort, no table access: on PostgreSQL an index-only scan).
    Rules that read more (`properties`) would cost one table look-up per event that way (38 s
    for 5M events on SQLite), so their events are found by a scan of the table, only the
    matching ones grouped, and joined to the first sums.
    """
    table = cast(Table, Event.__table__)
    moment = Moment(now)
    everything = [table.c.contact_id.is_not(None), table.c.type.in_(model.event_types())]
    if not _index_only(session):  # one hashed pass over the table
        return _grouped(model.rules, model, now, table, everything), False
    index = next(i for i in table.indexes if i.name == _CONTACT_ORDER_INDEX)
    indexed = {column.name for column in index.columns}
    on_index = [rule for rule in model.rules if _read_columns(rule, moment) <= indexed]
    off_index = [rule for rule in model.rules if rule not in on_index]
    if not off_index:
        return _grouped(model.rules, model, now, table, everything), True
    scan: FromClause = table
    if session.get_bind().dialect.name == "sqlite":  # SQLite would follow the index anyway
        scan = _TableScan._construct(table, name="scanned_events")
    if not on_index:
        scope = [scan.c.contact_id.is_not(None), scan.c.type.in_(model.event_types())]
        return _grouped(model.rules, model, now, scan, scope), False
    # Every contact with events of the rules' types has a row in the index sums.
    by_index = _grouped(on_index, model, now, table, everything)
    matching = [
        scan.c.contact_id.is_not(None),
        or_(*(rule_condition(rule, moment, scan) for rule in off_index)),
    ]
    by_scan = _grouped(off_index, model, now, scan, matching, span=False)  # by_index has it
    names = [f"rule_{rule.index}" for rule in off_index]
    zero = literal(0.0, Float())
    columns = [
        *(by_index.c[f"rule_{rule.index}"] for rule in on_index),
        *(func.coalesce(by_scan.c[name], zero).label(name) for name in names),
        by_index.c.oldest_at,
        by_index.c.newest_at,
    ]
    joined = by_index.outerjoin(by_scan, by_index.c.contact_id == by_scan.c.contact_id)
    return select(by_index.c.contact_id, *columns).select_from(joined).subquery(), True


def _index_only(session: Session) -> bool:
    """Whether reading the index leaves the table alone: always on SQLite; on PostgreSQL when
    nearly all pages of `events` are marked all-visible (vacuumed), else an index-only scan
    still visits the table for each event."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.execute(_VACUUMED_EVENTS).scalar())


_VACUUMED_EVENTS = text(
    "SELECT relallvisible >= 0.9 * relpages FROM pg_class WHERE oid = 'events'::regclass"
)


def _insert_scores(session: Session, computed: Any, now: datetime, model: InterestModel) -> None:
    """Write the rows of COMPUTED (contact_id, interest, the stored sums) as of NOW, in contact
    order (appends to the key), with each contact's last event and purchase flag.

    An upsert: on PostgreSQL another transaction (the API scoring the same contact as events
    arrive) may insert a contact's row between this one's DELETE and INSERT; the later value
    wins instead of a unique violation.
    """
    # With the contact's activity beside it (remarketing reads the scores alone).
    stored = [name for name in STORED_COLUMNS if name in computed.c]
    at = literal(now, ContactScore.scored_at.type)
    # No moment for sums that are not all stored: computed from the events at every run.
    sums_at = literal(now.timestamp() if storable(model) else None, Float())
    rows = (
        select(
            computed.c.contact_id,
            computed.c.interest,
            at,
            ContactActivity.last_event_at,
            ContactActivity.bought,
            sums_at,
            literal(model_key(model), BigInteger()),
            *(computed.c[name] for name in stored),
        )
        .select_from(computed)
        .outerjoin(ContactActivity, ContactActivity.contact_id == computed.c.contact_id)
        .order_by(computed.c.contact_id)
    )
    columns = [
        *("contact_id", "interest", "scored_at", "last_event_at", "bought"),
        *("sums_epoch", "model_key", *stored),
    ]
    statement = dialect_insert(session)(_SCORES).from_select(columns, rows)
    statement = statement.on_conflict_do_update(
        index_elements=["contact_id"],
        set_={name: statement.excluded[name] for name in columns[1:]},
    )
    session.connection().execute(statement)


def write_interest(
    session: Session, model: InterestModel | None, now: datetime, contact_ids: Sequence[int] | None
) -> None:
    """Replace the stored interest of CONTACT_IDS (everyone when None) by its value at NOW."""
    if contact_ids is None:
        _write_everyone(session, model, now)
        return
    for piece in pieces(contact_ids):
        session.execute(delete(ContactScore).where(ContactScore.contact_id.in_(list(piece))))
        if model is not None and model.rules:
            _insert_scores(session, interest_query(model, now, piece).subquery(), now, model)


def prepare_bulk(session: Session) -> bool:
    """Settings for a pass over everyone (PostgreSQL: no JIT, memory to hash in); whether the
    session talks to PostgreSQL."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        for setting in _BULK_SETTINGS:
            session.execute(text(setting))
    return postgres


def _write_everyone(session: Session, model: InterestModel | None, now: datetime) -> None:
    """Everyone's interest: the rows of every contact replaced in one pass.

    DELETE + INSERT rather than TRUNCATE: TRUNCATE would be ~1 s faster on PostgreSQL at 1M
    rows but locks `contact_scores` against readers until the commit and is not MVCC-safe.
    """
    postgres = prepare_bulk(session)
    session.execute(delete(ContactScore))  # ORM: drops the rows from the session's map too
    if model is None or not model.rules:
        return
    sums, from_index = _everyone_sums(session, model, now)
    streamed = postgres and from_index
    if streamed:
        # The index sums stream in contact order only if PostgreSQL may not hash them instead
        # (its cost model prefers a hash of 5M rows: 3x slower here).
        session.execute(text("SET LOCAL enable_hashagg = off"))
    _insert_scores(session, _with_total(sums, model).subquery(), now, model)
    if streamed:
        session.execute(text("SET LOCAL enable_hashagg TO DEFAULT"))


def stored_interest(session: Session, contact_ids: Sequence[int]) -> dict[int, float]:
    """The stored interest of these contacts (absent: never scored, i.e. zero)."""
    query = select(ContactScore.contact_id, ContactScore.interest).where(
        ContactScore.contact_id.in_(list(contact_ids))
    )
    return {contact_id: interest for contact_id, interest in session.execute(query)}


def count_scores(session: Session) -> int:
    """How many contacts have a stored interest row."""
    return session.execute(select(func.count()).select_from(ContactScore)).scalar_one()
