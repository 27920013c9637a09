"""Assignment of qualified prospects to agents, teams' queues and round robins, by the active
playbook's rules (first match wins, then the default); services flush, entrypoints commit.

New prospects are assigned in the transaction that qualified them (`after_events`, and the
`score` and `set-stage` commands); `assign` hands out any still waiting, or shows who would get
what with `dry_run`.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access import service as access
from leadsift.access.models import Team, User
from leadsift.access.schemas import Caller, Role, UserView
from leadsift.agents import repository
from leadsift.agents.round_robin import Member, distribute
from leadsift.agents.schemas import AssignmentSummary, OwnerView
from leadsift.contacts import lookup
from leadsift.errors import InvalidInputError, PermissionDeniedError
from leadsift.kit.clock import utcnow
from leadsift.qualification import repository as qualification_repository
from leadsift.qualification.playbook_schema import AssignmentPolicy, AssignTo, RoundRobin
from leadsift.scoring import service as scoring
from leadsift.segments.service import where_condition

_EXAMPLES = 5


@dataclass
class _Run:
    """One assignment pass: the people named by the rules, their loads, and what was decided."""

    users: dict[str, User]
    teams: dict[str, Team]
    members: dict[str, list[int]]
    loads: dict[int, int]
    now: datetime
    playbook: str
    ranks: dict[int, float | None] = field(default_factory=dict)  # call order of the waiting
    rows: list[dict[str, object]] = field(default_factory=list)
    by_owner: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[int]] = field(default_factory=dict)
    states: dict[str, dict[str, int]] = field(default_factory=dict)
    unassigned: list[int] = field(default_factory=list)

    def give(self, contact_ids: list[int], owner: User | Team, rule: str) -> None:
        """Record that CONTACT_IDS go to OWNER by RULE."""
        is_user = isinstance(owner, User)
        name = owner.name if is_user else f"team:{owner.name}"
        user_id, team_id = (owner.id, None) if is_user else (None, owner.id)
        playbook, ranks = f"playbook:{self.playbook}", self.ranks
        self.rows += [
            {
                "contact_id": contact_id,
                "user_id": user_id,
                "team_id": team_id,
                "rule": rule,
                "assigned_by": playbook,
                "assigned_at": self.now,
                "queue_rank": ranks.get(contact_id),
            }
            for contact_id in contact_ids
        ]
        if user_id is not None:
            self.loads[user_id] = self.loads.get(user_id, 0) + len(contact_ids)
        self.by_owner[name] += len(contact_ids)
        self.by_rule[rule] += len(contact_ids)
        shown = self.examples.setdefault(name, [])
        shown += contact_ids[: _EXAMPLES - len(shown)]


def _policy(session: Session) -> tuple[str, AssignmentPolicy] | None:
    version = qualification_repository.active_version(session)
    if version is None or not version.document.get("assignment"):
        return None
    name = f"{version.name}@{version.version}"
    return name, AssignmentPolicy.model_validate(version.document["assignment"])


def _targets(policy: AssignmentPolicy) -> list[tuple[str, AssignTo]]:
    named: list[tuple[str, AssignTo]] = [
        (f"rule {index}", rule) for index, rule in enumerate(policy.rules, start=1)
    ]
    if policy.default is not None:
        named.append(("default", policy.default))
    return named


def _names(policy: AssignmentPolicy) -> tuple[set[str], set[str]]:
    users: set[str] = set()
    teams: set[str] = set()
    for _, target in _targets(policy):
        robin = target.round_robin
        users.update(filter(None, [target.user, *(robin.users if robin else ())]))
        teams.update(filter(None, [target.team, robin.team if robin else None]))
    return users, teams


def _resolve(session: Session, policy: AssignmentPolicy, now: datetime, playbook: str) -> _Run:
    """The users and teams the rules name; a missing one is refused before anything changes."""
    user_names, team_names = _names(policy)
    users = access_repository.users_by_name(session, user_names)
    teams = {name: access_repository.team_by_name(session, name) for name in team_names}
    for label, target in _targets(policy):
        robin = target.round_robin
        for name in [target.user, *(robin.users if robin else ())]:
            if name is not None and name not in users:
                raise InvalidInputError(
                    f"assignment {label} of playbook {playbook} names user {name!r}, who does "
                    f"not exist: add them (`leadsift user add {name} --role agent`) or fix the "
                    "playbook; nothing was assigned"
                )
        for name in [target.team, robin.team if robin else None]:
            if name is not None and teams.get(name) is None:
                raise InvalidInputError(
                    f"assignment {label} of playbook {playbook} names team {name!r}, which does "
                    f"not exist: add it (`leadsift team add {name}`) or fix the playbook; "
                    "nothing was assigned"
                )
    found_teams = {name: team for name, team in teams.items() if team is not None}
    members = {
        name: access_repository.team_member_ids(session, team.id)
        for name, team in found_teams.items()
    }
    everyone = {u.id for u in users.values()} | {m for ids in members.values() for m in ids}
    for user in access_repository.users_by_id(session, everyone).values():
        users.setdefault(user.name, user)
    loads = repository.open_prospects(session, everyone)
    return _Run(users, found_teams, members, loads, now, playbook)


def _available(user: User, now: datetime) -> bool:
    return user.disabled_at is None and (user.away_until is None or user.away_until <= now)


def _hand_out(run: _Run, ids: list[int], label: str, target: AssignTo) -> list[int]:
    """Give IDS to TARGET; the ids nobody could take."""
    if target.team is not None:
        run.give(ids, run.teams[target.team], label)
        return []
    if target.user is not None:
        user = run.users[target.user]
        if not _available(user, run.now):
            return ids
        run.give(ids, user, label)
        return []
    return _round_robin(run, ids, label, target)


def _pool(run: _Run, robin: RoundRobin) -> list[User]:
    """The users a round robin deals to, in a stable order."""
    if robin.users:
        return [run.users[name] for name in robin.users]
    by_id = {user.id: user for user in run.users.values()}
    # A team's managers and admins see its prospects; only its agents are dealt them.
    members = [by_id[i] for i in run.members[robin.team or ""] if i in by_id]
    return [user for user in members if user.role == Role.AGENT.value]


def _key(run: _Run, label: str, pool: list[User]) -> str:
    """The round robin's name: the playbook, the rule, and (as a short hash) who it deals to —
    a new pool starts afresh."""
    playbook = run.playbook.rsplit("@", 1)[0][:120]
    members = hashlib.sha256(",".join(user.name for user in pool).encode()).hexdigest()[:16]
    return f"{playbook}:{label}:{members}"


def _round_robin(run: _Run, ids: list[int], label: str, target: AssignTo) -> list[int]:
    robin = target.round_robin
    assert robin is not None  # noqa: S101 — one of the three targets is set (schema)
    pool = _pool(run, robin)
    by_id = {user.id: user for user in pool}
    members = []
    for user in pool:
        capacity = robin.capacity if robin.capacity is not None else user.capacity
        left = None if capacity is None else max(capacity - run.loads.get(user.id, 0), 0)
        weight = robin.weights.get(user.name, user.weight)
        members.append(Member(user.id, weight, _available(user, run.now), left))
    key = _key(run, label, pool)
    picks, new_state = distribute(len(ids), members, run.states.get(key, {}))
    run.states[key] = new_state
    # Each one's prospects given at once, in the order the round robin first picked them.
    dealt: dict[int | None, list[int]] = {}
    for contact_id, user_id in zip(ids, picks, strict=True):
        dealt.setdefault(user_id, []).append(contact_id)
    for user_id, given in dealt.items():
        if user_id is not None:
            run.give(given, by_id[user_id], label)
    return dealt.get(None, [])


def _decide(
    run: _Run, policy: AssignmentPolicy, waiting: list[tuple[int, int, float | None]]
) -> None:
    groups: dict[int, list[int]] = {}
    for contact_id, index, rank in waiting:
        groups.setdefault(index, []).append(contact_id)
        run.ranks[contact_id] = rank
    leftover: list[int] = list(groups.pop(repository.NO_RULE, []))
    for index, rule in enumerate(policy.rules):
        ids = groups.get(index, [])
        if ids:
            leftover += _hand_out(run, ids, f"rule {index + 1}", rule)
    if leftover and policy.default is not None:
        leftover = _hand_out(run, sorted(leftover), "default", policy.default)
    run.unassigned = leftover


def assign(
    session: Session,
    *,
    contact_ids: Collection[int] | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
) -> AssignmentSummary:
    """Give qualified prospects without an owner to one, by the active playbook's rules."""
    started = time.perf_counter()
    now = now or utcnow()
    found = _policy(session)
    if found is None:
        note = "the active playbook has no `assignment` section: nobody is assigned"
        return _nothing(None, dry_run, [note])
    playbook, policy = found
    conditions = [where_condition(session, rule.when, now) for rule in policy.rules]
    waiting = repository.waiting_prospects(
        session, [c for c in conditions if c is not None], contact_ids
    )
    if not waiting and contact_ids is not None:
        return _nothing(playbook, dry_run)
    run = _resolve(session, policy, now, playbook)
    for key in _round_robin_keys(run, policy):
        run.states[key] = repository.round_robin_state(session, key)
    _decide(run, policy, waiting)
    if not dry_run and run.rows:
        # The call order comes with the rows (read with the waiting prospects); contacts
        # someone else gave an owner meanwhile keep theirs, and get their order refreshed.
        if repository.add_owners(session, run.rows) < len(run.rows):
            repository.refresh_ranks(session, [int(str(row["contact_id"])) for row in run.rows])
        for key, state in run.states.items():
            repository.save_round_robin_state(session, key, state, now)
        session.flush()
    return AssignmentSummary(
        playbook=playbook,
        dry_run=dry_run,
        waiting=len(waiting),
        assigned=len(run.rows),
        unassigned=len(run.unassigned),
        by_owner=dict(run.by_owner.most_common()),
        by_rule=dict(sorted(run.by_rule.items())),
        examples=run.examples,
        notes=_notes(run),
        seconds=round(time.perf_counter() - started, 3),
    )


def _nothing(
    playbook: str | None, dry_run: bool, notes: list[str] | None = None
) -> AssignmentSummary:
    return AssignmentSummary(
        playbook=playbook, dry_run=dry_run, waiting=0, assigned=0, unassigned=0,
        by_owner={}, by_rule={}, examples={}, notes=notes or [],
    )  # fmt: skip


def _round_robin_keys(run: _Run, policy: AssignmentPolicy) -> list[str]:
    return [
        _key(run, label, _pool(run, target.round_robin))
        for label, target in _targets(policy)
        if target.round_robin is not None
    ]


def _notes(run: _Run) -> list[str]:
    if not run.unassigned:
        return []
    return [
        f"{len(run.unassigned)} prospect(s) matched no rule or found nobody available (disabled, "
        "away or at capacity) and have no owner: add a `default` to the playbook's assignment, "
        "or `leadsift assign` again when someone is free"
    ]


def after_events(session: Session, contact_ids: set[int], now: datetime) -> None:
    """What follows newly recorded events: scores and stages, predictions, then assignment of
    those who just became qualified prospects."""
    scoring.after_events(session, contact_ids, now)
    if contact_ids:
        assign_new(session, contact_ids, now)


def assign_new(session: Session, contact_ids: Collection[int] | None, now: datetime) -> str | None:
    """Assign prospects that just qualified and refresh the call order of those whose scores or
    stage moved (everyone's with None); a broken rule (a user who does not exist) leaves them
    waiting — shown by `leadsift assign` and `speed waiting` — rather than refusing the events
    or the scoring that qualified them. Returns the problem, if any."""
    repository.refresh_ranks(session, contact_ids)
    try:
        assign(session, contact_ids=contact_ids, now=now)
    except InvalidInputError as problem:
        return problem.message
    return None


def disable_user(
    session: Session, name: str, *, caller: Caller | None = None, now: datetime | None = None
) -> tuple[UserView, AssignmentSummary]:
    """Disable a user (their keys stop working) and deal their open prospects again by the
    rules, so nobody is left waiting in a queue no one works."""
    user = access.disable_user(session, name, caller)
    released = repository.release_open(session, user.id)
    if released:
        details = {"prospects": len(released)}
        access.audit(session, caller, "prospects_released", ("user", user.id), details=details)
        summary = assign(session, contact_ids=released, now=now or utcnow())
    else:
        summary = _nothing(None, False)
    return access.find_user_view(session, name), summary


def _check_manager(caller: Caller | None, user: User | None, team: Team | None) -> None:
    """A manager gives prospects only to their teams' members and queues."""
    if caller is None or caller.role is not Role.MANAGER:
        return
    if (user is not None and user.id not in caller.user_ids) or (
        team is not None and team.id not in caller.team_ids
    ):
        raise PermissionDeniedError(
            "a manager gives prospects to the members and queues of their own teams only"
        )


def assign_contact(
    session: Session,
    ref: str,
    *,
    to_user: str | None,
    to_team: str | None,
    caller: Caller | None,
    region: str = "FR",
) -> OwnerView:
    """Give one contact to a user or a team's queue by hand (written to the audit log)."""
    if (to_user is None) == (to_team is None):
        raise InvalidInputError("give exactly one of --to USER or --team TEAM")
    contact = lookup.find_contact(session, ref, region)
    user = access.find_user(session, to_user) if to_user is not None else None
    team = access.find_team(session, to_team) if to_team is not None else None
    if user is not None and user.disabled_at is not None:
        raise InvalidInputError(f"user {user.name!r} is disabled: choose someone else")
    _check_manager(caller, user, team)
    now = utcnow()
    values: dict[str, object] = {
        "user_id": user.id if user else None,
        "team_id": team.id if team else None,
        "rule": "manual",
        "assigned_by": caller.actor if caller else "cli",
        "assigned_at": now,
    }
    repository.set_owner(session, contact.id, values)
    details = {"user_id": values["user_id"], "team_id": values["team_id"]}
    access.audit(session, caller, "assigned", ("contact", contact.id), details=details, at=now)
    session.flush()
    return OwnerView(
        contact_id=contact.id,
        user=user.name if user else None,
        team=team.name if team else None,
        rule="manual",
        assigned_at=now,
    )
