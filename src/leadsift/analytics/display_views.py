"""What the dashboard and the report pages share: reading over fresh rollups, a report's table
cells and its Chart.js configuration, and the French of the reports' headings."""

from __future__ import annotations

import numbers
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, TypeVar

from sqlalchemy.orm import Session

from leadsift.analytics import agent_days, attribution_report, rollups
from leadsift.analytics.rendering import ColumnKind, Report, defined_number, format_minutes
from leadsift.db import Database
from leadsift.web.i18n import add_french

T = TypeVar("T")
Refresh = Callable[[Session, datetime], object]
# A bar chart of more rows than this shows the first ones (the table below has them all).
CHART_BARS: Final = 40
# Cells whose text comes from a fixed vocabulary (stage and step names), so it is translated.
TRANSLATED_COLUMNS: Final = frozenset({"stage", "step", "last_active", "model"})
COLOURS: Final = ("#0b57d0", "#116329", "#a40e26", "#7d4e00")
# How old the rollups' last pass may be for a page to read them as they are: the worker passes
# every minute, so with it running no page waits for a refresh, and figures are at most about
# a minute behind (events past the event-day cursor are added by the reports themselves).
FRESH_FOR: Final = timedelta(minutes=2)
# The mark each refresh leaves when it passes.
_MARKS: Final[dict[Refresh, str]] = {
    rollups.refresh: rollups.REFRESHED,
    attribution_report.refresh: attribution_report.REFRESHED,
    agent_days.refresh: agent_days.REFRESHED,
}
# One refresh at a time in this process: the dashboard's sections load together, and two
# concurrent passes on PostgreSQL would both read the same cursor (and add the same events).
_REFRESHING = threading.Lock()

add_french(
    {
        # Stages, steps and reasons as the reports name them.
        "contacts": "contacts",
        "leads": "leads",
        "qualified": "qualifiés",
        "customers": "clients",
        "unqualified": "non qualifiés",
        "lost": "perdus",
        "entered → lead": "entrée → lead",
        "lead → qualified": "lead → qualifié",
        "qualified → customer": "qualifié → client",
        "last 7 days": "7 derniers jours",
        "8–30 days": "8 à 30 jours",
        "31–90 days": "31 à 90 jours",
        "older": "plus ancienne",
        "no activity": "aucune activité",
        # Column headings of the reports.
        "group": "groupe",
        "→ lead": "→ lead",
        "→ qualified": "→ qualifié",
        "→ customer": "→ client",
        "overall": "global",
        "in progress": "en cours",
        "days to convert (median)": "jours pour convertir (médiane)",
        "days to convert (p90)": "jours pour convertir (p90)",
        "stage": "étape",
        "step conversion": "conversion de l'étape",
        "of all contacts": "sur tous les contacts",
        "step": "étape",
        "contacts who made it": "contacts arrivés",
        "median (days)": "médiane (jours)",
        "p90 (days)": "p90 (jours)",
        "reason": "raison",
        "campaign": "campagne",
        "channel": "canal",
        "source": "source",
        "cost": "coût",
        "messages sent": "messages envoyés",
        "purchases": "achats",
        "revenue": "chiffre d'affaires",
        "cost / lead": "coût / lead",
        "cost / qualified": "coût / qualifié",
        "cost / customer": "coût / client",
        "ROI": "ROI",
        "return on ad spend": "retour sur dépenses publicitaires",
        "touch": "point de contact",
        "first touch: conversions": "premier contact : conversions",
        "first touch: revenue": "premier contact : chiffre d'affaires",
        "last touch: conversions": "dernier contact : conversions",
        "last touch: revenue": "dernier contact : chiffre d'affaires",
        "linear: conversions": "linéaire : conversions",
        "linear: revenue": "linéaire : chiffre d'affaires",
        "position based: conversions": "selon la position : conversions",
        "position based: revenue": "selon la position : chiffre d'affaires",
        "time decay: conversions": "décroissance temporelle : conversions",
        "time decay: revenue": "décroissance temporelle : chiffre d'affaires",
        "conversion": "conversion",
        "when": "quand",
        "model": "modèle",
        "credit": "crédit",
        "revenue credited": "chiffre d'affaires attribué",
        "touches": "points de contact",
        "segment": "segment",
        "treated": "ciblés",
        "control": "témoins",
        "visits (treated)": "visites (ciblés)",
        "visits (control)": "visites (témoins)",
        "visit lift": "gain de visites",
        "conversion (treated)": "conversion (ciblés)",
        "conversion (control)": "conversion (témoins)",
        "conversion lift": "gain de conversion",
        "lift low (95 %)": "gain bas (95 %)",
        "lift high (95 %)": "gain haut (95 %)",
        "revenue/contact (treated)": "CA/contact (ciblés)",
        "revenue/contact (control)": "CA/contact (témoins)",
        "revenue lift/contact": "gain de CA/contact",
        "low (95 %)": "bas (95 %)",
        "high (95 %)": "haut (95 %)",
        "incremental conversions": "conversions supplémentaires",
        "incremental revenue": "chiffre d'affaires supplémentaire",
        "do not contact": "ne pas contacter",
        "sent": "envoyés",
        "opened": "ouverts",
        "clicked": "cliqués",
        "replied": "réponses",
        "unsubscribed": "désabonnements",
        "bounced": "rebonds",
        "open rate": "taux d'ouverture",
        "click rate": "taux de clic",
        "unsubscribe rate": "taux de désabonnement",
        "agent": "agent",
        "team": "équipe",
        "prospects": "prospects",
        "open now": "ouverts",
        "touched": "contactés",
        "calls": "appels",
        "won": "gagnés",
        "win rate": "taux de réussite",
        "contact": "contact",
        "interest": "intérêt",
        "last activity": "dernière activité",
        "within SLA": "dans le délai",
        "median": "médiane",
        "p90": "p90",
        "waiting beyond the SLA": "en attente au-delà du délai",
        "qualified at": "qualifié le",
        "waiting": "attente",
        "owner": "responsable",
        "total": "total",
    }
)


def read_fresh(
    database: Database, now: datetime, refreshes: Sequence[Refresh], build: Callable[[Session], T]
) -> T:
    """BUILD over rollups fresh enough: as they are when a pass brought them up to date less
    than FRESH_FOR ago (the worker does every minute), else brought up to date first, as the
    CLI's reports do (a workspace without a worker running).

    The refresh runs in its own short writing transaction; the report then reads, taking the
    rollups as they are (its services' own refresh does nothing), without holding SQLite's
    write lock, so events keep flowing while it reads.
    """
    if refreshes:
        with database.unit_of_work(read_only=True) as session:
            needed = [_needed(session, refresh, now) for refresh in refreshes]
        stale = [refresh for refresh in needed if refresh is not None]
        if stale:
            with _REFRESHING, database.unit_of_work() as session:
                for refresh in stale:
                    refresh(session, now)
    with database.unit_of_work(read_only=True) as session:
        rollups.prepare(session)  # no JIT (the refresh that turned it off is skipped)
        rollups.read_as_they_are(session)
        return build(session)


def _needed(session: Session, refresh: Refresh, now: datetime) -> Refresh | None:
    """What a page runs before reading: REFRESH when its last pass is FRESH_FOR old or more (or
    unknown), else for the funnel the stage changes alone when some wait (a new customer shows
    on the next page), else nothing."""
    mark = _MARKS.get(refresh)
    if mark is None or not rollups.refreshed_within(session, mark, now, FRESH_FOR):
        return refresh
    # Stage changes the funnel takes in at once (a sale shows on the next view), alone: the
    # events wait for the pass. Not the agents' days: counted again whole (1.5 s at 1M
    # contacts), that would be on nearly every view of a busy workspace.
    if refresh is rollups.refresh and rollups.moves_waiting(session):
        return rollups.take_moves
    return None


@dataclass(frozen=True)
class Cell:
    """One table cell: its value (a number or text), how it reads, and a link when it has one."""

    value: object
    kind: ColumnKind
    href: str | None = None
    translated: bool = False

    @property
    def numeric(self) -> bool:
        """Right-aligned (every kind but text)."""
        return self.kind != "text"


@dataclass(frozen=True)
class Table:
    """A report as the page shows it: headings, cells, notes and the money's currency."""

    headings: tuple[tuple[str, bool], ...]
    rows: tuple[tuple[Cell, ...], ...]
    notes: tuple[str, ...]
    currency: str


def _value(value: object, kind: ColumnKind) -> object:
    if kind == "text":
        return "" if value is None else str(value)
    number = defined_number(value)
    if number is None:
        return None
    # Counts and whole numbers keep no decimals; Decimals and floats become floats.
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return float(value) if isinstance(value, Decimal) else number


def _href(key: str, value: object) -> str | None:
    # Contact ids link to the contact's page (which applies who may see it).
    if key in ("contact_id", "contact") and isinstance(value, int) and not isinstance(value, bool):
        return f"/contacts/{value}"
    return None


def table_of(report: Report) -> Table:
    """REPORT's headings and cells, with raw values for the page to format in its language."""
    rows = tuple(
        tuple(
            Cell(
                _value(row.get(column.key), column.kind),
                column.kind,
                _href(column.key, row.get(column.key)),
                column.key in TRANSLATED_COLUMNS,
            )
            for column in report.columns
        )
        for row in report.rows
    )
    headings = tuple((column.label, column.kind != "text") for column in report.columns)
    return Table(headings, rows, report.notes, report.currency)


def minutes_text(value: float, language: str) -> str:
    """Minutes as the reports write them ("1 h 05 min", "3 d 4 h"), in LANGUAGE."""
    text = format_minutes(value)
    if language != "fr":
        return text
    return text.replace(",", "\u202f").replace(" d ", " j ")


def _chart_number(value: object, kind: ColumnKind) -> float | None:
    number = defined_number(value)
    if number is None:
        return None
    # Rates are drawn as percentages, as their cells read.
    return round(number * 100, 2) if kind == "rate" else round(number, 2)


def chart_of(report: Report, translate: Callable[..., str]) -> dict[str, Any] | None:
    """The Chart.js configuration of REPORT's chart (as the CLI draws it), None without one."""
    spec = report.chart
    if spec is None or not report.rows:
        return None
    value_column = report.column(spec.value_key)
    rows = report.rows[:CHART_BARS]
    labels = [str(row.get(spec.label_key) or "") for row in rows]
    if spec.kind == "funnel":
        labels = [translate(label) for label in labels]
    unit = " (%)" if value_column.kind == "rate" else ""
    return {
        "type": "bar",
        "data": {
            "labels": labels,
            "datasets": [
                {
                    "label": translate(value_column.label) + unit,
                    "data": [
                        _chart_number(row.get(spec.value_key), value_column.kind) for row in rows
                    ],
                    "backgroundColor": COLOURS[0],
                    "maxBarThickness": 64,
                }
            ],
        },
        "options": {"indexAxis": "y" if spec.kind == "funnel" else "x"},
    }


def lines_chart(
    labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]]
) -> dict[str, Any]:
    """A Chart.js line chart: one line per (label, values) over LABELS."""
    return {
        "type": "line",
        "data": {
            "labels": list(labels),
            "datasets": [
                {
                    "label": name,
                    "data": list(values),
                    "borderColor": COLOURS[index % len(COLOURS)],
                    "backgroundColor": COLOURS[index % len(COLOURS)],
                }
                for index, (name, values) in enumerate(series)
            ],
        },
        "options": {"scales": {"y": {"beginAtZero": True}}},
    }
