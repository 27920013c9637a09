"""Keep the rollups up to date: a pass reads what was written since the last one (idempotent,
resumable: an interrupted pass is simply done again); services flush, entrypoints commit.

The day rollups (funnel_days, funnel_spans) count the funnel facts: before a pass rewrites
facts, what they counted is taken away, and what they count afterwards added, so a fact read
twice counts once; the purchase days (per buyer's source and channel) follow the events by a
cursor, and the purchases of rewritten facts move with them, as each contact's last event and
purchase flag do (contact_activity, for remarketing). A pass also checks the source and
region of CHECKED_PER_PASS contacts (a rolling window: a small workspace whole each time), and
once a round of that window counts again the days of entry whose facts are fewer than the
rollups count (contacts deleted: erasure, purge, undo), and the purchase days: within twenty
passes on a million contacts. The first pass builds them from the facts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from functools import partial
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.analytics import activity_repository as activity
from leadsift.analytics import day_repository as days
from leadsift.analytics import purchase_repository as purchases
from leadsift.analytics import rollup_repository as sql
from leadsift.analytics.day_tally import merge, tally
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
REFRESHED, BUILT, CHECKED = "refreshed", "funnel_days", "funnel_groups"
PURCHASES: Final = "purchase_days"
ACTIVITY: Final = "contact_activity"
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


def moves_waiting(session: Session) -> bool:
    """Whether stage changes were written that the funnel has not taken in (a sale, a
    qualification: few, and what the funnel is about, so pages take them in at once)."""
    return sql.max_id(session, StageChange.id) > sql.cursor(session, "stage_changes")


def refreshed_within(session: Session, mark: str, now: datetime, age: timedelta) -> bool:
    """Whether the pass that leaves MARK (REFRESHED: this module's refresh) brought its rollups up
    to date less than AGE before NOW."""
    last = sql.cursor_time(session, mark)
    return last is not None and now - last < age


def _rewrite(session: Session, contacts: Any, steps: Sequence[Callable[[], None]]) -> None:
    """Run STEPS, which rewrite the facts of CONTACTS, with the day rollups kept in step (their
    purchases taken in so far move with their source and channel): what the facts counted is
    taken away and what they count added, and only the difference written."""
    taken = sql.cursor(session, PURCHASES)
    change = tally(days.facts_of(session, contacts), -1)
    moved = purchases.of_contacts(session, contacts, taken) if taken else {}
    for step in steps:
        step()
    days.fill(session, contacts)
    days.add(session, merge(change, tally(days.facts_of(session, contacts))))
    if taken:
        purchases.add(session, purchases.difference(moved, purchases.of_contacts(
            session, contacts, taken)))  # fmt: skip


def _check_groups(session: Session, now: datetime) -> bool:
    """Bring back the source and region of the next CHECKED_PER_PASS contacts' facts; whether
    the rolling window started again from the first contact."""
    low = sql.cursor(session, CHECKED) + 1
    last = sql.max_id(session, FunnelFact.contact_id)
    if low > last:
        low = 1
    # A window of facts, not of ids (ids may be sparse): the rest of the round when fewer
    # remain, and all of them when the workspace holds fewer than a window.
    high = days.window_end(session, low, CHECKED_PER_PASS)
    if high is None:
        if low > 1 and days.window_end(session, 1, CHECKED_PER_PASS) is None:
            low = 1
        high = last
    moved = list(session.scalars(days.moved_groups(low, high)))
    for piece in pieces(moved):
        _rewrite(session, list(piece), ())
    sql.move_cursor(session, CHECKED, high, now)
    return low == 1


def _take_purchases(session: Session, after: int, up_to: int) -> None:
    purchases.add(session, purchases.between(session, after, up_to))


def _recount(session: Session, now: datetime) -> None:
    """Count again the days of entry whose facts are fewer than the rollups count (deleted
    with their contacts: erasure, purge, undo), and the purchase days from the start."""
    counted, found = days.counted_days(session), days.fact_days(session)
    wrong = sorted(d for d in counted.keys() | found.keys() if counted.get(d, 0) != found.get(d, 0))
    for piece in pieces(wrong):
        days.clear_days(session, list(piece))
        for day in piece:
            start = datetime.combine(day, time(0), tzinfo=UTC)
            days.add(session, tally(days.facts_between(session, start, start + timedelta(days=1))))
    purchases.clear(session)
    sql.move_cursor(session, PURCHASES, 0, now)  # taken in again by the pass, from the start


def rebuild_days(session: Session, now: datetime) -> None:
    """The day rollups from every fact again (their columns filled first)."""
    days.clear(session)
    days.fill(session, None)
    days.add(session, tally(days.all_facts(session)))
    purchases.clear(session)
    sql.move_cursor(session, PURCHASES, 0, now)  # taken in again by the pass, from the start
    sql.move_cursor(session, BUILT, 1, now)


def _take_sources(
    session: Session, now: datetime, built: bool, only: tuple[str, ...] | None = None
) -> dict[str, int]:
    """Rewrite the facts of what was written past each source's cursor (or ONLY those
    sources'); the last ids."""
    last = {}
    for name, id_column, written, contacts_after, steps in _SOURCES:
        if only is not None and name not in only:
            continue
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
    return last


def take_moves(session: Session, now: datetime) -> dict[str, int]:
    """Take in the contacts and stage changes written since the last pass, and nothing else
    (a page's sale shows at once, a contact imported since too: a moved contact's fact must
    exist; the events wait for the next pass); a whole refresh before the first."""
    if taken_as_they_are(session):
        return {}
    if sql.cursor(session, BUILT) == 0:
        return refresh(session, now)
    prepare(session)
    hold(session)
    last = _take_sources(session, now, True, only=("contacts", "stage_changes"))
    session.flush()
    return last


def refresh(session: Session, now: datetime) -> dict[str, int]:
    """Bring every rollup up to date; the last id each has taken in (nothing when the
    session's reports take the rollups as they are)."""
    if taken_as_they_are(session):
        return {}
    prepare(session)
    hold(session)
    built = sql.cursor(session, BUILT) > 0
    last = _take_sources(session, now, built)
    # Deletions are looked for once a round of the rolling check (every pass on a workspace of
    # fewer than CHECKED_PER_PASS contacts; counting a million facts costs PostgreSQL 0.4 s).
    if not built:
        rebuild_days(session, now)
    elif _check_groups(session, now) and days.counted(session) != days.facts_count(session):
        _recount(session, now)
    settled = settled_id(session, Event.id, Event.received_at, now)
    for name, take in (("event_days", sql.add_event_days), (PURCHASES, _take_purchases),
                       (ACTIVITY, activity.add_activity)):  # fmt: skip
        start = sql.cursor(session, name)
        if settled > start:
            take(session, start, settled)
            sql.move_cursor(session, name, settled, now)
        last[name] = max(settled, start)
    sql.move_cursor(session, REFRESHED, 0, now)
    session.flush()
    return last
