"""`leadsift demo`: a workspace from the bundled bank telesales data and web sessions, the funnel
they make, and what to try next."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from leadsift.contacts import service as contacts
from leadsift.contacts.schemas import ImportOptions
from leadsift.demo import people, prediction, reports, repository, web
from leadsift.errors import InvalidInputError
from leadsift.kit.cli import CliState, emit_json, key_value_table, plain, state, stdout
from leadsift.kit.clock import utcnow
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
    """Build a workspace from real data (41,188 bank contacts, 12,330 web sessions) and show
    the funnel and what to try."""
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
    _render(document)


def _render(document: dict[str, Any]) -> None:
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
    visits = document["web"]
    stdout.print(
        key_value_table(
            "Web visits — UCI online shoppers sessions, one per person",
            {
                "sessions": visits["sessions"],
                "dated": f"{visits['from']} to {visits['to']}",
                "page views recorded": visits["page_views"],
                "purchases": visits["purchases"],
                "events stored": visits["inserted"],
                "already there": visits["duplicates"],
                "anonymous visitors": visits["anonymous_visitors"],
                "identified at checkout": visits["identified_at_checkout"],
                "seconds (events + scores)": round(
                    visits["seconds"] + document["score"]["seconds"], 2
                ),
            },
        )
    )
    funnel = document["funnel"]
    rows: dict[str, Any] = {
        label: funnel[key]
        for label, key in (
            ("contacts", "contacts"),
            ("leads (no interest yet)", "leads"),
            ("qualified (recent interest)", "qualified"),
            ("customers (bought)", "customers"),
            ("unqualified", "unqualified"),
        )
    }
    rows.update({f"  {reason}": n for reason, n in funnel["unqualified_by_reason"].items()})
    stdout.print(key_value_table(f"Funnel — {document['qualify']['playbook']}", rows))
    stdout.print(_interested_table(funnel["interested_not_bought"]))
    stdout.print(_prospects_table(document["prediction"]))
    stdout.print(_roi_table(document["roi"], document["cost_per_session"]))
    stdout.print(_funnel_lines(document["funnel_report"], document["funnel_chart"]))
    stdout.print("\nTry next:")
    for command in document["next"]:
        stdout.print(f"  {command}", markup=False, highlight=False)
    stdout.print(f"\n{document['attribution']}", markup=False, highlight=False)
    stdout.print(document["web"]["attribution"], markup=False, highlight=False)
    app = document["web_app"]
    stdout.print(
        f"\nThe web app on this workspace: run\n  {app['serve']}\nthen open {app['url']} and "
        f"sign in as {app['user']} with the password {app['password']} (made for this run; "
        f"`leadsift user password {app['user']}` sets another).",
        markup=False,
        highlight=False,
    )


def _roi_table(found: dict[str, Any], per_session: float) -> Table:
    table = Table(
        "campaign", "cost", "purchases", "revenue", "ROI",
        title=f"ROI of the web traffic campaigns (illustrative: {per_session:.2f} per session)",
    )  # fmt: skip
    rows = sorted(found["rows"], key=lambda r: -(r["revenue"] or 0))[:8]
    for row in rows:
        roi_text = "n/a" if row["roi"] is None else f"{row['roi']:.0%}"
        table.add_row(
            row["campaign"], f"{row['cost']:,.2f}", str(row["conversions"]),
            f"{row['revenue']:,.2f}", roi_text,
        )  # fmt: skip
    return table


def _funnel_lines(found: dict[str, Any], chart: str) -> Text:
    steps = " → ".join(
        f"{row['stage']} {row['count']:,}"
        + ("" if row["rate"] is None else f" ({row['rate']:.1%})")
        for row in found["rows"]
    )
    return Text(f"\nFunnel report: {steps}\nFunnel chart: {chart}")


def _interested_table(interested: dict[str, Any]) -> Table:
    table = Table(
        title=(
            f"Showed interest but did not buy: {interested['contacts']} contacts "
            f"({interested['qualified']} qualified) — the most interested"
        ),
        caption=Text(interested["criteria"]),
        title_justify="left",
        caption_justify="left",
    )
    for name in web.EXAMPLE_FIELDS:
        table.add_column(name, justify="right" if name in ("id", "age", "interest") else "left")
    for person in interested["examples"]:
        table.add_row(*(plain(person[name]) for name in web.EXAMPLE_FIELDS))
    return table


def _prospects_table(predicted: dict[str, Any]) -> Table:
    model = predicted["model"]
    metrics = model["metrics"]
    table = Table(
        title=(
            f"Top prospects by priority — model {model['model_id']} ({model['kind']}) learnt "
            f"from {model['rows']:,} past answers ({model['positives']:,} yes): ROC AUC "
            f"{metrics['roc_auc']:.3f}; its top 10 % hold {metrics['top_decile_lift']:.1f}× the "
            "average rate of yes"
        ),
        caption=Text(
            f"{predicted['prospects']['criteria']}; priority = probability × deal value − cost "
            "of the next action; why: each feature's push in log-odds"
        ),
        title_justify="left",
        caption_justify="left",
    )
    for name in prediction.PROSPECT_FIELDS:
        table.add_column(name, justify="left" if name in ("job", "stage") else "right")
    table.add_column("why (top 3)")
    for person in predicted["prospects"]["top"]:
        cells = [plain(_cell(name, person[name])) for name in prediction.PROSPECT_FIELDS]
        table.add_row(*cells, plain("\n".join(person["reasons"])))
    return table


def _cell(name: str, value: Any) -> str:
    if name == "probability":
        return f"{value:.3f}"
    if name == "priority":
        return f"{value:.2f}"
    return str(value)


def _build(workspace: CliState, directory: Path) -> dict[str, Any]:
    database = workspace.database()
    options = ImportOptions(generate_ids=True)
    data = resources.files("leadsift.demo").joinpath("data", BANK_FILE)
    with resources.as_file(data) as path, workspace.unit_of_work() as session:
        summary = contacts.import_contacts(session, path, options, settings=workspace.settings)
        first = repository.first_contact(session)
    playbook_path = directory / PLAYBOOK_FILE
    playbook_text = (
        resources.files("leadsift.demo").joinpath("data", PLAYBOOK_FILE).read_text(encoding="utf-8")
    )
    playbook_path.write_text(playbook_text, encoding="utf-8")
    with workspace.unit_of_work() as session:
        qualified = qualification.qualify(session, playbook_text, PLAYBOOK_FILE)
    with workspace.unit_of_work() as session:
        story = web.web_story(session, utcnow())
    with workspace.unit_of_work() as session:
        predicted = prediction.prediction_story(session, utcnow())
    with workspace.unit_of_work() as session:
        measured = reports.reports(session, directory, utcnow())
    with workspace.unit_of_work() as session:
        web_app = people.demo_admin(session, f"--db {database.url}")
    return {
        **measured,
        "database": database.safe_url,
        "import": summary.model_dump(mode="json"),
        "qualify": qualified.model_dump(mode="json"),
        **story,
        "prediction": predicted,
        "playbook": str(playbook_path),
        "attribution": ATTRIBUTION,
        "web_app": web_app,
        "next": _next_commands(
            f"--db {database.url}",
            directory,
            playbook_path,
            first[0] if first is not None else 1,
            story["funnel"]["a_qualified_contact"],
        ),
    }


def _next_commands(
    db: str, directory: Path, playbook: Path, first: int, qualified: int | None
) -> list[str]:
    someone = qualified if qualified is not None else first
    return [
        f"leadsift {db} contacts show {first}",
        f"leadsift {db} explain {someone}",
        f"leadsift {db} events list --contact {someone}",
        f"leadsift {db} contacts list --where '{web.INTERESTED_NOT_BOUGHT}' "
        "--fields id,age,job,stage,interest --limit 10",
        f"leadsift {db} contacts count --where 'count(purchase) >= 1 and age between 25 and 35'",
        f"leadsift {db} contacts count --where 'age between 25 and 35 and job = \"admin.\"'",
        f"leadsift {db} contacts list --where 'stage = \"lead\" and fit >= 20' --limit 10",
        f"leadsift {db} report funnel --by cohort_month",
        f"leadsift {db} report roi",
        f"leadsift {db} report funnel --format html --out {directory / 'funnel.html'}",
        f"leadsift {db} score",
        f"leadsift {db} model list",
        f"leadsift {db} contacts list --where '{prediction.PROSPECTS}' --order-by priority "
        "--fields id,age,job,probability,priority --limit 10",
        f"leadsift {db} model train --label y --positive yes --exclude duration "
        "--holdout-last 0.2 --order-by id --no-activate",
        f"leadsift {db} qualify --playbook {playbook} --dry-run",
        f"leadsift {db} --json contacts show {someone}",
        f"leadsift {db} contacts export {directory / 'contacts.csv'}",
        f"leadsift {db} import contacts {directory / 'contacts.csv'}   # re-import: unchanged",
        f"leadsift {db} backup {directory / 'backup.db'}",
    ]
