"""`leadsift consent grant|withdraw|show`, `leadsift worker`, `leadsift outbox ambiguous`, and
the registration of every outreach command group."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from types import FrameType
from typing import Annotated

import typer
from rich.table import Table

from leadsift.contacts import lookup
from leadsift.db import Database
from leadsift.errors import LeadsiftError, NotFoundError
from leadsift.kit.cli import emit_json, key_value_table, plain, state, stderr, stdout
from leadsift.kit.clock import utcnow
from leadsift.outreach import campaign_repository, consent
from leadsift.outreach.campaign_cli import campaign_app, sending
from leadsift.outreach.channels import email_channel, sms_channel
from leadsift.outreach.gate import CHANNELS
from leadsift.outreach.gdpr_cli import gdpr_app
from leadsift.outreach.promo_cli import promo_app
from leadsift.outreach.worker import Worker, WorkerOptions

consent_app = typer.Typer(help="Consent per channel: grant, withdraw, show.", no_args_is_help=True)
outbox_app = typer.Typer(help="The outbox: messages whose fate is unknown.", no_args_is_help=True)


@consent_app.command("grant")
def grant(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Contact id, email, phone or external id.")],
    channel: Annotated[str, typer.Option(help=f"One of {', '.join(CHANNELS)}.")],
    source: Annotated[str, typer.Option(help="How it was given (form, call, paper…).")] = "cli",
    wording: Annotated[str | None, typer.Option(help="The exact text agreed to.")] = None,
    lift_suppression: Annotated[
        bool, typer.Option(help="Also lift the person's own earlier opt-out on this channel.")
    ] = False,
) -> None:
    """Record that the person agreed to be contacted on CHANNEL (a new ledger row)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        contact = lookup.find_contact(session, ref, cli.settings.default_region)
        record = consent.grant(
            session,
            contact.id,
            consent.check_channel(channel),
            source=source,
            now=utcnow(),
            wording=wording,
            lift_suppression=lift_suppression,
        )
        result = {"contact_id": contact.id, "channel": channel, "granted": True,
                  "ledger_id": record.id}  # fmt: skip
    if cli.json_output:
        emit_json(result)
    else:
        stdout.print(plain(f"contact {contact.id}: consent on {channel} recorded"))


@consent_app.command("withdraw")
def withdraw(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Contact id, email, phone or external id.")],
    channel: Annotated[str, typer.Option(help=f"One of {', '.join(CHANNELS)}.")],
    source: Annotated[str, typer.Option(help="How it was asked (email, call, letter…).")] = "cli",
) -> None:
    """Record an objection on CHANNEL and suppress the identifier (holds after re-imports)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        contact = lookup.find_contact(session, ref, cli.settings.default_region)
        changed = consent.withdraw(
            session, contact.id, consent.check_channel(channel), source=source, now=utcnow()
        )
    if cli.json_output:
        emit_json({"contact_id": contact.id, "channel": channel, "changed": changed})
    elif changed:
        stdout.print(plain(f"contact {contact.id}: withdrawn from {channel} and suppressed"))
    else:
        stdout.print(plain(f"contact {contact.id}: already withdrawn from {channel}"))


@consent_app.command("show")
def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Contact id, email, phone or external id.")],
    audience: Annotated[str, typer.Option(help="b2c or b2b (what the gate applies).")] = "b2c",
) -> None:
    """The contact's consent per channel, suppressions, and whether each channel may be used."""
    cli = state(ctx)
    with cli.unit_of_work(dry_run=True) as session:
        contact = lookup.find_contact(session, ref, cli.settings.default_region)
        view = consent.show(session, contact.id, audience=audience, now=utcnow())
    if cli.json_output:
        emit_json(asdict(view))
        return
    table = Table(title=f"Consent of contact {contact.id} ({audience})")
    for column in ("channel", "consent", "since", "source", "suppressed", "may send", "why"):
        table.add_column(column)
    for channel in CHANNELS:
        state_ = view.states[channel]
        word = {True: "granted", False: "withdrawn", None: "never stated"}[state_.granted]
        decision = view.decisions[channel]
        suppressed = view.suppressed.get(channel) or view.suppressed.get("all") or ""
        table.add_row(
            channel,
            word,
            state_.since.isoformat() if state_.since else "",
            plain(state_.source or ""),
            suppressed,
            "yes" if decision.allowed else "no",
            plain(decision.message),
        )
    stdout.print(table)


# Work the worker also does while it runs, every MAINTENANCE_SECONDS (and once at its start):
# (database, now). The root CLI plugs in the analytics rollups, so they follow what is written.
Maintenance = Callable[[Database, datetime], object]
_maintenance: list[Maintenance] = []
MAINTENANCE_SECONDS = 60.0


def while_working(hook: Maintenance) -> None:
    """Run HOOK every minute while `leadsift worker` runs (and once when it starts)."""
    _maintenance.append(hook)


def _maintain(database: Database) -> None:
    for hook in _maintenance:
        try:
            hook(database, utcnow())
        except LeadsiftError as problem:  # upkeep must never stop the sending
            stderr.print(f"warning: {problem.message}", markup=False)


def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option(help="Process what is due now, then exit.")] = False,
    batch: Annotated[int, typer.Option(min=1, max=1000, help="Messages per claim.")] = 50,
    lanes: Annotated[
        int, typer.Option(min=1, max=32, help="Messages in flight at once (threads).")
    ] = 4,
    max_messages: Annotated[
        int | None, typer.Option(min=1, help="Stop after settling this many.")
    ] = None,
) -> None:
    """Send due outbox messages (email, SMS); safe to kill at any time and to run several."""
    cli = state(ctx)
    settings = cli.settings
    stop = {"asked": False}

    def ask_stop(signum: int, frame: FrameType | None) -> None:
        stop["asked"] = True

    signal.signal(signal.SIGTERM, ask_stop)
    options = WorkerOptions(once=once, batch=batch, lanes=lanes, max_messages=max_messages)
    _maintain(cli.database())
    last = {"maintained": time.monotonic()}

    def should_stop() -> bool:
        # The supervising thread does the upkeep between its looks at the lanes.
        if time.monotonic() - last["maintained"] >= MAINTENANCE_SECONDS:
            _maintain(cli.database())
            last["maintained"] = time.monotonic()
        return stop["asked"]

    runner = Worker(
        cli.database(),
        sending=sending(settings),
        email=lambda: email_channel(settings),
        sms=lambda: sms_channel(settings),
        options=options,
    )
    if not cli.json_output:
        stderr.print("worker started (Ctrl-C or SIGTERM to stop)", markup=False)
    try:
        report = runner.run(should_stop)
    except KeyboardInterrupt:
        report = runner.report
    document = asdict(report)
    if cli.json_output:
        emit_json(document)
        return
    rows: dict[str, object] = {"worker": report.token, **report.outcomes}
    rows["recovered: ambiguous"] = len(report.recovered_ambiguous)
    rows["recovered: back in queue"] = report.recovered_released
    rows["seconds"] = report.seconds
    stdout.print(key_value_table("Worker", rows))


@outbox_app.command("ambiguous")
def ambiguous(
    ctx: typer.Context,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign.")] = None,
) -> None:
    """Messages that may or may not have left (the process died mid-send): never re-sent."""
    cli = state(ctx)
    with cli.unit_of_work(dry_run=True) as session:
        campaign_id = None
        if campaign is not None:
            found = campaign_repository.campaign_by_key(session, campaign)
            if found is None:
                raise NotFoundError(f"no campaign {campaign!r}: see leadsift campaign list")
            campaign_id = found.id
        rows = [
            {
                "outbox_id": m.id,
                "campaign_id": m.campaign_id,
                "contact_id": m.contact_id,
                "step": m.step,
                "reason": m.reason,
                "detail": m.detail,
                "message_id": m.message_id,
                "at": m.settled_at,
            }
            for m in campaign_repository.ambiguous(session, campaign_id)
        ]
    if cli.json_output:
        emit_json({"ambiguous": rows})
        return
    table = Table(title=f"Ambiguous messages ({len(rows)})")
    for column in ("outbox id", "campaign", "contact", "step", "reason", "detail"):
        table.add_column(column)
    for row in rows:
        columns = ("outbox_id", "campaign_id", "contact_id", "step", "reason", "detail")
        table.add_row(*(plain(str(row[k] or "")) for k in columns))
    stdout.print(table)


def register(app: typer.Typer) -> None:
    """Add the outreach commands to the root command."""
    app.add_typer(consent_app, name="consent")
    app.add_typer(campaign_app, name="campaign")
    app.add_typer(outbox_app, name="outbox")
    app.add_typer(promo_app, name="promo")
    app.add_typer(gdpr_app, name="gdpr")
    app.command("worker")(worker)
