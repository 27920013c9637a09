"""Keep the rollups up to date: a pass reads what was written since the last one (idempotent,
resumable: an interrupted pass is simply done again); services flush, entrypoints commit.

The day rollups (funnel_days, funnel_spans) count the funnel facts: before a pass rewrites
facts, what they counted is taken away, and what they count afterwards added, so a fact read
twice counts once. A pass also checks the source and region of CHECKED_PER_PASS contacts (a
rolling window: a small workspace whole each time), and rebuilds the day rollups when they
count another number of facts than there are (contacts deleted: erasure, purge, undo).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.analytics import day_repository as days
from leadsift.analytics import rollup_repository as sql
from leadsift.analytics.day_tally import tally
from leadsift.analytics.models import FunnelFact
from leadsift.contacts.models import Contact
from leadsift.engagement.models import Event
from leadsift.kit.bulk import is_postgres
from leadsift.kit.sequences import pieces
from leadsift.qualification.models import StageChange

# On PostgreSQL a cursor moves past a row only once no earlier id can still commit.
SETTLE: Final = timedelta(minutes=1)
CHECKED_PER_PASS: Final = 50_000
_Step = Callable[[Session, int], None]
# (cursor, the source's id and write time, the contacts whose facts a pass rewrites, the steps)
_SOURCES: Final[tuple[tuple[str, Any, Any, Callable[[int], Any], tuple[_Step, ...]], ...]] = (
    ("contacts", Contact.id, Contact.created_at, sql.new_contacts, (sql.add_new_contacts,)),
    ("stage_changes", StageChange.id, StageChange.changed_at, sql.moved_contacts,
     (sql.refresh_stages,)),
    ("touches", Event.id, Event.received_at, sql.contacts_with_events,
     (sql.refresh_entries, sql.refresh_touches)),
)  # fmt: skip
# Cursors that are marks: the last pass (its time), the day rollups built, the rolling check.
PASS, BUILT, CHECKED = "pass", "funnel_days", "funnel_groups"
# A session whose reads take the rollups as they are (a page, once they are fresh enough).
_AS_THEY_ARE: Final = "leadsift.analytics.rollups_as_they_are"


def settled_id(session: Session, id_column: Any, written: Any, now: datetime) -> int:
    """The highest id no earlier id can still join (every id on SQLite)."""
    if not is_postgres(session):
        return sql.max_id(session, id_column)
    return sql.max_id(session, id_column, written < now - SETTLE)


def prepare(session: Session) -> None:
    """Report queries are planned, not compiled: PostgreSQL's JIT cost more than it saved."""
    if is_postgres(session):
        sql.without_jit(session)


def hold(session: Session) -> None:
    """Take the rollups for this transaction, so that refreshes never overlap."""
    if is_postgres(session):
        sql.hold_rollups(session)


def read_as_they_are(session: Session) -> None:
    """Reports in SESSION read the rollups without bringing them up to date first."""
    session.info[_AS_THEY_ARE] = True


def taken_as_they_are(session: Session) -> bool:
    """Whether reports in SESSION read the rollups as they are (see read_as_they_are)."""
    return bool(session.info.get(_AS_THEY_ARE))


def refreshed_within(session: Session, mark: str, now: datetime, age: timedelta) -> bool:
    """Whether the pass that leaves MARK (PASS: this module's refresh) brought its rollups up
    to date less than AGE before NOW."""
    last = sql.cursor_time(session, mark)
    return last is not None and now - last < age


def _rewrite(session: Session, contacts: Any, steps: Sequence[Callable[[], None]]) -> None:
    """Run STEPS, which rewrite the facts of CONTACTS, with the day rollups kept in step."""
    days.add(session, tally(days.facts_of(session, contacts), -1))
    for step in steps:
        step()
    days.fill(session, contacts)
    days.add(session, tally(days.facts_of(session, contacts)))


def _check_groups(session: Session, now: datetime) -> None:
    """Bring back the source and region of the next CHECKED_PER_PASS contacts' facts."""
    low = sql.cursor(session, CHECKED) + 1
    if low > sql.max_id(session, FunnelFact.contact_id):
        low = 1
    high = low + CHECKED_PER_PASS - 1
    moved = list(session.scalars(days.moved_groups(low, high)))
    for piece in pieces(moved):
        _rewrite(session, list(piece), ())
    sql.move_cursor(session, CHECKED, high, now)


def _rebuild(session: Session, now: datetime) -> None:
    """The day rollups from every fact again (their columns filled first)."""
    days.clear(session)
    days.fill(session, None)
    days.add(session, tally(days.all_facts(session)))
    sql.move_cursor(session, BUILT, 1, now)


def refresh(session: Session, now: datetime) -> dict[str, int]:
    """Bring every rollup up to date; the last id each has taken in (nothing when the
    session's reports take the rollups as they are)."""
    if taken_as_they_are(session):
        return {}
    prepare(session)
    hold(session)
    built = sql.cursor(session, BUILT) > 0
    last = {}
    for name, id_column, written, contacts_after, steps in _SOURCES:
        start = sql.cursor(session, name)
        if sql.max_id(session, id_column) > start:
            runs = [partial(step, session, start) for step in steps]
            if built:
                _rewrite(session, contacts_after(start), runs)
            else:
                for run in runs:
                    run()
        last[name] = max(start, settled_id(session, id_column, written, now))
        if last[name] > start:
            sql.move_cursor(session, name, last[name], now)
    if built:
        _check_groups(session, now)
    if not built or days.counted(session) != days.facts_count(session):
        _rebuild(session, now)
    settled = settled_id(session, Event.id, Event.received_at, now)
    start = sql.cursor(session, "event_days")
    if settled > start:
        sql.add_event_days(session, start, settled)
        sql.move_cursor(session, "event_days", settled, now)
    last["event_days"] = max(settled, start)
    sql.move_cursor(session, PASS, 0, now)
    session.flush()
    return last
