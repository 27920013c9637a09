"""`leadsift demo`: a workspace from the bundled bank telesales data, and what to try next."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from leadsift.contacts import lookup
from leadsift.contacts import service as contacts
from leadsift.contacts.schemas import ImportOptions
from leadsift.errors import InvalidInputError
from leadsift.kit.cli import CliState, emit_json, key_value_table, state, stdout
from leadsift.qualification import service as qualification

BANK_FILE = "bank-additional-full.csv.gz"
PLAYBOOK_FILE = "bank-playbook.yaml"
ATTRIBUTION = (
    "Data: UCI Bank Marketing (Moro, Cortez & Rita, 2014), CC BY 4.0, "
    "https://doi.org/10.24432/C5K306"
)


def register(app: typer.Typer) -> None:
    """Add the demo command to the root app."""
    app.command("demo")(demo)


def demo(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Option("--dir", help="Folder for the demo workspace.")] = Path(
        "leadsift-demo"
    ),
) -> None:
    """Build a workspace from real bank telesales data (41,188 contacts) and show what to try."""
    cli = state(ctx)
    if directory.exists() and not directory.is_dir():
        raise InvalidInputError(f"--dir {directory}: a file with that name exists")
    directory.mkdir(parents=True, exist_ok=True)
    explicit_db = ctx.find_root().params.get("db")
    url = explicit_db or f"sqlite:///{(directory / 'leadsift.db').resolve()}"
    workspace = CliState(url, cli.json_output, cli.settings)
    try:
        document = _build(workspace, directory)
    finally:
        workspace.close()
    if cli.json_output:
        emit_json(document)
        return
    summary = document["import"]
    stdout.print(
        key_value_table(
            "leadsift demo — bank telesales contacts",
            {
                "workspace": document["database"],
                "rows": summary["rows"],
                "contacts created": summary["created"],
                "already there (unchanged)": summary["unchanged"],
                "rejected": summary["rejected"],
                "custom attributes": len(summary["attribute_types"]),
                "seconds": summary["seconds"],
            },
        )
    )
    funnel = document["funnel"]
    rows: dict[str, Any] = {
        "contacts": funnel["contacts"],
        "leads": funnel["leads"],
        "unqualified": funnel["unqualified"],
    }
    rows.update({f"  {reason}": n for reason, n in funnel["unqualified_by_reason"].items()})
    stdout.print(key_value_table(f"Funnel so far — {document['qualify']['playbook']}", rows))
    stdout.print("\nTry next:")
    for command in document["next"]:
        stdout.print(f"  {command}", markup=False, highlight=False)
    stdout.print(f"\n{ATTRIBUTION}", markup=False, highlight=False)


def _build(workspace: CliState, directory: Path) -> dict[str, Any]:
    database = workspace.database()
    options = ImportOptions(generate_ids=True)
    data = resources.files("leadsift.demo").joinpath("data", BANK_FILE)
    with resources.as_file(data) as path, workspace.unit_of_work() as session:
        summary = contacts.import_contacts(session, path, options, settings=workspace.settings)
        first = lookup.find_contact(session, "1") if summary.rows else None
    playbook_path = directory / PLAYBOOK_FILE
    playbook_text = (
        resources.files("leadsift.demo").joinpath("data", PLAYBOOK_FILE).read_text(encoding="utf-8")
    )
    playbook_path.write_text(playbook_text, encoding="utf-8")
    with workspace.unit_of_work() as session:
        qualified = qualification.qualify(session, playbook_text, PLAYBOOK_FILE)
        funnel = qualification.funnel_so_far(session)
    db = f"--db {database.url}"
    return {
        "database": database.safe_url,
        "import": summary.model_dump(mode="json"),
        "qualify": qualified.model_dump(mode="json"),
        "funnel": funnel,
        "playbook": str(playbook_path),
        "attribution": ATTRIBUTION,
        "next": [
            f"leadsift {db} contacts show {first.id if first else 1}",
            f"leadsift {db} explain {first.id if first else 1}",
            f"leadsift {db} contacts count --where 'age between 25 and 35 and job = \"admin.\"'",
            f"leadsift {db} contacts list --where 'stage = \"lead\" and fit >= 20' --limit 10",
            f"leadsift {db} qualify --playbook {playbook_path} --dry-run",
            f"leadsift {db} --json contacts show {first.id if first else 1}",
            f"leadsift {db} contacts export {directory / 'contacts.csv'}",
            f"leadsift {db} import contacts {directory / 'contacts.csv'}   # re-import: unchanged",
            f"leadsift {db} backup {directory / 'backup.db'}",
        ],
    }
