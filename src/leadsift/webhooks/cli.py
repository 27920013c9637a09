"""`leadsift webhook add|list|disable|deliveries|run|test`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from leadsift.db import Database
from leadsift.kit.cli import emit_json, key_value_table, plain, state, stderr, stdout
from leadsift.kit.clock import utcnow
from leadsift.webhooks import delivery, service
from leadsift.webhooks.schemas import DeliveryView, EndpointView, RunSummary

_MAX_ID = 2**63 - 1
webhook_app = typer.Typer(
    help="Outgoing webhooks: signed events POSTed to your systems.", no_args_is_help=True
)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else ""


def _print_endpoint(title: str, endpoint: EndpointView) -> None:
    rows = {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": ", ".join(endpoint.events),
        "threshold": endpoint.threshold or "",
        "description": endpoint.description or "",
        "disabled": _when(endpoint.disabled_at),
    }
    stdout.print(key_value_table(title, rows))


@webhook_app.command("add")
def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Where to POST, e.g. https://crm.example.com/hook.")],
    events: Annotated[
        str,
        typer.Option(
            help="Comma-separated: stage_changed, qualified, customer, score_crossed, "
            "code_redeemed."
        ),
    ],
    threshold: Annotated[
        str | None,
        typer.Option(help="For score_crossed: e.g. 'interest>=60' or 'probability>=0.3'."),
    ] = None,
    description: Annotated[str | None, typer.Option(help="What receives it.")] = None,
) -> None:
    """Add an endpoint and print its signing secret once (events from now on are sent)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        created = service.add_endpoint(
            session, url, events, now=utcnow(), threshold=threshold, description=description
        )
    if cli.json_output:
        emit_json(created)
        return
    stdout.print(created.secret, markup=False, highlight=False)
    stderr.print(
        f"webhook {created.id} → {created.url} ({', '.join(created.events)}): store the secret "
        "above now, it is not shown again. Check each delivery's Leadsift-Signature with it.",
        markup=False,
    )


@webhook_app.command("list")
def list_endpoints(ctx: typer.Context) -> None:
    """List endpoints (never their secrets)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        endpoints = service.list_endpoints(session)
    if cli.json_output:
        emit_json({"endpoints": endpoints})
        return
    table = Table("id", "url", "events", "threshold", "description", "created", "disabled")
    for endpoint in endpoints:
        table.add_row(
            str(endpoint.id), plain(endpoint.url), ", ".join(endpoint.events),
            endpoint.threshold or "", plain(endpoint.description), _when(endpoint.created_at),
            _when(endpoint.disabled_at),
        )  # fmt: skip
    stdout.print(table)


@webhook_app.command("disable")
def disable(
    ctx: typer.Context,
    endpoint_id: Annotated[int, typer.Argument(metavar="ID", min=1, max=_MAX_ID)],
) -> None:
    """Stop sending to an endpoint (what waits for it is given up)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        endpoint = service.disable_endpoint(session, endpoint_id, now=utcnow())
    if cli.json_output:
        emit_json(endpoint)
    else:
        _print_endpoint(f"Disabled webhook {endpoint.id}", endpoint)


def _print_deliveries(deliveries: list[DeliveryView]) -> None:
    table = Table("id", "endpoint", "event", "event id", "status", "attempts", "last answer",
                  "next attempt", "delivered")  # fmt: skip
    for row in deliveries:
        waiting = row.status in ("pending", "failed")
        answer = row.last_error or (str(row.last_status_code) if row.last_status_code else "")
        table.add_row(
            str(row.id), str(row.endpoint_id), row.event_type, row.event_key, row.status,
            str(row.attempts), plain(answer), _when(row.next_attempt_at) if waiting else "",
            _when(row.delivered_at),
        )  # fmt: skip
    stdout.print(table)


@webhook_app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    endpoint: Annotated[
        int | None, typer.Option(min=1, max=_MAX_ID, help="Only this endpoint's.")
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="pending, failed, delivered or gave_up.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
) -> None:
    """The latest deliveries, newest first, with their last attempt."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = service.list_deliveries(session, endpoint_id=endpoint, status=status, limit=limit)
    if cli.json_output:
        emit_json({"deliveries": found})
    else:
        _print_deliveries(found)


def _print_summary(title: str, summary: RunSummary) -> None:
    rows: dict[str, object] = {f"new: {kind}": n for kind, n in sorted(summary.derived.items())}
    rows |= {"delivered": summary.delivered, "failed (retried later)": summary.failed,
             "gave up": summary.gave_up, "postponed": summary.postponed}  # fmt: skip
    stdout.print(key_value_table(title, rows))


@webhook_app.command("run")
def run(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Send at most this many.")] = 500,
) -> None:
    """One pass by hand: derive deliveries from what changed, then send those due."""
    cli = state(ctx)
    summary = delivery.run_due(cli.database(), utcnow(), limit)
    if cli.json_output:
        emit_json(summary)
    else:
        _print_summary("Webhooks", summary)


@webhook_app.command("test")
def test(
    ctx: typer.Context,
    endpoint_id: Annotated[int, typer.Argument(metavar="ID", min=1, max=_MAX_ID)],
) -> None:
    """Send a `ping` event to an endpoint now and show how it answered."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        ping = service.add_ping(session, endpoint_id, utcnow())
    delivery.send_one(cli.database(), ping, utcnow())
    with cli.unit_of_work() as session:
        sent = service.get_delivery(session, ping)
    if cli.json_output:
        emit_json(sent)
    else:
        _print_deliveries([sent])


def keep_webhooks(database: Database, now: datetime) -> None:
    """Derive and send due webhooks (the worker's upkeep)."""
    delivery.run_due(database, now)


def register(app: typer.Typer) -> None:
    """Add `webhook` to the root CLI."""
    app.add_typer(webhook_app, name="webhook")
