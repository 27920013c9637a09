"""`leadsift campaign create|preview|schedule|pause|resume|status|list`: parse, call one
service function, render."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from leadsift.config import Settings
from leadsift.contacts import lookup
from leadsift.errors import InvalidInputError
from leadsift.kit.cli import emit_json, key_value_table, plain, state, stdout
from leadsift.kit.clock import utcnow
from leadsift.kit.durations import parse_duration
from leadsift.outreach import campaigns
from leadsift.outreach.schemas import CampaignSpec, CampaignView, StepSpec

campaign_app = typer.Typer(
    help="Campaigns: create, preview, schedule, pause, resume, status.", no_args_is_help=True
)
_THROTTLE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|min|minute|h|hour|d|day)\s*$")
_PER_HOUR = {"s": 3600, "sec": 3600, "second": 3600, "min": 60, "minute": 60, "h": 1,
             "hour": 1, "d": 1 / 24, "day": 1 / 24}  # fmt: skip


def sending(settings: Settings) -> campaigns.Sending:
    """Where links point and who signs messages, from the settings."""
    base = settings.public_url or "http://localhost:8000"
    return campaigns.Sending(base.rstrip("/"), settings.sms_sender, settings.email_from)


def read_template(path: Path) -> dict[str, Any]:
    """A template file (YAML or JSON) as a mapping, or a precise error."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such template file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot be read ({exc})") from None
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    if not isinstance(document, dict):
        raise InvalidInputError(f"{path}: a template is a mapping with channel, fr/en parts")
    return document


def parse_control(text: str | None) -> float:
    """`10%` or `10` → 10.0."""
    if text is None:
        return 0.0
    try:
        return float(text.strip().rstrip("%"))
    except ValueError:
        raise InvalidInputError(f"--control {text!r}: give a share such as 10%") from None


def parse_throttle(text: str | None) -> int | None:
    """`500/h`, `10/min`, `2/s` → messages per hour."""
    if text is None:
        return None
    match = _THROTTLE.match(text)
    if not match or int(match.group(1)) < 1:
        raise InvalidInputError(f"--throttle {text!r}: give a rate such as 500/h or 10/min")
    return max(1, round(int(match.group(1)) * _PER_HOUR[match.group(2)]))


def parse_step(text: str) -> StepSpec:
    """`3d:followup.yaml` → a later step 3 days after the previous one."""
    delay, colon, file = text.partition(":")
    duration = parse_duration(delay.strip()) if colon else None
    if duration is None or not file:
        raise InvalidInputError(f"--then {text!r}: give DELAY:FILE such as 3d:followup.yaml")
    path = Path(file)
    return StepSpec(int(duration.total_seconds()), read_template(path), str(path))


def parse_at(text: str | None) -> datetime | None:
    """An ISO date-time with its offset."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"--at {text!r}: give an ISO date-time") from None
    if moment.tzinfo is None:
        raise InvalidInputError(f"--at {text!r}: add the offset, e.g. 2026-12-01T09:00+01:00")
    return moment


def _print(view: CampaignView) -> None:
    rows: dict[str, object] = {
        "key": view.key,
        "status": view.status,
        "channel": f"{view.channel} ({view.audience})",
        "target": view.target,
        "steps": view.steps,
        "control": f"{view.control_percent:g}%",
        "throttle": f"{view.throttle_per_hour}/h" if view.throttle_per_hour else "none",
        "link": view.link_url or "",
        "promo": view.promo or "",
        "scheduled at": view.scheduled_at.isoformat() if view.scheduled_at else "",
    }
    for key, value in view.prepared.items():
        rows[f"prepared: {key}"] = value
    for step, statuses in view.outbox.items():
        rows[f"step {step}"] = ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
    for reason, count in sorted(view.reasons.items()):
        rows[f"  {reason}"] = count
    stdout.print(key_value_table(f"Campaign {view.key}", rows))


def _emit(cli_json: bool, view: CampaignView) -> None:
    if cli_json:
        emit_json(asdict(view))
    else:
        _print(view)


@campaign_app.command("create")
def create(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="A short name for the campaign.")],
    template: Annotated[Path, typer.Option(help="The message template (YAML).")],
    target: Annotated[str | None, typer.Option(help="Criteria expression of recipients.")] = None,
    stage: Annotated[str | None, typer.Option(help="Or: every contact at this stage.")] = None,
    audience: Annotated[str, typer.Option(help="b2c (consumers) or b2b.")] = "b2c",
    link: Annotated[str | None, typer.Option(help="The offer's URL, tracked per contact.")] = None,
    promo: Annotated[str | None, typer.Option(help="Promo program of the codes.")] = None,
    control: Annotated[str | None, typer.Option(help="Hold out this share, e.g. 10%.")] = None,
    throttle: Annotated[str | None, typer.Option(help="At most this pace, e.g. 500/h.")] = None,
    then: Annotated[
        list[str] | None, typer.Option(help="A later step DELAY:FILE, e.g. 3d:f.yaml (repeat).")
    ] = None,
) -> None:
    """Create a draft campaign (checked: target, templates, link, promo program)."""
    cli = state(ctx)
    spec = CampaignSpec(
        key=key,
        template=read_template(template),
        template_source=str(template),
        target=target,
        stage=stage,
        audience=audience,
        link_url=link,
        promo=promo,
        control_percent=parse_control(control),
        throttle_per_hour=parse_throttle(throttle),
        steps=tuple(parse_step(t) for t in then or []),
    )
    with cli.unit_of_work() as session:
        view = campaigns.create(session, spec, utcnow())
    _emit(cli.json_output, view)


@campaign_app.command("preview")
def preview(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The campaign.")],
    contact: Annotated[str, typer.Option(help="Contact id, email, phone or external id.")],
) -> None:
    """Render the message for one contact and list who would be skipped and why."""
    cli = state(ctx)
    with cli.unit_of_work(dry_run=True) as session:
        found = lookup.find_contact(session, contact, cli.settings.default_region)
        result = campaigns.preview(session, key, found.id, sending(cli.settings), utcnow())
    if cli.json_output:
        emit_json(asdict(result))
        return
    decision = result.decision
    verdict = "would be sent" if decision["allowed"] else "would be skipped"
    stdout.print(plain(f"Contact {result.contact_id}: {verdict} — {decision['message']}"))
    if result.subject is not None:
        stdout.print(plain(f"Subject: {result.subject}"))
    stdout.print(plain(f"[{result.language}]\n{result.text}"))
    table = Table(title=f"Campaign {result.campaign}: who would get it")
    table.add_column("group")
    table.add_column("contacts", justify="right")
    table.add_row("recipients", str(result.recipients))
    table.add_row("control (held out)", str(result.control))
    for reason, count in sorted(result.skipped.items()):
        table.add_row(plain(f"skipped: {reason}"), str(count))
    stdout.print(table)
    if result.skipped_examples:
        examples = ", ".join(f"{s.contact_id} ({s.reason})" for s in result.skipped_examples)
        stdout.print(plain(f"e.g. skipped: {examples}"))


@campaign_app.command("schedule")
def schedule(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The campaign.")],
    at: Annotated[str | None, typer.Option(help="Start at (ISO date-time; default now).")] = None,
) -> None:
    """Decide the recipients now (consent gate, control group, pace) and queue their messages."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        view = campaigns.schedule(session, key, at=parse_at(at), now=utcnow())
    _emit(cli.json_output, view)


@campaign_app.command("pause")
def pause(ctx: typer.Context, key: Annotated[str, typer.Argument(help="The campaign.")]) -> None:
    """Stop sending (messages in flight finish; nothing new leaves)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        view = campaigns.set_paused(session, key, paused=True, now=utcnow())
    _emit(cli.json_output, view)


@campaign_app.command("resume")
def resume(ctx: typer.Context, key: Annotated[str, typer.Argument(help="The campaign.")]) -> None:
    """Send again after a pause."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        view = campaigns.set_paused(session, key, paused=False, now=utcnow())
    _emit(cli.json_output, view)


@campaign_app.command("status")
def status(ctx: typer.Context, key: Annotated[str, typer.Argument(help="The campaign.")]) -> None:
    """The campaign's messages by step and status, skips and failures by reason, history."""
    cli = state(ctx)
    with cli.unit_of_work(dry_run=True) as session:
        view = campaigns.status(session, key)
    _emit(cli.json_output, view)


@campaign_app.command("list")
def list_campaigns(ctx: typer.Context) -> None:
    """Every campaign and its status."""
    cli = state(ctx)
    with cli.unit_of_work(dry_run=True) as session:
        views = campaigns.list_all(session)
    if cli.json_output:
        emit_json({"campaigns": [asdict(v) for v in views]})
        return
    table = Table(title="Campaigns")
    for column in ("key", "status", "channel", "target", "sent"):
        table.add_column(column)
    for view in views:
        sent = sum(statuses.get("sent", 0) for statuses in view.outbox.values())
        table.add_row(plain(view.key), view.status, view.channel, plain(view.target), str(sent))
    stdout.print(table)
