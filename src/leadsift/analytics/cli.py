"""`leadsift report funnel|reasons|roi|lift|…` and `leadsift cost add|import|list`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from leadsift.analytics import (
    agent_days,
    attribution_report,
    breakdowns,
    costs,
    funnel,
    rendering,
    roi,
    rollups,
)
from leadsift.analytics.lift_report import lift_report
from leadsift.analytics.rendering import Report
from leadsift.db import Database
from leadsift.errors import InvalidInputError
from leadsift.kit.cli import (
    CliState,
    emit_json,
    key_value_table,
    plain,
    print_rows,
    state,
    stdout,
    write_atomically,
)
from leadsift.kit.clock import utcnow
from leadsift.kit.durations import parse_duration

report_app = typer.Typer(help="Reports: funnel, reasons, ROI, lift, …", no_args_is_help=True)

By = Annotated[str, typer.Option("--by", help="Split by this dimension.")]
Since = Annotated[str | None, typer.Option("--from", help="From this date (YYYY-MM-DD).")]
Until = Annotated[str | None, typer.Option("--to", help="Up to this date, excluded.")]
Format = Annotated[str, typer.Option("--format", help="table, json, csv, html or png.")]
Out = Annotated[Path | None, typer.Option("--out", help="Write to this file.")]
DEFAULT_DAYS = 365


def day(text: str | None, option: str) -> datetime | None:
    """A date (YYYY-MM-DD) as midnight UTC."""
    if text is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(text.strip()), time(0), tzinfo=UTC)
    except ValueError:
        raise InvalidInputError(f"{option} {text!r}: give a date such as 2026-11-01") from None


def period(since: str | None, until: str | None) -> tuple[datetime, datetime]:
    """The report's period: --from/--to, by default the last 365 days up to tomorrow."""
    end = day(until, "--to") or datetime.combine(
        utcnow().date() + timedelta(days=1), time(0), tzinfo=UTC
    )
    start = day(since, "--from") or end - timedelta(days=DEFAULT_DAYS)
    return start, end


def _check_format(fmt: str, out: Path | None) -> str:
    fmt = fmt.strip().lower()
    if fmt not in rendering.FORMATS:
        raise InvalidInputError(f"--format {fmt!r}: choose one of {', '.join(rendering.FORMATS)}")
    if fmt == "png" and out is None:
        raise InvalidInputError("--format png needs --out FILE.png")
    if out is not None and not out.parent.is_dir():
        raise InvalidInputError(f"cannot write {out}: folder {out.parent} does not exist")
    return fmt


def emit(cli: CliState, report: Report, fmt: str, out: Path | None) -> None:
    """Show or write a report in FORMAT (the global --json means json)."""
    fmt = "json" if cli.json_output and fmt == "table" else fmt
    # matplotlib loads only for a chart: a quarter of a second off every command's start.
    from leadsift.analytics import charts  # noqa: PLC0415

    if fmt == "png":
        assert out is not None  # noqa: S101 — checked by _check_format
        data = charts.chart_png(report)
        temp = out.with_name(f".{out.name}.tmp")
        temp.write_bytes(data)
        temp.replace(out)
        stdout.print(f"wrote {out}", markup=False) if not cli.json_output else None
        return
    if fmt == "table" and out is None:
        _print_table(report)
        return
    text = {
        "table": lambda: "\n".join("\t".join(r) for r in rendering.table_rows(report)),
        "json": lambda: rendering.render_json(report),
        "csv": lambda: rendering.render_csv(report),
        "html": lambda: rendering.render_html(
            report, charts.chart_svg(report) if report.chart and report.rows else None
        ),
    }[fmt]()
    if out is None:
        stdout.print(text, markup=False, highlight=False, soft_wrap=True)
    else:
        write_atomically(out, text)


def _print_table(report: Report) -> None:
    print_rows(
        rendering.table_headers(report),
        ([plain(cell) for cell in row] for row in rendering.table_rows(report)),
        report.title,
    )
    for note in report.notes:
        stdout.print(note, markup=False)


def _run(
    ctx: typer.Context, fmt: str, out: Path | None, build: Callable[[Session], Report]
) -> None:
    cli = state(ctx)
    fmt = _check_format(fmt, out)
    with cli.unit_of_work() as session:
        report = build(session)
    emit(cli, report, fmt, out)


@report_app.command("funnel")
def report_funnel(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    by: By = "all",
    since: Since = None,
    until: Until = None,
    fmt: Format = "table",
    out: Out = None,
) -> None:
    """Contacts → leads → qualified → customers: step and overall rates, time to convert."""
    start, end = period(since, until)
    _run(
        ctx, fmt, out,
        lambda s: funnel.funnel(s, by=by, since=start, until=end, now=utcnow()),
    )  # fmt: skip


@report_app.command("stage-times")
def report_stage_times(
    ctx: typer.Context, since: Since = None, until: Until = None, fmt: Format = "table",
    out: Out = None,
) -> None:  # fmt: skip
    """Time in stage: how long entry → lead, lead → qualified and qualified → customer took
    (median, p90)."""
    start, end = period(since, until)
    _run(ctx, fmt, out, lambda s: funnel.time_in_stage(s, since=start, until=end, now=utcnow()))


@report_app.command("reasons")
def report_reasons(
    ctx: typer.Context, since: Since = None, until: Until = None, fmt: Format = "table",
    out: Out = None,
) -> None:  # fmt: skip
    """Unqualified and lost contacts by reason."""
    start, end = period(since, until)
    _run(ctx, fmt, out, lambda s: funnel.reasons(s, since=start, until=end, now=utcnow()))


@report_app.command("lift")
def report_lift(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    campaign: Annotated[str, typer.Option(help="The campaign (with a control group).")],
    window: Annotated[str, typer.Option(help="Count what happened this long after.")] = "14d",
    by: Annotated[str | None, typer.Option("--by", help="source, region, attrs.KEY")] = None,
    fmt: Format = "table",
    out: Out = None,
) -> None:
    """Treated against control: conversion, visits, revenue per contact, with 95 % intervals;
    segments where contacting lowers results are flagged "do not contact"."""
    span = parse_duration(window)
    if not span:
        raise InvalidInputError(f"--window {window!r}: give a duration such as 14d")
    _run(ctx, fmt, out, lambda s: lift_report(s, campaign, window=span, by=by))


@report_app.command("roi")
def report_roi(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    by: Annotated[str, typer.Option("--by", help="campaign, channel or source.")] = "campaign",
    since: Since = None,
    until: Until = None,
    fmt: Format = "table",
    out: Out = None,
) -> None:
    """Per campaign, channel or source: cost, messages, leads, qualified, customers, revenue,
    cost per step, ROI and return on ad spend (all time unless --from/--to)."""
    start, end = day(since, "--from"), day(until, "--to")
    _run(ctx, fmt, out, lambda s: roi.roi(s, now=utcnow(), by=by, since=start, until=end))


@report_app.command("attribution")
def report_attribution(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    since: Since = None,
    until: Until = None,
    contact: Annotated[
        int | None, typer.Option(help="One contact: each conversion's credit per touch.")
    ] = None,
    fmt: Format = "table",
    out: Out = None,
) -> None:
    """Conversions and revenue credited to touches under first touch, last touch, linear,
    position-based (40/20/40) and time-decay models, side by side."""
    start, end = period(since, until)
    if contact is not None:
        _run(ctx, fmt, out, lambda s: attribution_report.contact_credits(s, contact, utcnow()))
        return
    _run(
        ctx, fmt, out,
        lambda s: attribution_report.attribution(s, since=start, until=end, now=utcnow()),
    )  # fmt: skip


@report_app.command("campaigns")
def report_campaigns(ctx: typer.Context, fmt: Format = "table", out: Out = None) -> None:
    """Per campaign: sent, opened, clicked, replies, unsubscribes, bounces, purchases, revenue,
    cost."""
    _run(ctx, fmt, out, lambda s: breakdowns.campaigns(s, now=utcnow()))


@report_app.command("sources")
def report_sources(
    ctx: typer.Context, since: Since = None, until: Until = None, fmt: Format = "table",
    out: Out = None,
) -> None:  # fmt: skip
    """The funnel by source, with cost per lead and per customer where costs name the source."""
    start, end = period(since, until)
    _run(ctx, fmt, out, lambda s: breakdowns.sources(s, since=start, until=end, now=utcnow()))


@report_app.command("agents")
def report_agents(
    ctx: typer.Context, since: Since = None, until: Until = None, fmt: Format = "table",
    out: Out = None,
) -> None:  # fmt: skip
    """Per agent, for prospects qualified in the period: touched, calls, won, lost, win rate,
    revenue (speed to lead: `leadsift speed report`)."""
    start, end = period(since, until)
    _run(ctx, fmt, out, lambda s: breakdowns.agents(s, since=start, until=end, now=utcnow()))


@report_app.command("interest-no-purchase")
def report_interest_no_purchase(
    ctx: typer.Context,
    threshold: Annotated[float, typer.Option(help="At least this much interest.")] = 10.0,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    fmt: Format = "table",
    out: Out = None,
) -> None:
    """Who showed interest but did not buy, by last activity (for remarketing)."""

    def build(session: Session) -> Report:
        return breakdowns.interest_no_purchase(
            session, threshold=threshold, now=utcnow(), limit=limit
        )

    _run(ctx, fmt, out, build)


cost_app = typer.Typer(help="Costs of campaigns.", no_args_is_help=True)


@cost_app.command("add")
def cost_add(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    campaign: Annotated[str, typer.Option(help="The campaign (leadsift's or a UTM campaign).")],
    amount: Annotated[float, typer.Option(help="What it cost (above 0).")],
    on: Annotated[str | None, typer.Option("--date", help="When (YYYY-MM-DD; today).")] = None,
    channel: Annotated[str | None, typer.Option(help="email, sms, ads, phone, …")] = None,
    source: Annotated[str | None, typer.Option(help="The source it paid (e.g. google).")] = None,
) -> None:
    """Record a cost of a campaign."""
    cli = state(ctx)
    spent = day(on, "--date")
    with cli.unit_of_work() as session:
        cost = costs.add_cost(
            session, campaign, amount, spent_on=(spent or utcnow()).date(), now=utcnow(),
            channel=channel, source=source,
        )  # fmt: skip
    if cli.json_output:
        emit_json(cost)
    else:
        stdout.print(f"cost {cost.id}: {cost.amount:.2f} for {cost.campaign} on {cost.spent_on}")


@cost_app.command("import")
def cost_import(ctx: typer.Context, file: Annotated[Path, typer.Argument()]) -> None:
    """Import costs from a CSV file (date,campaign,amount[,channel,source]): all or nothing;
    importing the same file again adds nothing."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        done = costs.import_costs(session, file, now=utcnow())
    if cli.json_output:
        emit_json(done)
    else:
        stdout.print(key_value_table("Costs imported", done))


@cost_app.command("list")
def cost_list(ctx: typer.Context, campaign: Annotated[str | None, typer.Option()] = None) -> None:
    """Recorded costs, newest first."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        found = costs.list_costs(session, campaign)
    if cli.json_output:
        emit_json({"costs": found})
        return
    table = Table("id", "date", "campaign", "amount", "channel", "source")
    for cost in found:
        table.add_row(
            str(cost.id), str(cost.spent_on), cost.campaign, f"{cost.amount:.2f}",
            cost.channel or "", cost.source or "",
        )  # fmt: skip
    stdout.print(table)


def keep_rollups(database: Database, now: datetime) -> None:
    """Bring the analytics rollups up to date (the worker's upkeep)."""
    with database.unit_of_work() as session:
        rollups.refresh(session, now)
        attribution_report.refresh(session, now)
        agent_days.refresh(session, now)


def register(app: typer.Typer) -> None:
    """Add `report` and `cost` to the root CLI."""
    app.add_typer(report_app, name="report")
    app.add_typer(cost_app, name="cost")
