"""`leadsift model train|list|show|activate|score|export|import` and `leadsift explain`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.kit.cli import (
    emit_json,
    key_value_table,
    plain,
    state,
    stdout,
    value_text,
    write_atomically,
)
from leadsift.kit.clock import utcnow
from leadsift.qualification import service as lifecycle
from leadsift.qualification.cli import print_explanation, run_after_moves
from leadsift.scoring import service
from leadsift.scoring.schemas import ModelView, TrainRequest, TrainSummary

model_app = typer.Typer(
    help="Predictive models: train, inspect, activate, score.", no_args_is_help=True
)

METRIC_NAMES = ("roc_auc", "pr_auc", "brier", "top_decile_lift", "captured_at_20pct")


@model_app.command("train")
def model_train(  # noqa: PLR0917 — one parameter per CLI option
    ctx: typer.Context,
    label: Annotated[
        str | None,
        typer.Option(help="Field or criteria expression to predict (default: became a customer)."),
    ] = None,
    positive: Annotated[
        str | None, typer.Option(help="The --label field's value that counts as positive.")
    ] = None,
    exclude: Annotated[
        list[str] | None, typer.Option(help="A field never to learn from (repeatable).")
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option(help="Keep a field the leakage guard would exclude (repeatable)."),
    ] = None,
    cv: Annotated[int, typer.Option(min=2, max=20, help="Folds of cross-validation.")] = 5,
    holdout_last: Annotated[
        float | None,
        typer.Option(
            min=0.01, max=0.9, help="Evaluate on this last fraction of rows (in --order-by order)."
        ),
    ] = None,
    order_by: Annotated[
        str | None, typer.Option("--order-by", help="Row order for --holdout-last (default: id).")
    ] = None,
    activate: Annotated[bool, typer.Option(help="Make the new model the active one.")] = True,
) -> None:
    """Learn who converts from this workspace's history; evaluate it on data it did not see."""
    cli = state(ctx)
    service.check_fraction(holdout_last, order_by)
    request = TrainRequest(
        label=label,
        positive=positive,
        exclude=exclude or [],
        include=include or [],
        cv=cv,
        holdout_last=holdout_last,
        order_by=order_by,
        activate=activate,
    )
    # Training brings scikit-learn and LightGBM (~2.5 s to import): only this command pays it.
    from leadsift.scoring.training import train_model  # noqa: PLC0415

    with cli.unit_of_work() as session:
        summary = train_model(session, request, utcnow())
    if cli.json_output:
        emit_json(summary)
        return
    _print_training(summary)


def _print_training(summary: TrainSummary) -> None:
    rows: dict[str, Any] = {
        "model": f"{summary.model_id} ({summary.kind}, {summary.calibration} calibration)"
        + (" — active" if summary.activated else ""),
        "label": summary.label,
        "rows / positives": f"{summary.rows:,} / {summary.positives:,}",
        "features": len(summary.features),
    }
    rows.update({name: _metric(summary.metrics.get(name)) for name in METRIC_NAMES})
    if summary.holdout is not None:
        held = summary.holdout.get("metrics", {})
        rows["holdout rows"] = summary.holdout.get("rows")
        rows.update({f"holdout {name}": _metric(held.get(name)) for name in METRIC_NAMES})
    rows["seconds"] = summary.seconds
    stdout.print(key_value_table("Model trained", rows))
    if summary.excluded:
        table = Table("field", "why it is not a feature", title="Excluded")
        for item in summary.excluded:
            table.add_row(plain(item.field), plain(item.reason))
        stdout.print(table)
    for warning in summary.warnings:
        stdout.print(plain(f"warning: {warning}"))


def _metric(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}"


@model_app.command("list")
def model_list(ctx: typer.Context) -> None:
    """Stored models, newest first; the active one is marked."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        models = service.list_models(session)
    if cli.json_output:
        emit_json({"models": [model.model_dump(mode="json") for model in models]})
        return
    table = Table("id", "active", "kind", "label", "rows", "positives", "roc_auc", "trained")
    for model in models:
        table.add_row(
            str(model.id),
            "✓" if model.active else "",
            model.kind,
            plain(model.label),
            f"{model.rows:,}",
            f"{model.positives:,}",
            _metric(model.roc_auc),
            model.created_at.isoformat(timespec="seconds"),
        )
    stdout.print(table)


@model_app.command("show")
def model_show(ctx: typer.Context, model_id: Annotated[int, typer.Argument()]) -> None:
    """A model's card: data, label, features, metrics, warnings, library versions."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        shown = service.show(session, model_id)
    if cli.json_output:
        emit_json(shown)
        return
    _print_card(shown)


def _print_card(model: ModelView) -> None:
    card = model.card or {}
    rows: dict[str, Any] = {
        "kind": f"{model.kind} ({card.get('calibration', '?')} calibration)",
        "active": "yes" if model.active else "no",
        "label": model.label,
        "rows / positives": f"{model.rows:,} / {model.positives:,}",
        "trained": model.created_at.isoformat(timespec="seconds"),
    }
    rows.update({n: _metric((card.get("metrics") or {}).get(n)) for n in METRIC_NAMES})
    rows["features"] = ", ".join(f["name"] for f in card.get("features", []))
    rows["versions"] = ", ".join(f"{k} {v}" for k, v in (card.get("versions") or {}).items())
    stdout.print(key_value_table(f"Model {model.id}", rows))
    for warning in card.get("warnings", []):
        stdout.print(plain(f"warning: {warning}"))


@model_app.command("activate")
def model_activate(ctx: typer.Context, model_id: Annotated[int, typer.Argument()]) -> None:
    """Make a stored model the active one (checked first: it must load and fit these fields)."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        shown = service.activate(session, model_id, utcnow())
    if cli.json_output:
        emit_json(shown)
    else:
        stdout.print(f"model {shown.id} is active; run `leadsift model score` to rescore everyone")


@model_app.command("score")
def model_score(ctx: typer.Context) -> None:
    """Write every contact's probability and priority with the active model."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        run = service.score_everyone(session, utcnow())
        run_after_moves(session, None)  # new priorities: the call order follows
    if cli.json_output:
        emit_json(run)
        return
    rows: dict[str, Any] = {"model": run.model_id, "contacts": f"{run.contacts:,}"}
    rows["mean probability"] = _metric(run.mean_probability)
    rows.update({f"probability ≥ {bar}": f"{n:,}" for bar, n in run.above.items()})
    rows["seconds"] = run.seconds
    stdout.print(key_value_table("Model score", rows))


@model_app.command("export")
def model_export(
    ctx: typer.Context,
    model_id: Annotated[int, typer.Argument()],
    file: Annotated[Path, typer.Argument(help="JSON file to write.")],
) -> None:
    """Write a model and its card to a JSON file (for another workspace or for review)."""
    cli = state(ctx)
    if not file.parent.is_dir():
        raise InvalidInputError(f"cannot write {file}: folder {file.parent} does not exist")
    with cli.unit_of_work() as session:
        exported = service.export_model(session, model_id)
    write_atomically(file, json.dumps(exported, ensure_ascii=False))
    if cli.json_output:
        emit_json({"model_id": model_id, "file": str(file)})
    else:
        stdout.print(f"wrote model {model_id} to {file}")


@model_app.command("import")
def model_import(
    ctx: typer.Context, file: Annotated[Path, typer.Argument(help="A file of `model export`.")]
) -> None:
    """Store a model exported elsewhere; refused when damaged or made for other fields."""
    cli = state(ctx)
    if not file.is_file():
        raise NotFoundError(f"model file {file} does not exist")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{file} is not a model file: not UTF-8 text") from None
    with cli.unit_of_work() as session:
        shown = service.import_model(session, text, file.name, utcnow())
    if cli.json_output:
        emit_json(shown)
    else:
        stdout.print(f"stored model {shown.id}; `leadsift model activate {shown.id}` to use it")


def explain(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Contact id, email, phone or external id.")],
) -> None:
    """Why a contact is in its stage, and what the active model predicts for it and why."""
    cli = state(ctx)
    with cli.unit_of_work() as session:
        result = lifecycle.explain(session, ref, cli.settings.default_region)
        predicted = service.explain(session, result.contact_id, utcnow())
    result = result.model_copy(update={"prediction": predicted})
    if cli.json_output:
        emit_json(result)
        return
    print_explanation(result)
    if predicted is not None:
        _print_prediction(predicted)


def _print_prediction(predicted: dict[str, Any]) -> None:
    table = Table(
        "feature",
        "value",
        "contribution",
        title=(
            f"probability {predicted['probability']:.3f}, priority {predicted['priority']:.2f} "
            f"(model {predicted['model_id']}, {predicted['kind']}; log-odds from "
            f"{predicted['base']:.3f})"
        ),
    )
    for item in predicted["contributions"]:
        table.add_row(
            plain(item["feature"]), plain(value_text(item["value"])), f"{item['contribution']:+.3f}"
        )
    table.add_row("other features", "", f"{predicted['others']:+.3f}")
    stdout.print(table)


def register(app: typer.Typer) -> None:
    """Add `model …` and `explain` to the root CLI."""
    app.add_typer(model_app, name="model")
    app.command("explain")(explain)
