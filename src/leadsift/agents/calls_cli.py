"""`leadsift calls next|log|touch` and `leadsift speed report|waiting`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from leadsift.agents import call_log, calls, speed_service
from leadsift.agents.schemas import LoggedCall, NextCall
from leadsift.errors import InvalidInputError
from leadsift.kit.cli import emit_json, key_value_table, state, stderr, stdout
from leadsift.kit.clock import utcnow
from leadsift.kit.durations import parse_duration

calls_app = typer.Typer(help="The telesales call queue.", no_args_is_help=True)
speed_app = typer.Typer(help="Speed to lead: time from qualification to a first touch.")
# Times typed without an offset are the calling rules' local time (France by default).
_LOCAL = ZoneInfo("Europe/Paris")

Agent = Annotated[str, typer.Option("--agent", help="The agent (user name).")]


def when(text: str | None, option: str) -> datetime | None:
    """An ISO date-time; without an offset it is Paris time (the calling rules' zone)."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"{option} {text!r}: give an ISO date-time such as 2026-12-02T10:30 (Paris time) "
            "or 2026-12-02T09:30+00:00"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=_LOCAL)


@calls_app.command("next")
def calls_next(
    ctx: typer.Context,
    agent: Agent,
    at: Annotated[
        str | None, typer.Option(help="As of this time instead of now (plan ahead).")
    ] = None,
) -> None:
    """The agent's next prospect to call: due call-backs first, then highest priority, under the
    calling rules; or nobody and why."""
    cli = state(ctx)
    now = when(at, "--at") or utcnow()
    with cli.unit_of_work() as session:
        found = calls.next_call(session, agent, now)
    if cli.json_output:
        emit_json(found)
    else:
        _print_next(found)


def _print_next(found: NextCall) -> None:
    if found.contact is None:
        why = found.nobody
        assert why is not None  # noqa: S101 — nobody is always explained
        until = f" (until {why.until.isoformat(timespec='minutes')})" if why.until else ""
        stdout.print(f"nobody to call now: {why.message}{until}", markup=False)
        return
    contact = found.contact
    name = " ".join(filter(None, [contact.get("first_name"), contact.get("last_name")]))
    rows: dict[str, Any] = {
        "contact": f"{contact['id']} {name}".strip(),
        "phone": contact.get("phone"),
        "company": contact.get("company") or "",
        "why now": found.reason,
        "priority": found.priority if found.priority is not None else "",
        "fit": contact.get("fit"),
        "last calls": "; ".join(f"{c['at']:%Y-%m-%d} {c['outcome']}" for c in found.calls),
    }
    stdout.print(key_value_table("Next call", rows))
    if found.script:
        stdout.print(found.script, markup=False)


@calls_app.command("log")
def calls_log(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Contact id, email, phone or external id.")],
    agent: Agent,
    outcome: Annotated[
        str,
        typer.Option(help="no_answer, callback, interested, not_interested, sale or wrong_number."),
    ],
    at: Annotated[str | None, typer.Option(help="For callback: when to call back.")] = None,
    reason: Annotated[
        str | None, typer.Option(help="For not_interested: not_interested, bad_fit, …")
    ] = None,
    amount: Annotated[float | None, typer.Option(help="For sale: the amount.")] = None,
) -> None:
    """Record a call just made and its outcome (events and stage follow)."""
    cli = state(ctx)
    callback = when(at, "--at")
    with cli.unit_of_work() as session:
        logged = call_log.log_call(
            session, agent, ref, outcome, now=utcnow(), reason=reason, callback_at=callback,
            amount=amount, region=cli.settings.default_region,
        )  # fmt: skip
    _print_logged(cli.json_output, logged)


@calls_app.command("touch")
def calls_touch(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Contact id, email, phone or external id.")],
    agent: Agent,
    channel: Annotated[str, typer.Option(help="email or sms.")],
) -> None:
    """Record an email or SMS the agent sent the prospect themselves (counts for speed to lead)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        logged = call_log.log_message(
            session, agent, ref, channel, now=utcnow(), region=cli.settings.default_region
        )
    _print_logged(cli.json_output, logged)


def _print_logged(json_output: bool, logged: LoggedCall) -> None:
    if json_output:
        emit_json(logged)
        return
    move = ""
    if logged.stage_change:
        move = f"; {logged.stage_change['from_stage']} → {logged.stage_change['to_stage']}"
    stdout.print(
        f"contact {logged.contact_id}: {logged.outcome} logged ({', '.join(logged.events)}){move}",
        markup=False,
    )


def _sla(text: str | None) -> timedelta | None:
    if text is None:
        return None
    parsed = parse_duration(text)
    if parsed is None:
        raise InvalidInputError(f"--sla {text!r}: give a duration such as 1h, 30m or 2d")
    return parsed


@speed_app.command("report")
def speed_report(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="agent, source or team.")] = "agent",
    since: Annotated[
        str | None, typer.Option("--from", help="Qualified from (default: 30 days ago).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Qualified before (default: now).")
    ] = None,
    sla: Annotated[str | None, typer.Option(help="Override the playbook's SLA (e.g. 1h).")] = None,
) -> None:
    """Time from qualification to the first touch by a person, per agent, source or team."""
    cli = state(ctx)
    now = utcnow()
    start = when(since, "--from") or now - timedelta(days=30)
    end = when(until, "--to") or now
    with cli.unit_of_work() as session:
        found = speed_service.report(session, by=by, since=start, until=end, now=now, sla=_sla(sla))
    if cli.json_output:
        emit_json(found)
        return
    table = Table(by, "qualified", "touched", "within SLA", "median min", "p90 min", "waiting")
    for row in [*found.rows, found.total]:
        table.add_row(
            row.group, str(row.qualified), str(row.touched), str(row.within_sla),
            _minutes(row.median_minutes), _minutes(row.p90_minutes), str(row.waiting_beyond_sla),
        )  # fmt: skip
    stdout.print(table)
    stderr.print(f"SLA {found.sla_minutes:g} minutes", markup=False)


def _minutes(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


@speed_app.command("waiting")
def speed_waiting(
    ctx: typer.Context,
    sla: Annotated[str | None, typer.Option(help="Override the playbook's SLA (e.g. 1h).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Qualified prospects nobody has touched yet, beyond the SLA, longest waiting first."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = speed_service.waiting(session, now=utcnow(), sla=_sla(sla), limit=limit)
    if cli.json_output:
        emit_json({"waiting": found})
        return
    table = Table("contact", "qualified at", "waiting (min)", "owner", "source")
    for item in found:
        table.add_row(
            str(item.contact_id), item.qualified_at.isoformat(timespec="minutes"),
            f"{item.waiting_minutes:g}", item.owner or "(nobody)", item.source or "",
        )  # fmt: skip
    stdout.print(table)


def register(app: typer.Typer) -> None:
    """Add the call queue and speed-to-lead commands to the root CLI."""
    app.add_typer(calls_app, name="calls")
    app.add_typer(speed_app, name="speed")
