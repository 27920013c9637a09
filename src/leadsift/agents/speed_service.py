"""Speed to lead per agent, source or team, and the prospects waiting beyond the SLA."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access.schemas import Caller
from leadsift.agents import call_repository as sql
from leadsift.agents.schemas import SpeedReport, WaitingProspect
from leadsift.agents.speed import Qualified, Speed, by_group, speed_of
from leadsift.errors import InvalidInputError
from leadsift.qualification import repository as qualification_repository
from leadsift.qualification.playbook_schema import AssignmentPolicy

GROUPS: Final = ("agent", "source", "team")
DEFAULT_SLA: Final = timedelta(hours=1)


def sla_of(session: Session) -> timedelta:
    """The active playbook's speed-to-lead SLA (1 hour without one)."""
    version = qualification_repository.active_version(session)
    section = version.document.get("assignment") if version is not None else None
    return AssignmentPolicy.model_validate(section).sla if section else DEFAULT_SLA


def _names(session: Session) -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
    users = {u.id: u.name for u in access_repository.users(session)}
    teams = {t.id: t.name for t in access_repository.teams(session)}
    first_team = {
        user_id: names[0] for user_id, names in access_repository.teams_of_users(session).items()
    }
    return users, teams, first_team


def report(
    session: Session,
    *,
    by: str,
    since: datetime,
    until: datetime,
    now: datetime,
    sla: timedelta | None = None,
) -> SpeedReport:
    """Speed to lead of prospects qualified in [SINCE, UNTIL), grouped BY agent, source or team."""
    if by not in GROUPS:
        raise InvalidInputError(f"--by {by!r}: group by one of {', '.join(GROUPS)}")
    if since >= until:
        raise InvalidInputError("--from must be before --to")
    limit = sla if sla is not None else sla_of(session)
    users, teams, first_team = _names(session)
    items = []
    for row in sql.qualifications(
        session, since, until, owner=by != "source", source=by == "source"
    ):
        if by == "source":
            group = row["source"] or "(no source)"
        elif row["user_id"] is not None:
            owner = users.get(row["user_id"], "?")
            group = owner if by == "agent" else first_team.get(row["user_id"], "(no team)")
        elif row["team_id"] is not None:
            group = (
                f"team:{teams.get(row['team_id'], '?')}"
                if by == "agent"
                else teams.get(row["team_id"], "?")
            )
        else:
            group = "(unassigned)"
        items.append(Qualified(group, row["qualified_at"], row["first_touch_at"]))
    return SpeedReport(
        by=by,
        sla_minutes=limit.total_seconds() / 60,
        since=since,
        until=until,
        rows=by_group(items, limit, now),
        total=speed_of("total", items, limit, now),
    )


def summary(
    session: Session, *, since: datetime, until: datetime, now: datetime, user_id: int | None
) -> tuple[Speed, float]:
    """Speed to lead of the prospects qualified in [SINCE, UNTIL) — everyone's (the report's
    total), or those USER_ID owns (their row by agent) — and the SLA in minutes. Only the
    touched ones' times are read; the others are counted in SQL."""
    if since >= until:
        raise InvalidInputError("--from must be before --to")
    limit = sla_of(session)
    group = "total"
    if user_id is not None:
        found = access_repository.get_user(session, user_id)
        group = found.name if found is not None else "?"
    times = sql.qualification_times(session, since, until, user_id, now - limit)
    items = [
        Qualified(group, qualified_at, touched_at) for qualified_at, touched_at in times.touched
    ]
    touched = speed_of(group, items, limit, now)
    speed = dataclasses.replace(
        touched,
        qualified=touched.qualified + times.untouched,
        waiting_beyond_sla=times.untouched_before,
    )
    return speed, limit.total_seconds() / 60


def waiting(
    session: Session,
    *,
    now: datetime,
    sla: timedelta | None = None,
    limit: int = 100,
    caller: Caller | None = None,
) -> list[WaitingProspect]:
    """Qualified prospects nobody has touched since they qualified, beyond the SLA, longest
    waiting first (among those CALLER may see)."""
    cutoff = now - (sla if sla is not None else sla_of(session))
    users, teams, _ = _names(session)
    found = []
    for row in sql.untouched_since_qualified(session, cutoff, limit, caller):
        owner = (
            users.get(row["user_id"])
            if row["user_id"] is not None
            else (f"team:{teams.get(row['team_id'])}" if row["team_id"] is not None else None)
        )
        found.append(
            WaitingProspect(
                contact_id=row["id"],
                qualified_at=row["qualified_at"],
                waiting_minutes=round((now - row["qualified_at"]).total_seconds() / 60, 1),
                owner=owner,
                source=row["source"],
            )
        )
    return found
