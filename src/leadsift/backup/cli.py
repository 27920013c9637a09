"""`leadsift backup FILE` and `leadsift restore FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadsift.backup import service
from leadsift.kit.cli import emit_json, state, stdout


def register(app: typer.Typer) -> None:
    """Add the backup and restore commands to the root app."""
    app.command("backup")(backup)
    app.command("restore")(restore)


def backup(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="Backup file.")]) -> None:
    """Write an online, consistent backup of the database to FILE."""
    cli = state(ctx)
    result = service.backup(cli.database(), file)
    if cli.json_output:
        emit_json(result)
    else:
        stdout.print(f"backed up {cli.database().safe_url} to {file} ({result['bytes']} bytes)")


def restore(ctx: typer.Context, file: Annotated[Path, typer.Argument(help="Backup file.")]) -> None:
    """Replace the database's content with the backup in FILE."""
    cli = state(ctx)
    result = service.restore(cli.database(), file)
    if cli.json_output:
        emit_json(result)
    else:
        stdout.print(f"restored {cli.database().safe_url} from {file}")
