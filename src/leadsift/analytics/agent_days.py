"""The agents report per day of qualification: counted again whole by each pass of the worker
(owners change without a history to follow, so there is no cursor to take changes from), read
for the whole days of a period, with its partial first and last days counted live."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta
from typing import Final

from sqlalchemy.orm import Session

from leadsift.analytics import agent_day_repository as sql
from leadsift.analytics import rollup_repository as cursors
from leadsift.analytics.rollups import hold, taken_as_they_are

# The mark a pass leaves: its time (and the last stage change it counted).
REFRESHED: Final = "agent_days"
_INPUTS: Final = "agent_days_inputs"


def refresh(session: Session, now: datetime) -> int:
    """Count the agents' days again when what they are counted from changed (nothing when the
    session's reports take the rollups as they are); the last stage change counted."""
    if taken_as_they_are(session):
        return 0
    hold(session)
    found = sql.inputs(session)
    # The inputs, hashed into the mark's id column: equal, the days counted are still true.
    signature = int.from_bytes(hashlib.blake2b(repr(found).encode(), digest_size=7).digest())
    if (
        cursors.cursor(session, _INPUTS) != signature
        or cursors.cursor_time(session, REFRESHED) is None
    ):
        sql.rebuild(session)
        cursors.move_cursor(session, _INPUTS, signature, now)
    cursors.move_cursor(session, REFRESHED, found[0], now)
    session.flush()
    return found[0]


def figures(session: Session, since: datetime, until: datetime) -> dict[str, list[float]]:
    """Per agent's name, the figures (agent_day_repository.FIGURES) of the prospects qualified
    in [SINCE, UNTIL): whole days from the last pass when a page reads the rollups as they are
    and a pass has counted them, everything live otherwise (the command line)."""
    first = _day_start(since) + (timedelta(days=1) if since > _day_start(since) else timedelta())
    end = _day_start(until)
    counted = taken_as_they_are(session) and cursors.cursor_time(session, REFRESHED) is not None
    if not counted or first >= end:
        parts = [sql.live(session, since, until)]
    else:
        parts = [sql.summed(session, first.date(), end.date())]
        if since < first:
            parts.append(sql.live(session, since, first))
        if end < until:
            parts.append(sql.live(session, end, until))
    totals: dict[int, list[float]] = {}
    for part in parts:
        for user_id, values in part.items():
            kept = totals.setdefault(user_id, [0.0] * len(values))
            totals[user_id] = [a + b for a, b in zip(kept, values, strict=True)]
    names = sql.user_names(session, list(totals))
    return {names.get(user_id, "?"): values for user_id, values in totals.items()}


def _day_start(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), time(0), tzinfo=UTC)
