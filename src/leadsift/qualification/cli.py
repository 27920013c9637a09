"""`leadsift qualify`, `explain`, `playbook validate` and `contacts set-stage`."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.kit.cli import emit_json, key_value_table, plain, state, stderr, stdout
from leadsift.kit.clock import utcnow
from leadsift.qualification import playbooks, promotion, service
from leadsift.qualification.schemas import Explanation
from leadsift.qualification.stages import parse_stage

playbook_app = typer.Typer(help="Check playbooks.", no_args_is_help=True)


def _read(file: Path) -> str:
    if not file.is_file():
        raise NotFoundError(f"playbook {file} does not exist")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"playbook {file} is not UTF-8 text (byte {exc.start})") from None


@playbook_app.command("validate")
def playbook_validate(
    ctx: typer.Context, file: Annotated[Path, typer.Argument(help="Playbook YAML file.")]
) -> None:
    """Check a playbook and report every problem at once, with its YAML path and line."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        playbook = playbooks.load(session, _read(file), file.name)
    summary = {
        "valid": True,
        "name": playbook.name,
        "fingerprint": playbook.fingerprint(),
        "fit_rules": len(playbook.fit),
        "interest_rules": len(playbook.interest.rules) if playbook.interest else 0,
    }
    if cli.json_output:
        emit_json(summary)
    else:
        rules = f"{summary['fit_rules']} fit rules, {summary['interest_rules']} interest rules"
        policy = f", qualify: {playbook.qualify}" if playbook.qualify else ""
        stdout.print(f"{file}: valid playbook {playbook.name!r} ({rules}{policy})", markup=False)


def qualify(
    ctx: typer.Context,
    playbook: Annotated[Path, typer.Option("--playbook", help="Playbook YAML file.")],
    dry_run: Annotated[bool, typer.Option(help="Report what would change; write nothing.")] = False,
) -> None:
    """Evaluate contacts (stages contact and unqualified) against a playbook's eligibility."""
    cli = state(ctx)
    with cli.unit_of_work(dry_run=dry_run) as session:
        summary = service.qualify(session, _read(playbook), playbook.name, dry_run=dry_run)
        if not dry_run:
            run_after_moves(session, None)  # fit points moved: the call order too
    if cli.json_output:
        emit_json(summary)
        return
    rows: dict[str, Any] = {
        "playbook": f"{summary.playbook} (version {summary.playbook_version or 'not stored'})",
        "evaluated": summary.evaluated,
        "changed": summary.changed if not dry_run else f"{summary.changed} (dry run)",
    }
    rows.update({f"stage {k}": v for k, v in summary.stages.items()})
    rows.update({f"reason {k}": v for k, v in summary.reasons.items()})
    rows["seconds"] = summary.seconds
    stdout.print(key_value_table("Qualify", rows))


def print_explanation(result: Explanation) -> None:
    """Render an explanation: stage, history, interest, the last evaluation."""
    stdout.print(
        f"contact {result.contact_id}: [bold]{result.stage}[/bold]"
        f" ({result.stage_reason or 'no reason recorded'}), fit {result.fit}"
    )
    history = Table("when", "from", "to", "reason", "by", title="Stage history")
    for change in result.history:
        history.add_row(
            change.changed_at.isoformat(timespec="seconds"),
            change.from_stage,
            change.to_stage,
            change.reason,
            change.actor,
        )
    stdout.print(history)
    if result.interest is not None:
        _print_interest(result.interest)
    evaluation = result.evaluation
    if evaluation is None:
        stdout.print("never evaluated against a playbook")
        return
    stdout.print(
        f"last evaluation: {evaluation['playbook']} v{evaluation['playbook_version']} → "
        f"{evaluation['outcome']} ({evaluation['reason']})"
    )
    criteria = Table("criterion", "value", "result", title=evaluation["eligibility"])
    for item in evaluation["criteria"]:
        criteria.add_row(item["criterion"], _shown(item["value"]), _shown(item["result"]))
    stdout.print(criteria)
    if evaluation["missing"]:
        stdout.print(f"missing information: {', '.join(evaluation['missing'])}")
    fit = Table("fit rule", "points", "result", "earned", title=f"fit {evaluation['fit']['total']}")
    for rule in evaluation["fit"]["rules"]:
        fit.add_row(
            rule["label"] or rule["when"],
            str(rule["points"]),
            _shown(rule["result"]),
            str(rule["earned"]),
        )
    stdout.print(fit)


def _print_interest(interest: dict[str, Any]) -> None:
    table = Table(
        "rule",
        "event",
        "when",
        "points",
        "decayed",
        title=f"interest {interest['interest']:.2f} (half-life {interest['half_life']})",
    )
    for rule in interest["rules"]:
        capped = f" — capped at {rule['cap']}" if rule["capped"] else ""
        table.add_row(
            plain(rule["rule"]), "", f"{rule['events']} events", "", f"{rule['value']:.2f}{capped}"
        )
        for item in rule["contributions"]:
            table.add_row(
                "",
                plain(f"#{item['event_id']} {item['type']}"),
                item["occurred_at"][:19],
                str(item["points"]),
                f"{item['decayed']:.2f}",
            )
    stdout.print(table)


def _shown(value: Any) -> str:
    if value is None:
        return "unknown"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


# What runs after stages moved by a command, in its transaction: (session, the contacts moved
# or None for everyone, now). The root CLI plugs assignment of new qualified prospects in here.
AfterMoves = Callable[[Session, set[int] | None, datetime], object]
_after_moves: list[AfterMoves] = []


def after_moves(hook: AfterMoves) -> None:
    """Run HOOK after `score` and `contacts set-stage` moved contacts (same transaction)."""
    _after_moves.append(hook)


def run_after_moves(session: Session, contact_ids: set[int] | None) -> None:
    """Run the hooks after stages or scores moved (CONTACT_IDS, or everyone with None)."""
    for hook in _after_moves:
        problem = hook(session, contact_ids, utcnow())
        if isinstance(problem, str):
            stderr.print(f"warning: {problem}", markup=False)


def set_stage(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Contact id, email, phone or external id.")],
    stage: Annotated[str, typer.Argument(help="Target stage.")],
    reason: Annotated[str, typer.Option(help="Reason code, e.g. not_interested, recycled.")],
    note: Annotated[str | None, typer.Option(help="Free text kept with the change.")] = None,
    actor: Annotated[str | None, typer.Option(help="Who makes the change.")] = None,
) -> None:
    """Move a contact to another stage by hand (only moves the lifecycle allows)."""
    cli = state(ctx)
    target = parse_stage(stage)
    who = actor or f"user:{getpass.getuser()}"
    with cli.unit_of_work() as session:
        change = service.set_stage(
            session, ref, target, reason, actor=who, region=cli.settings.default_region, note=note
        )
        run_after_moves(session, {change.contact_id})
    if cli.json_output:
        emit_json(change)
    else:
        move = f"{change.from_stage} → {change.to_stage}"
        stdout.print(f"contact {change.contact_id}: {move} ({change.reason})")


def score(
    ctx: typer.Context,
    playbook: Annotated[
        Path | None,
        typer.Option("--playbook", help="Apply this playbook first (else the active one)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Report what would change; write nothing.")] = False,
) -> None:
    """Recompute everyone's interest now and apply the playbook's policy: qualify the interested,
    convert buyers, recycle silent leads (the same numbers as events scored one by one)."""
    cli = state(ctx)
    given = (_read(playbook), playbook.name) if playbook is not None else None
    with cli.unit_of_work(dry_run=dry_run) as session:
        summary = promotion.score(session, playbook=given, dry_run=dry_run)
        if not dry_run:
            run_after_moves(session, None)
    if cli.json_output:
        emit_json(summary)
        return
    rows: dict[str, Any] = {
        "playbook": f"{summary.playbook} (version {summary.playbook_version})",
        "contacts with interest": summary.scored,
    }
    rows.update({f"moved {k}": v for k, v in summary.moves.items()} or {"moved": 0})
    rows.update({f"stage {k}": v for k, v in summary.stages.items()})
    rows["seconds"] = summary.seconds
    title = "Score (dry run: nothing written)" if dry_run else "Score"
    stdout.print(key_value_table(title, rows))


def register(app: typer.Typer, contacts_app: typer.Typer) -> None:
    """Add the lifecycle commands to the root CLI."""
    app.add_typer(playbook_app, name="playbook")
    app.command("qualify")(qualify)
    app.command("score")(score)
    contacts_app.command("set-stage")(set_stage)
