"""The report pages: `/reports` (the index), `/reports/{name}` (filters, table, chart) and
`/reports/{name}.csv` (the CSV of `leadsift report NAME --format csv`), for admins and managers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from leadsift.access.schemas import Role
from leadsift.access.sessions import SessionCaller
from leadsift.analytics import rendering
from leadsift.analytics.catalogue_views import (
    BY_NAME,
    REPORTS,
    FilterError,
    ReportPage,
    read_filters,
)
from leadsift.analytics.display_views import chart_of, minutes_text, read_fresh, table_of
from leadsift.analytics.rendering import Report
from leadsift.errors import InvalidInputError, LeadsiftError, NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import database_of
from leadsift.web.auth import signed_in
from leadsift.web.i18n import add_french, translator
from leadsift.web.templating import language_of, render

router = APIRouter(include_in_schema=False)
READERS: Final = (Role.ADMIN, Role.MANAGER)
# Filters a report cannot take: the form again with the message (400), never an error page.
REFUSALS: Final = (FilterError, InvalidInputError, NotFoundError)

add_french(
    {
        "Reports": "Rapports",
        "Every report of the command line, with its filters and a CSV download.": (
            "Tous les rapports de la ligne de commande, avec leurs filtres et un export CSV."
        ),
        "Filters": "Filtres",
        "Show": "Afficher",
        "Download CSV": "Télécharger le CSV",
        "Chart": "Graphique",
        "No data.": "Aucune donnée.",
        "Notes": "Remarques",
        "All reports": "Tous les rapports",
        "Fix the filters:": "Corrigez les filtres :",
        "Choose the filters, then show the report.": (
            "Choisissez les filtres, puis affichez le rapport."
        ),
        "Chart of the report; the table below gives the same figures.": (
            "Graphique du rapport ; le tableau ci-dessous donne les mêmes chiffres."
        ),
        "Funnel": "Entonnoir",
        "Time in stage": "Temps par étape",
        "Reasons": "Raisons",
        "ROI": "ROI",
        "Attribution": "Attribution",
        "Lift": "Gain (lift)",
        "Campaigns": "Campagnes",
        "Sources": "Sources",
        "Agents": "Agents",
        "Interest but no purchase": "Intérêt sans achat",
        "Speed to lead": "Délai de premier contact",
        "Waiting beyond the SLA": "En attente au-delà du délai",
        "Contacts → leads → qualified → customers: step and overall rates.": (
            "Contacts → leads → qualifiés → clients : taux par étape et global."
        ),
        "How long each step took (median, p90).": "Durée de chaque étape (médiane, p90).",
        "Unqualified and lost contacts by reason.": "Contacts non qualifiés et perdus par raison.",
        "Cost, results, ROI and return on ad spend (all time unless dates).": (
            "Coût, résultats, ROI et retour sur dépenses publicitaires (depuis toujours, sauf "
            "dates)."
        ),
        "Conversions credited to touches under five models.": (
            "Conversions attribuées aux points de contact selon cinq modèles."
        ),
        "A campaign's treated contacts against its control group.": (
            "Les contacts ciblés d'une campagne face à son groupe témoin."
        ),
        "Sent, opened, clicked, replies, purchases, revenue, cost.": (
            "Envoyés, ouverts, cliqués, réponses, achats, chiffre d'affaires, coût."
        ),
        "The funnel by source, with cost per lead and per customer.": (
            "L'entonnoir par source, avec le coût par lead et par client."
        ),
        "Per agent: prospects, calls, won, lost, win rate, revenue.": (
            "Par agent : prospects, appels, gagnés, perdus, taux de réussite, chiffre d'affaires."
        ),
        "Who showed interest but did not buy (for remarketing).": (
            "Qui a montré de l'intérêt sans acheter (pour le remarketing)."
        ),
        "Time from qualification to the first touch by a person.": (
            "Délai entre la qualification et le premier contact humain."
        ),
        "Qualified prospects nobody has touched yet.": (
            "Prospects qualifiés que personne n'a encore contactés."
        ),
        "Split by": "Répartir par",
        "all": "tout",
        "cohort_week": "semaine d'entrée",
        "cohort_month": "mois d'entrée",
        "region": "région",
        "utm_campaign": "campagne UTM",
        "From": "Du",
        "To (excluded)": "Au (exclu)",
        "One contact (id)": "Un contact (id)",
        "Campaign": "Campagne",
        "Window": "Fenêtre",
        "Interest at least": "Intérêt d'au moins",
        "Contacts listed": "Contacts listés",
        "SLA": "Délai (SLA)",
        "Give a number, such as {example}.": "Donnez un nombre, par exemple {example}.",
        "Give a whole number, such as {example}.": (
            "Donnez un nombre entier, par exemple {example}."
        ),
        "Give a whole number from {low} to {high}.": "Donnez un nombre entier de {low} à {high}.",
        "Choose one of {choices}.": "Choisissez parmi {choices}.",
        "Give a date such as {example}.": "Donnez une date, par exemple {example}.",
        "Give a duration such as {example}.": "Donnez une durée, par exemple {example}.",
        "At most {size} characters.": "{size} caractères au plus.",
        "{name} is required.": "{name} est obligatoire.",
        "“From” must be before “To”.": "« Du » doit précéder « Au ».",
        "Split by {choices} or a custom attribute attrs.KEY.": (
            "Répartissez par {choices} ou par un attribut personnalisé attrs.CLÉ."
        ),
    }
)


def _report_page(name: str) -> ReportPage:
    found = BY_NAME.get(name)
    if found is None:
        raise NotFoundError(f"no report {name!r}: the reports are listed on /reports")
    return found


@dataclass(frozen=True)
class Problem:
    """Why the filters were refused: the field (when known) and an English text with values."""

    field: str | None
    label: str | None
    text: str
    values: dict[str, object]


def _build(request: Request, page: ReportPage) -> Report:
    """The report for the request's filters, read as the CLI reads it."""
    filters = read_filters(page, request.query_params)
    now = utcnow()
    return read_fresh(
        database_of(request), now, page.refreshes, lambda s: page.build(s, filters, now)
    )


def _problem(spec: ReportPage, refused: Exception) -> Problem:
    if isinstance(refused, FilterError):
        label = next((f.label for f in spec.filters if f.name == refused.field), None)
        return Problem(refused.field, label, refused.text, refused.values)
    # A service's own refusal (an unknown campaign, an empty period): its message as it is.
    message = refused.message if isinstance(refused, LeadsiftError) else str(refused)
    return Problem(None, None, message, {})


def _respond(
    request: Request,
    spec: ReportPage,
    report: Report | None,
    problem: Problem | None = None,
) -> HTMLResponse:
    translate = translator(language_of(request))
    query = request.url.query
    return render(
        request,
        "analytics/templates/report.html",
        {
            "title": spec.title,
            "spec": spec,
            "given": dict(request.query_params),
            "problem": problem,
            "report": report,
            "table": table_of(report) if report is not None else None,
            "chart": chart_of(report, translate) if report is not None else None,
            "csv_href": f"/reports/{spec.name}.csv" + (f"?{query}" if query else ""),
            "minutes": minutes_text,
        },
        status=400 if problem is not None else 200,
    )


@router.get("/reports")
def reports_index(
    request: Request, _who: Annotated[SessionCaller, Depends(signed_in(READERS))]
) -> HTMLResponse:
    """The index of the reports."""
    return render(
        request, "analytics/templates/reports.html", {"title": "Reports", "reports": REPORTS}
    )


def _filename(spec: ReportPage, report: Report) -> str:
    # Only the report's own name and ISO dates: nothing a user typed reaches the header.
    dates = [str(report.meta[key])[:10] for key in ("from", "to") if report.meta.get(key)]
    return "-".join(["leadsift", spec.name, *dates]) + ".csv"


# Declared before /reports/{name}, which would otherwise take "funnel.csv" as a name.
@router.get("/reports/{name}.csv", response_model=None)
def report_csv(
    request: Request, name: str, _who: Annotated[SessionCaller, Depends(signed_in(READERS))]
) -> Response:
    """The report as CSV, exactly as `leadsift report NAME --format csv` writes it."""
    spec = _report_page(name)
    try:
        report = _build(request, spec)
    except REFUSALS as refused:
        return _respond(request, spec, None, _problem(spec, refused))
    return Response(
        rendering.render_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_filename(spec, report)}"'},
    )


@router.get("/reports/{name}")
def report_page(
    request: Request, name: str, _who: Annotated[SessionCaller, Depends(signed_in(READERS))]
) -> HTMLResponse:
    """One report: its filters as a form, the table, the chart, a CSV download."""
    spec = _report_page(name)
    if not request.query_params and any(f.required for f in spec.filters):
        return _respond(request, spec, None)  # the form first: nothing chosen yet
    try:
        report = _build(request, spec)
    except REFUSALS as refused:
        return _respond(request, spec, None, _problem(spec, refused))
    return _respond(request, spec, report)
