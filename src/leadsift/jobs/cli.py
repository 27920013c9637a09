"""`leadsift jobs run|list|show|cancel`: the jobs queued through the API, by hand."""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Annotated, Any

import typer
from rich.table import Table

from leadsift.access.schemas import COMMAND_LINE
from leadsift.jobs import runner, service
from leadsift.jobs.schemas import JobStatus, JobView
from leadsift.kit.cli import emit_json, key_value_table, plain, state, stdout
from leadsift.kit.clock import utcnow

jobs_app = typer.Typer(
    help="Long jobs queued through the API (imports, scoring, qualification, training).",
    no_args_is_help=True,
)


def _outcome(job: JobView) -> str:
    if job.error is not None:
        return f"{job.status.value}: {job.error.code}: {job.error.message}"
    return job.status.value


@jobs_app.command("run")
def jobs_run(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option(help="Run the jobs queued now, then exit.")] = False,
    poll: Annotated[
        float, typer.Option(min=0.1, help="Seconds between looks at an empty queue.")
    ] = 2.0,
) -> None:
    """Run queued jobs one after another, oldest first (`leadsift worker` also runs them)."""
    cli = state(ctx)
    database = cli.database()
    stop = {"asked": False}

    def ask_stop(signum: int, frame: FrameType | None) -> None:
        stop["asked"] = True

    if not once:
        signal.signal(signal.SIGTERM, ask_stop)
    runner.purge_files(database, utcnow())
    ran: list[JobView] = []
    try:
        while not stop["asked"]:
            job_id = runner.run_one(database, utcnow())
            if job_id is None:
                if once:
                    break
                time.sleep(poll)
                continue
            with database.unit_of_work(read_only=True) as session:
                ran.append(service.view(service.visible(session, COMMAND_LINE, job_id)))
            if not cli.json_output:
                stdout.print(plain(f"job {job_id} ({ran[-1].kind.value}): {_outcome(ran[-1])}"))
    except KeyboardInterrupt:
        pass  # the job under way has ended or rolled back; its worker is gone, so it is requeued
    if cli.json_output:
        emit_json({"jobs": [job.model_dump(mode="json") for job in ran]})
    elif not ran:
        stdout.print("no job was queued")


@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context,
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Jobs per page.")] = 50,
    after: Annotated[str | None, typer.Option(help="The previous page's `next`.")] = None,
) -> None:
    """Jobs, newest first."""
    cli = state(ctx)
    with cli.database().unit_of_work(read_only=True) as session:
        page = service.list_jobs(session, COMMAND_LINE, status=status, after=after, limit=limit)
    if cli.json_output:
        emit_json(page)
        return
    table = Table("id")
    for name in ("kind", "status", "by", "created"):
        table.add_column(name, no_wrap=True)
    table.add_column("progress / error")
    for job in page.items:
        progress = f"{job.progress.done:,} / {job.progress.total:,}" if job.progress else ""
        table.add_row(
            str(job.id),
            job.kind.value,
            job.status.value,
            plain(job.created_by),
            job.created_at.strftime("%Y-%m-%d %H:%M"),
            plain(f"{job.error.code}: {job.error.message}" if job.error else progress),
        )
    stdout.print(table)
    if page.next is not None:
        stdout.print(plain(f"more: leadsift jobs list --after {page.next}"))


@jobs_app.command("show")
def jobs_show(ctx: typer.Context, job_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """One job: its options, where it stands, its result or error."""
    cli = state(ctx)
    with cli.database().unit_of_work(read_only=True) as session:
        job = service.visible(session, COMMAND_LINE, job_id)
        shown, report = service.view(job), service.rejects_file(job)
    if cli.json_output:
        emit_json(
            {**shown.model_dump(mode="json"), "rejects_file": str(report) if report else None}
        )
        return
    rows: dict[str, Any] = {
        "kind": shown.kind.value,
        "status": _outcome(shown),
        "by": shown.created_by,
        "attempts": shown.attempts,
        "created": shown.created_at.isoformat(timespec="seconds"),
        "started": shown.started_at.isoformat(timespec="seconds") if shown.started_at else "",
        "finished": shown.finished_at.isoformat(timespec="seconds") if shown.finished_at else "",
    }
    if shown.progress is not None:
        rows["progress"] = f"{shown.progress.done:,} / {shown.progress.total:,} bytes"
    rows.update({f"option {k}": v for k, v in shown.parameters.items()})
    rows.update({f"result {k}": v for k, v in (shown.result or {}).items()})
    rows.update({f"warning {n}": w for n, w in enumerate(shown.warnings, 1)})
    if report is not None:
        rows["rejected rows"] = str(report)
    stdout.print(key_value_table(f"Job {shown.id}", rows))


@jobs_app.command("cancel")
def jobs_cancel(ctx: typer.Context, job_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Cancel a queued job (a running one ends by itself)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        job = service.cancel(session, COMMAND_LINE, job_id, utcnow())
        shown, parameters = service.view(job), dict(job.parameters)
    service.remove_upload(parameters)
    if cli.json_output:
        emit_json(shown)
    else:
        stdout.print(f"job {job_id} cancelled")


def register(app: typer.Typer) -> None:
    """Add `jobs` to the root CLI."""
    app.add_typer(jobs_app, name="jobs")
