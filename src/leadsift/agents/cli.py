"""`leadsift user|team|assign|audit`: the people who work the funnel and who gets which prospect."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from leadsift.access import service as access
from leadsift.access import sessions
from leadsift.access.schemas import TeamView, UserView
from leadsift.agents import service
from leadsift.agents.calls_cli import register as register_calls
from leadsift.agents.calls_cli import when
from leadsift.kit.cli import emit_json, key_value_table, state, stdout

user_app = typer.Typer(help="Users: admins, managers and sales agents.", no_args_is_help=True)
team_app = typer.Typer(help="Teams and their shared queues.", no_args_is_help=True)


def _print_user(title: str, user: UserView) -> None:
    stdout.print(
        key_value_table(
            title,
            {
                "name": user.name,
                "role": user.role,
                "teams": ", ".join(user.teams) or "none",
                "weight": user.weight,
                "capacity": user.capacity if user.capacity is not None else "no limit",
                "away until": user.away_until or "",
                "disabled": user.disabled_at or "",
            },
        )
    )


@user_app.command("add")
def user_add(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short handle, e.g. alice.")],
    role: Annotated[str, typer.Option(help="admin, manager or agent.")] = "agent",
    team: Annotated[list[str] | None, typer.Option(help="A team to join (repeat).")] = None,
    weight: Annotated[int, typer.Option(help="Round-robin weight (1–100).")] = 1,
    capacity: Annotated[
        int | None, typer.Option(help="The most open prospects they may hold.")
    ] = None,
) -> None:
    """Add a user."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        user = access.add_user(
            session, name, access.parse_role(role), teams=team or (), weight=weight,
            capacity=capacity,
        )  # fmt: skip
    if cli.json_output:
        emit_json(user)
    else:
        _print_user(f"Added user {user.name}", user)


@user_app.command("update")
def user_update(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    role: Annotated[str | None, typer.Option(help="admin, manager or agent.")] = None,
    weight: Annotated[int | None, typer.Option(help="Round-robin weight (1–100).")] = None,
    capacity: Annotated[int | None, typer.Option(help="The most open prospects.")] = None,
    away_until: Annotated[
        str | None, typer.Option(help="Away until this date-time (assignment skips them).")
    ] = None,
    back: Annotated[bool, typer.Option(help="Back from an absence.")] = False,
) -> None:
    """Change a user's role, weight, capacity or absence (role changes are audited)."""
    cli = state(ctx)
    away = when(away_until, "--away-until")
    with cli.unit_of_work() as session:
        user = access.update_user(
            session, name, role=access.parse_role(role) if role else None, weight=weight,
            capacity=capacity, away_until=away, back=back,
        )  # fmt: skip
    if cli.json_output:
        emit_json(user)
    else:
        _print_user(f"User {user.name}", user)


@user_app.command("password")
def user_password(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set the password a user signs in to the web application with (asked twice, never shown;
    at least 10 characters). Their open browser sessions end."""
    cli = state(ctx)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with cli.unit_of_work() as session:
        sessions.set_password(session, name, password, None)
    if cli.json_output:
        emit_json({"user": name.strip().lower(), "password_set": True})
    else:
        stdout.print(f"Password set for {name.strip().lower()}.", markup=False)


@user_app.command("disable")
def user_disable(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Disable a user: their API keys stop working, assignment skips them, and their open
    prospects are dealt again by the playbook's rules."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        user, dealt = service.disable_user(session, name)
    if cli.json_output:
        emit_json({**user.model_dump(mode="json"), "prospects_dealt_again": dealt})
        return
    _print_user(f"Disabled user {user.name}", user)
    if dealt.waiting:
        owners = ", ".join(f"{owner} {n}" for owner, n in dealt.by_owner.items()) or "nobody"
        stdout.print(f"{dealt.waiting} open prospects dealt again: {owners}", markup=False)


@user_app.command("list")
def user_list(ctx: typer.Context) -> None:
    """List users with their role and teams."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        users = access.list_users(session)
    if cli.json_output:
        emit_json({"users": users})
        return
    table = Table("name", "role", "teams", "weight", "capacity", "status")
    for user in users:
        status = "disabled" if user.disabled_at else ("away" if user.away_until else "active")
        capacity = str(user.capacity) if user.capacity is not None else ""
        table.add_row(
            user.name, user.role, ", ".join(user.teams), str(user.weight), capacity, status
        )
    stdout.print(table)


def _print_team(title: str, team: TeamView) -> None:
    stdout.print(key_value_table(title, {"name": team.name, "members": ", ".join(team.members)}))


@team_app.command("add")
def team_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A short handle, e.g. lyon.")],
    member: Annotated[list[str] | None, typer.Option(help="A user to add (repeat).")] = None,
) -> None:
    """Add a team (or members to an existing team)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        team = access.add_team(session, name, member or ())
    if cli.json_output:
        emit_json(team)
    else:
        _print_team(f"Team {team.name}", team)


@team_app.command("list")
def team_list(ctx: typer.Context) -> None:
    """List teams and their members."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        teams = access.list_teams(session)
    if cli.json_output:
        emit_json({"teams": teams})
        return
    table = Table("name", "members")
    for team in teams:
        table.add_row(team.name, ", ".join(team.members))
    stdout.print(table)


def assign(
    ctx: typer.Context,
    ref: Annotated[
        str | None, typer.Argument(help="One contact to give by hand (else: all waiting).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="The user to give it to.")] = None,
    team: Annotated[str | None, typer.Option(help="The team whose queue gets it.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Show who would get what; change nothing.")] = False,
) -> None:
    """Give qualified prospects without an owner to one by the playbook's rules (or one contact
    to a user or team by hand)."""
    cli = state(ctx)
    if ref is not None:
        with cli.unit_of_work(dry_run=dry_run) as session:
            owner = service.assign_contact(
                session, ref, to_user=to, to_team=team, caller=None,
                region=cli.settings.default_region,
            )  # fmt: skip
        if cli.json_output:
            emit_json(owner)
        else:
            target = owner.user or f"team {owner.team}"
            stdout.print(f"contact {owner.contact_id} → {target}")
        return
    with cli.unit_of_work(dry_run=dry_run) as session:
        summary = service.assign(session, dry_run=dry_run)
    if cli.json_output:
        emit_json(summary)
        return
    rows: dict[str, object] = {
        "playbook": summary.playbook or "none",
        "waiting": summary.waiting,
        "assigned": summary.assigned,
        "unassigned": summary.unassigned,
    }
    rows.update({f"→ {owner}": n for owner, n in summary.by_owner.items()})
    rows.update({f"by {rule}": n for rule, n in summary.by_rule.items()})
    title = "Assignment (dry run: nothing written)" if dry_run else "Assignment"
    stdout.print(key_value_table(title, rows))
    for note in summary.notes:
        stdout.print(note, markup=False)


def audit(
    ctx: typer.Context,
    after: Annotated[int, typer.Option(help="Entries after this id.")] = 0,
    target_type: Annotated[str | None, typer.Option(help="contact, user, team, …")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """The audit log: who did what to which record, when (no personal data)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        entries = access.audit_log(session, after_id=after, target_type=target_type, limit=limit)
    if cli.json_output:
        emit_json({"entries": entries})
        return
    table = Table("id", "at", "actor", "action", "target", "details")
    for entry in entries:
        at: datetime = entry.at
        target = f"{entry.target_type} {entry.target_id or ''}".strip()
        details = ", ".join(f"{k}={v}" for k, v in entry.details.items())
        table.add_row(
            str(entry.id), at.isoformat(timespec="seconds"), entry.actor, entry.action,
            target, details,
        )  # fmt: skip
    stdout.print(table)


def register(app: typer.Typer) -> None:
    """Add the agents' commands to the root CLI."""
    app.add_typer(user_app, name="user")
    app.add_typer(team_app, name="team")
    app.command("assign")(assign)
    app.command("audit")(audit)
    register_calls(app)
