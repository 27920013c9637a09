"""The dashboard: the funnel with its rates, the weekly trend, the best campaigns and sources by
ROI, speed to lead and who waits beyond the SLA.

The page comes at once; each section then loads on its own (htmx), so one figure never holds
the others back. Sections read the rollups as the worker keeps them (display_views.read_fresh).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from leadsift.access.schemas import Role
from leadsift.access.sessions import SessionCaller
from leadsift.analytics import dashboard_views as figures
from leadsift.analytics import funnel, report_views, rollups
from leadsift.analytics.catalogue_views import SPEED_DAYS
from leadsift.analytics.dashboard_views import period_of
from leadsift.analytics.display_views import Refresh, minutes_text, read_fresh, table_of
from leadsift.kit.clock import utcnow
from leadsift.kit.web import database_of
from leadsift.web.auth import signed_in
from leadsift.web.i18n import add_french, translator
from leadsift.web.templating import language_of, render

router = APIRouter(include_in_schema=False)
# The report pages come with the dashboard: one router for the app to include.
router.include_router(report_views.router)
# The periods offered, in weeks (12 by default: a quarter of weekly cohorts).
PERIODS: Final = (4, 12, 26, 52)
DEFAULT_WEEKS: Final = str(12)
READERS: Final = (Role.ADMIN, Role.MANAGER)
_ROLLUPS: Final[tuple[Refresh, ...]] = (rollups.refresh,)

add_french(
    {
        "Dashboard": "Tableau de bord",
        "Period": "Période",
        "Last {weeks} weeks": "{weeks} dernières semaines",
        "Update": "Mettre à jour",
        "From {start} to {end} (excluded), by date of entry.": (
            "Du {start} au {end} (exclu), selon la date d'entrée."
        ),
        "Your contacts only (those you own).": (
            "Vos contacts seulement (ceux qui vous sont confiés)."
        ),
        "The whole workspace.": "Tout l'espace de travail.",
        "Choose a period of 4, 12, 26 or 52 weeks.": (
            "Choisissez une période de 4, 12, 26 ou 52 semaines."
        ),
        "Funnel": "Entonnoir",
        "Funnel: contacts at each stage; the table below gives the same figures.": (
            "Entonnoir : contacts à chaque étape ; le tableau ci-dessous donne les mêmes chiffres."
        ),
        "step conversion": "conversion de l'étape",
        "of all contacts": "sur tous les contacts",
        "Trend by week of entry": "Évolution par semaine d'entrée",
        "New contacts, qualified and customers per week of entry (the table has the figures).": (
            "Nouveaux contacts, qualifiés et clients par semaine d'entrée (chiffres dans le "
            "tableau)."
        ),
        "Week of": "Semaine du",
        "New contacts": "Nouveaux contacts",
        "Qualified": "Qualifiés",
        "Customers": "Clients",
        "Show the table": "Afficher le tableau",
        "Loading…": "Chargement…",
        "Top campaigns by ROI": "Meilleures campagnes par ROI",
        "Top sources by ROI": "Meilleures sources par ROI",
        "Best campaigns and sources by ROI": "Meilleures campagnes et sources par ROI",
        "ROI report": "Rapport ROI",
        "Speed to lead": "Délai de premier contact",
        "Median time to first touch": "Délai médian du premier contact",
        "90 % touched within": "90 % contactés en",
        "Touched within the SLA": "Contactés dans le délai",
        "{done} of {total} qualified prospects": "{done} sur {total} prospects qualifiés",
        "SLA: {sla}": "Délai (SLA) : {sla}",
        "No prospect qualified in the last {days} days.": (
            "Aucun prospect qualifié ces {days} derniers jours."
        ),
        "Prospects qualified in the last {days} days.": (
            "Prospects qualifiés ces {days} derniers jours."
        ),
        "Waiting beyond the SLA": "En attente au-delà du délai",
        "Nobody is waiting beyond the SLA.": "Personne n'attend au-delà du délai.",
        "Waiting: {count}, longest first.": "En attente : {count}, du plus ancien au plus récent.",
        "Waiting: at least {count}, longest first.": (
            "En attente : au moins {count}, du plus ancien au plus récent."
        ),
        "Contact": "Contact",
        "Qualified at": "Qualifié le",
        "Waiting": "Attente",
        "Owner": "Responsable",
        "Source": "Source",
        "nobody": "personne",
        "All waiting prospects": "Tous les prospects en attente",
    }
)


def _chosen(weeks: str) -> int | None:
    # Compared as text: no int() of whatever a URL carries.
    return next((period for period in PERIODS if str(period) == weeks), None)


_PROBLEM: Final = "Choose a period of 4, 12, 26 or 52 weeks."


@router.get("/dashboard")
def dashboard(
    request: Request,
    page: Annotated[SessionCaller, Depends(signed_in())],
    weeks: str = DEFAULT_WEEKS,
) -> HTMLResponse:
    """The dashboard's frame: the period, and each section loading on its own."""
    chosen = _chosen(weeks)
    context: dict[str, Any] = {"title": "Dashboard", "periods": PERIODS, "weeks": weeks}
    if chosen is None:
        context["problem"] = _PROBLEM
        return render(request, "analytics/templates/dashboard.html", context, status=400)
    since, until = period_of(utcnow(), chosen)
    context |= {
        "problem": None,
        "own": page.caller.role is Role.AGENT,
        "since": since.date().isoformat(),
        "until": until.date().isoformat(),
    }
    return render(request, "analytics/templates/dashboard.html", context)


def _section(
    request: Request,
    weeks: str,
    template: str,
    refreshes: Sequence[Refresh],
    build: Callable[[Session, datetime, datetime, datetime], dict[str, Any]],
) -> HTMLResponse:
    """One section of the dashboard, over rollups fresh enough (display_views.read_fresh)."""
    chosen = _chosen(weeks)
    if chosen is None:
        problem = {"problem": _PROBLEM}
        return render(request, "analytics/templates/dashboard_problem.html", problem, status=400)
    now = utcnow()
    since, until = period_of(now, chosen)
    found = read_fresh(database_of(request), now, refreshes, lambda s: build(s, since, until, now))
    context: dict[str, Any] = {"minutes": minutes_text, "rate": funnel.rate, **found}
    return render(request, f"analytics/templates/{template}", context)


def _translate(request: Request) -> Callable[..., str]:
    return translator(language_of(request))


@router.get("/dashboard/funnel")
def funnel_section(
    request: Request,
    page: Annotated[SessionCaller, Depends(signed_in())],
    weeks: str = DEFAULT_WEEKS,
) -> HTMLResponse:
    """The funnel: counts, step and overall rates (an agent's: their own contacts)."""

    def build(session: Session, since: datetime, until: datetime, now: datetime) -> dict[str, Any]:
        found = figures.funnel_figures(session, page, since, until, now)
        chart = figures.funnel_chart(found.stages, _translate(request))
        return {"figures": found, "chart": chart}

    return _section(request, weeks, "dashboard_funnel.html", _ROLLUPS, build)


@router.get("/dashboard/trend")
def trend_section(
    request: Request,
    _page: Annotated[SessionCaller, Depends(signed_in(READERS))],
    weeks: str = DEFAULT_WEEKS,
) -> HTMLResponse:
    """New contacts, qualified and customers per week of entry."""

    def build(session: Session, since: datetime, until: datetime, now: datetime) -> dict[str, Any]:
        found = figures.trend_figures(session, since, until, now)
        return {"weeks": found, "chart": figures.trend_chart(found, _translate(request))}

    return _section(request, weeks, "dashboard_trend.html", _ROLLUPS, build)


@router.get("/dashboard/roi")
def roi_section(
    request: Request,
    _page: Annotated[SessionCaller, Depends(signed_in(READERS))],
    weeks: str = DEFAULT_WEEKS,
) -> HTMLResponse:
    """The five best campaigns and sources by ROI, with cost and revenue."""

    def build(session: Session, since: datetime, until: datetime, now: datetime) -> dict[str, Any]:
        campaigns, sources = figures.roi_figures(session, since, until, now)
        return {"campaigns": table_of(campaigns), "sources": table_of(sources)}

    return _section(request, weeks, "dashboard_roi.html", _ROLLUPS, build)


@router.get("/dashboard/speed")
def speed_section(
    request: Request,
    page: Annotated[SessionCaller, Depends(signed_in())],
    weeks: str = DEFAULT_WEEKS,
) -> HTMLResponse:
    """Speed to lead of the prospects qualified in the last 30 days (an agent's: their own)."""

    def build(
        session: Session, _since: datetime, _until: datetime, now: datetime
    ) -> dict[str, Any]:
        # The window of `leadsift speed report`, whatever the period: the service reads every
        # qualification of its window (an index range), not a year of them.
        since = now - timedelta(days=SPEED_DAYS)
        return {"figures": figures.speed_figures(session, page, since, now), "days": SPEED_DAYS}

    return _section(request, weeks, "dashboard_speed.html", (), build)


@router.get("/dashboard/waiting")
def waiting_section(
    request: Request,
    page: Annotated[SessionCaller, Depends(signed_in())],
    weeks: str = DEFAULT_WEEKS,
) -> HTMLResponse:
    """Qualified prospects nobody has touched beyond the SLA, that the caller may see."""

    def build(
        session: Session, _since: datetime, _until: datetime, now: datetime
    ) -> dict[str, Any]:
        return {
            "figures": figures.waiting_figures(session, page, now),
            "shown": figures.WAITING_SHOWN,
        }

    return _section(request, weeks, "dashboard_waiting.html", (), build)
