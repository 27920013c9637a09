"""Speed to lead per agent, source or team, and the prospects waiting beyond the SLA."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access.schemas import Caller
from leadsift.agents import speed_repository as sql
from leadsift.agents.schemas import SpeedReport, WaitingProspect
from leadsift.agents.speed import Speed, slowest_first, speed_from
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


def _group_of(
    by: str, key: tuple[Any, ...], names: tuple[dict[int, str], dict[int, str], dict[int, str]]
) -> str:
    """The group BY agent, source or team of a qualification_times_by key."""
    if by == "source":
        return str(key[0] or "(no source)")
    users, teams, first_team = names
    user_id, team_id = key
    if user_id is not None:
        return users.get(user_id, "?") if by == "agent" else first_team.get(user_id, "(no team)")
    if team_id is not None:
        team = teams.get(team_id, "?")
        return f"team:{team}" if by == "agent" else team
    return "(unassigned)"


def _speed(group: str, parts: list[sql.QualificationTimes], sla: timedelta) -> Speed:
    return speed_from(
        group,
        (pair for part in parts for pair in part.touched),
        sum(part.untouched for part in parts),
        sum(part.untouched_before for part in parts),
        sla,
    )


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
    names = _names(session)
    # Counted in SQL per owner or source, then per group name (several keys may share one).
    times = sql.qualification_times_by(session, since, until, now - limit, source=by == "source")
    groups: dict[str, list[sql.QualificationTimes]] = {}
    for key, found in times.items():
        groups.setdefault(_group_of(by, key, names), []).append(found)
    return SpeedReport(
        by=by,
        sla_minutes=limit.total_seconds() / 60,
        since=since,
        until=until,
        rows=slowest_first(_speed(group, parts, limit) for group, parts in groups.items()),
        total=_speed("total", list(times.values()), limit),
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
    return _speed(group, [times], limit), limit.total_seconds() / 60


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
