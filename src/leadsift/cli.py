"""The `leadsift` command: global options, the command groups, and one-line errors."""

from __future__ import annotations

import gc
import os
import sys
from typing import Annotated

import typer

from leadsift.access.cli import apikey_app
from leadsift.agents import service as agents
from leadsift.agents.cli import register as register_agents
from leadsift.agents.optout_cli import optout_app
from leadsift.analytics.cli import keep_rollups
from leadsift.analytics.cli import register as register_analytics
from leadsift.backup.cli import register as register_backup
from leadsift.config import Settings
from leadsift.contacts.cli import after_import, contacts_app, import_app
from leadsift.demo.cli import register as register_demo
from leadsift.engagement.cli import register as register_engagement
from leadsift.engagement.tracking_cli import register as register_tracking
from leadsift.errors import LeadsiftError
from leadsift.jobs.cli import register as register_jobs
from leadsift.jobs.runner import run_pending
from leadsift.kit.cli import CliState, emit_json, state, stderr, stdout
from leadsift.migrations import current_revision
from leadsift.outreach.audience_cli import audience_app
from leadsift.outreach.cli import register as register_outreach
from leadsift.outreach.cli import while_working
from leadsift.qualification.cli import after_moves
from leadsift.qualification.cli import register as register_qualification
from leadsift.scoring import service as scoring
from leadsift.scoring.cli import register as register_scoring
from leadsift.segments.cli import register as register_segments
from leadsift.segments.saved_cli import register as register_saved_segments
from leadsift.webhooks.cli import keep_webhooks
from leadsift.webhooks.cli import register as register_webhooks

app = typer.Typer(
    name="leadsift",
    help="Sift contacts into leads, qualified prospects and customers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(contacts_app, name="contacts")
app.add_typer(db_app, name="db")
app.add_typer(apikey_app, name="apikey")
app.add_typer(optout_app, name="optout")
app.add_typer(audience_app, name="audience")
register_segments(contacts_app)
register_qualification(app, contacts_app)
register_engagement(app, import_app, agents.after_events)
register_scoring(app)
after_import(scoring.score_contacts)
register_demo(app)
register_tracking(app)
register_backup(app)
register_outreach(app)
register_agents(app)
register_analytics(app)
while_working(keep_rollups)
register_webhooks(app)
while_working(keep_webhooks)
register_jobs(app)
register_saved_segments(app)
while_working(run_pending)
after_moves(agents.assign_new)


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL (default: $LEADSIFT_DATABASE_URL, else sqlite:///./leadsift.db).",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print exactly one JSON document on stdout.")
    ] = False,
) -> None:
    """leadsift [--db URL] [--json] COMMAND …"""
    settings = Settings()
    ctx.obj = CliState(db or settings.database_url, json_output, settings)
    ctx.call_on_close(ctx.obj.close)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the database schema (also done automatically on first use)."""
    cli = state(ctx)
    database = cli.database()
    with database.engine.connect() as conn:
        revision = current_revision(conn)
    if cli.json_output:
        emit_json({"database": database.safe_url, "revision": revision})
    else:
        stdout.print(f"{database.safe_url} is at revision {revision}")


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Run the web app, the REST API and the tracking endpoints (one process; run several
    behind an HTTPS proxy: the session cookie is Secure)."""
    import uvicorn  # noqa: PLC0415 — only the server needs it

    from leadsift.api import create_app  # noqa: PLC0415 — keeps other commands' start-up light

    cli = state(ctx)
    settings = cli.settings.model_copy(update={"database_url": cli.db_url})
    cli.database()  # fail fast with a one-line message when the database cannot be opened
    if not cli.json_output:
        stderr.print(
            f"leadsift on http://{host}:{port}/ — the web app (sign in with `leadsift user "
            f"password NAME`), the REST API under /api/v1, its description at /openapi.json",
            markup=False,
        )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


def _wants_json(argv: list[str]) -> bool:
    # The flag sits before the command; everything after it belongs to the command.
    return "--json" in argv


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and map errors to exit codes: 1 user error, 2 usage error (ARGV None: the
    process's own arguments, i.e. run as the `leadsift` program)."""
    if argv is not None:
        return _main(argv)
    # Run as the program: what the imports made (modules, classes, compiled grammars, ORM
    # mappings) lives until the process ends, so it is kept out of the collector's full passes
    # during the command and out of the interpreter's last collection at exit, which walked
    # every object of the libraries imported (0.35 s after scikit-learn's import on the 2-core
    # machine). Not when called in-process (tests): their garbage would be frozen for good.
    gc.freeze()
    try:
        return _main(sys.argv[1:])
    finally:
        gc.freeze()


def _main(argv: list[str]) -> int:
    args = list(argv)
    try:
        returned = app(args=args, prog_name="leadsift", standalone_mode=False)
    except LeadsiftError as exc:
        return _fail(exc.code, exc.message, args)
    except KeyboardInterrupt:
        return _fail("interrupted", "interrupted; nothing was written", args, status=130)
    except Exception as exc:
        return _click_or_internal(exc, args)
    return returned if isinstance(returned, int) else 0


def _click_or_internal(exc: Exception, args: list[str]) -> int:
    # Typer may vendor its own click: recognise its exceptions by shape, not by class.
    if type(exc).__name__ == "Abort":
        return _fail("interrupted", "interrupted; nothing was written", args, status=130)
    show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
    if callable(show) and isinstance(exit_code, int):
        show()
        return exit_code
    if os.environ.get("LEADSIFT_DEBUG"):
        raise exc
    text = _without_values(exc)
    message = f"unexpected {type(exc).__name__}: {text} (set LEADSIFT_DEBUG=1 for details)"
    return _fail("internal", " ".join(message.split()), args)


def _without_values(exc: Exception) -> str:
    """The error's text without the SQL statement and its values (emails, phones: personal data
    must not reach logs); for a database error, the first line of the driver's message."""
    original = getattr(exc, "orig", None)
    if original is not None:
        lines = str(original).strip().splitlines()
        return f"{type(original).__name__}: {lines[0] if lines else ''}"
    return str(exc)


def _fail(code: str, message: str, args: list[str], status: int = 1) -> int:
    stderr.print(f"error: {message}", markup=False, highlight=False)
    if _wants_json(args):
        emit_json({"error": {"code": code, "message": message}})
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
