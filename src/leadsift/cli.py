"""The `leadsift` command: global options, the command groups, and one-line errors.

The domains' commands are registered when a command line names them (`_LazyGroup`): a
command imports only the domains it needs (`leadsift model train` does not load outreach,
agents or analytics), and `--help` loads them all. The hooks a lower domain runs (after an
import, after stage moves, while the worker works) are plugged into its module whenever that
module has been loaded, and import what they call on their first call.
"""

from __future__ import annotations

import difflib
import gc
import importlib
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from leadsift.config import Settings
from leadsift.errors import LeadsiftError
from leadsift.kit.cli import CliState, emit_json, state, stderr, stdout
from leadsift.migrations import current_revision


def _later(module: str, name: str) -> Callable[..., Any]:
    """A hook that imports MODULE's NAME on its first call (start-up pays nothing for it)."""

    def hook(*args: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args)

    hook.__qualname__ = f"{module}.{name}"
    return hook


def _wire_contacts(module: Any) -> None:
    module.after_import(_later("leadsift.scoring.service", "score_contacts"))


def _wire_qualification(module: Any) -> None:
    module.after_moves(_later("leadsift.agents.service", "assign_new"))


def _wire_outreach(module: Any) -> None:
    module.while_working(_later("leadsift.analytics.cli", "keep_rollups"))
    module.while_working(_later("leadsift.webhooks.cli", "keep_webhooks"))
    module.while_working(_later("leadsift.jobs.runner", "run_pending"))


# Modules holding hooks, and what the root plugs into each (once, when the module is loaded).
_HOOKS: dict[str, Callable[[Any], None]] = {
    "leadsift.contacts.cli": _wire_contacts,
    "leadsift.qualification.cli": _wire_qualification,
    "leadsift.outreach.cli": _wire_outreach,
}
_wired: set[str] = set()


def _wire_hooks() -> None:
    """Plug the hooks into every hook-holding module loaded so far (each once)."""
    for name, wire in _HOOKS.items():
        if name in sys.modules and name not in _wired:
            _wired.add(name)
            wire(sys.modules[name])


def _contacts() -> None:
    from leadsift.contacts.cli import contacts_app, import_app  # noqa: PLC0415 — on demand

    app.add_typer(import_app, name="import")
    app.add_typer(contacts_app, name="contacts")


def _segments() -> None:
    from leadsift.contacts.cli import contacts_app  # noqa: PLC0415 — on demand
    from leadsift.segments.cli import register  # noqa: PLC0415

    register(contacts_app)


def _qualification() -> None:
    from leadsift.contacts.cli import contacts_app  # noqa: PLC0415 — on demand
    from leadsift.qualification.cli import register  # noqa: PLC0415

    register(app, contacts_app)


def _engagement() -> None:
    from leadsift.contacts.cli import import_app  # noqa: PLC0415 — on demand
    from leadsift.engagement.cli import register  # noqa: PLC0415

    register(app, import_app, _later("leadsift.agents.service", "after_events"))


def _typer(module: str, attribute: str, name: str) -> Callable[[], None]:
    """A step adding MODULE's ready-made command group ATTRIBUTE as NAME."""

    def step() -> None:
        app.add_typer(getattr(importlib.import_module(module), attribute), name=name)

    return step


def _registered(module: str) -> Callable[[], None]:
    """A step running MODULE's `register(app)`."""

    def step() -> None:
        importlib.import_module(module).register(app)

    return step


_SCORING = _registered("leadsift.scoring.cli")
_OUTREACH = _registered("leadsift.outreach.cli")
_AGENTS = _registered("leadsift.agents.cli")
# Each top-level command, in the order `--help` lists them, and the steps that register it
# complete (a group filled by several domains lists them all).
_STEPS: dict[str, tuple[Callable[[], None], ...]] = {
    "qualify": (_contacts, _qualification),
    "score": (_contacts, _qualification),
    "explain": (_SCORING,),
    "demo": (_registered("leadsift.demo.cli"),),
    "backup": (_registered("leadsift.backup.cli"),),
    "restore": (_registered("leadsift.backup.cli"),),
    "worker": (_OUTREACH,),
    "assign": (_AGENTS,),
    "audit": (_AGENTS,),
    "serve": (),
    "import": (_contacts, _engagement),
    "contacts": (_contacts, _segments, _qualification),
    "db": (),
    "apikey": (_typer("leadsift.access.cli", "apikey_app", "apikey"),),
    "optout": (_typer("leadsift.agents.optout_cli", "optout_app", "optout"),),
    "audience": (_typer("leadsift.outreach.audience_cli", "audience_app", "audience"),),
    "playbook": (_contacts, _qualification),
    "events": (_contacts, _engagement),
    "model": (_SCORING,),
    "track": (_registered("leadsift.engagement.tracking_cli"),),
    "consent": (_OUTREACH,),
    "campaign": (_OUTREACH,),
    "outbox": (_OUTREACH,),
    "promo": (_OUTREACH,),
    "gdpr": (_OUTREACH,),
    "user": (_AGENTS,),
    "team": (_AGENTS,),
    "calls": (_AGENTS,),
    "speed": (_AGENTS,),
    "report": (_registered("leadsift.analytics.cli"),),
    "cost": (_registered("leadsift.analytics.cli"),),
    "webhook": (_registered("leadsift.webhooks.cli"),),
    "jobs": (_registered("leadsift.jobs.cli"),),
    "segment": (_registered("leadsift.segments.saved_cli"),),
}
_done: set[Callable[[], None]] = set()


def load(name: str) -> bool:
    """Register the command NAME (and what shares its steps), once per process; whether this
    registered anything."""
    steps = [step for step in _STEPS.get(name, ()) if step not in _done]
    for step in steps:
        _done.add(step)
        step()
    _wire_hooks()
    return bool(steps)


def load_all() -> None:
    """Register every command (what `--help` lists)."""
    for name in _STEPS:
        load(name)


class _LazyGroup(TyperGroup):
    """The root group: a command's domains are registered when it is named."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """As Typer does, with "Did you mean …?" chosen among every command, loaded or not."""
        try:
            return super().resolve_command(ctx, args)
        except Exception as problem:  # Typer's (possibly vendored) click UsageError
            message = getattr(problem, "message", None)
            if isinstance(message, str) and args and "Did you mean" not in message:
                matches = difflib.get_close_matches(args[0], list(_STEPS))
                if matches:
                    suggestions = ", ".join(repr(match) for match in matches)
                    # The message attribute of whichever click's UsageError this is.
                    problem.__dict__["message"] = (
                        f"{message.rstrip('.')}. Did you mean {suggestions}?"
                    )
            raise

    # Typer may vendor its own click: its Context and Command types, whichever they are.
    def list_commands(self, ctx: Any) -> list[str]:
        """Every command, without loading any."""
        return list(_STEPS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command NAME, its domains registered first if they are not yet."""
        # Built again when steps ran now: a group registered by an earlier command's steps
        # (`contacts` by `import`'s) may have been built before its other domains added theirs.
        if load(cmd_name) or cmd_name not in self.commands:
            built = _built(cmd_name)
            if built is not None:
                self.add_command(built, cmd_name)
        return super().get_command(ctx, cmd_name)


def _built(name: str) -> Any:
    """The click command of the root's registered command or group NAME (only that one built:
    building the whole root for each name made `--help` three times slower)."""
    alone = typer.Typer()
    alone.registered_commands = [
        info
        for info in app.registered_commands
        if (info.name or typer.main.get_command_name(getattr(info.callback, "__name__", "")))
        == name
    ]
    alone.registered_groups = [info for info in app.registered_groups if info.name == name]
    return typer.main.get_group(alone).commands.get(name)


app = typer.Typer(
    name="leadsift",
    help="Sift contacts into leads, qualified prospects and customers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_LazyGroup,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


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
