"""The page of one campaign: details, audience, delivery figures, and the actions the CLI has
(`campaign schedule|pause|resume`), calling the same services."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from leadsift.access.schemas import Role
from leadsift.access.sessions import SessionCaller
from leadsift.errors import ConflictError, InvalidInputError, LeadsiftError, NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import database_of, reading_session
from leadsift.outreach import campaign_repository, campaigns
from leadsift.outreach.gate import LEGAL_TIME_ZONE
from leadsift.outreach.models import Campaign
from leadsift.outreach.schemas import CampaignView
from leadsift.segments import service as segments
from leadsift.web.auth import signed_in
from leadsift.web.i18n import add_french
from leadsift.web.templating import render

router = APIRouter(include_in_schema=False)
# Campaigns message the whole workspace: admins and managers run them, agents do not.
MANAGING: Final = signed_in({Role.ADMIN, Role.MANAGER})
Managing = Annotated[SessionCaller, Depends(MANAGING)]
Reading = Annotated[Session, Depends(reading_session)]
DETAIL: Final = "outreach/templates/campaign.html"
# Outbox statuses of messages still to go (claimed: a worker holds it right now).
WAITING: Final = ("pending", "claimed", "held")
# Handed to the mail server or gateway (an ambiguous one left without a final answer).
HANDED_OVER: Final = ("sent", "bounced", "ambiguous")

add_french(
    {
        "Campaign": "Campagne",
        "All campaigns": "Toutes les campagnes",
        "Status": "Statut",
        "Channel": "Canal",
        "Audience": "Public",
        "Target": "Cible",
        "Steps": "Étapes",
        "Control group": "Groupe témoin",
        "Throttle": "Cadence",
        "per hour": "par heure",
        "none": "aucune",
        "No program": "Aucun programme",
        "Tracked link": "Lien suivi",
        "Promo program": "Programme promo",
        "Created": "Créée le",
        "Starts at": "Début",
        "Message": "Message",
        "Step {n}, {delay} after the previous one": "Étape {n}, {delay} après la précédente",
        "First message": "Premier message",
        "Subject:": "Objet :",
        "Text": "Texte",
        "default language": "langue par défaut",
        "Contacts matching the target now": "Contacts correspondant à la cible maintenant",
        "Decided when the campaign was scheduled": "Décidé à la programmation de la campagne",
        "Recipients": "Destinataires",
        "Held out (control group)": "Mis de côté (groupe témoin)",
        "Skipped: {reason}": "Écartés : {reason}",
        "Schedule": "Programmer",
        "Start at (Paris time)": "Début (heure de Paris)",
        "Launch now": "Lancer maintenant",
        "Scheduling decides the recipients at once (consent, control group, pace) and queues "
        "their messages; the worker (leadsift worker) sends them from the start time.": (
            "La programmation décide tout de suite des destinataires (consentement, groupe "
            "témoin, cadence) et met leurs messages en file ; le worker (leadsift worker) les "
            "envoie à partir de l'heure de début."
        ),
        "Pause": "Mettre en pause",
        "Resume": "Reprendre",
        "Delivery": "Distribution",
        "Waiting to be sent": "En attente d'envoi",
        "Sent": "Envoyés",
        "Delivered (accepted by the server)": "Distribués (acceptés par le serveur)",
        "Bounced": "Rejetés",
        "Failed": "Échecs",
        "Skipped when sending": "Écartés à l'envoi",
        "Unknown fate (ambiguous)": "Sort inconnu (ambigus)",
        "Stopped (sequence)": "Arrêtés (séquence)",
        "Messages by step and status": "Messages par étape et statut",
        "Step": "Étape",
        "Messages": "Messages",
        "Reasons": "Motifs",
        "Reason": "Raison",
        "Results": "Résultats",
        "Lift against the control group": "Gain par rapport au groupe témoin",
        "Revenue, cost and ROI by campaign": "Chiffre d'affaires, coût et ROI par campagne",
        "History": "Historique",
        "When": "Quand",
        "From": "De",
        "To": "Vers",
        "By": "Par",
        "Loading…": "Chargement…",
        "Show opens, clicks and redemptions": "Afficher ouvertures, clics et utilisations",
        "Start at: give a date and time, or launch now": (
            "Début : indiquez une date et une heure, ou lancez maintenant"
        ),
    }
)


def campaign_by_id(session: Session, campaign_id: int) -> Campaign:
    """The campaign CAMPAIGN_ID, or the 404 page."""
    found = campaign_repository.campaigns_by_id(session, [campaign_id]).get(campaign_id)
    if found is None:
        raise NotFoundError(f"no campaign {campaign_id}: see the list of campaigns")
    return found


def delivery_figures(view: CampaignView) -> dict[str, int]:
    """A campaign's messages by what became of them, every step together."""
    totals: Counter[str] = Counter()
    for statuses in view.outbox.values():
        totals.update(statuses)
    return {
        "waiting": sum(totals[s] for s in WAITING),
        "sent": sum(totals[s] for s in HANDED_OVER),
        "delivered": totals["sent"],
        "bounced": totals["bounced"],
        "failed": totals["failed"],
        "skipped": totals["skipped"],
        "ambiguous": totals["ambiguous"],
        "stopped": totals["stopped"],
        "control": totals["control"],
    }


def first_reached(view: CampaignView) -> int:
    """People the first message reached (one first message per person)."""
    return view.outbox.get("0", {}).get("sent", 0)


def parse_start(text: str) -> datetime:
    """A start time from the form: an ISO date-time, read as Paris time without an offset."""
    text = text.strip()
    if not text:
        raise InvalidInputError("Start at: give a date and time, or launch now")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(
            f"Start at {text!r}: give a date and time such as 2026-12-01T09:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=LEGAL_TIME_ZONE)


def _steps(campaign: Campaign) -> list[dict[str, Any]]:
    steps = []
    for number, step in enumerate(campaign.steps):
        template = step["template"]
        languages = {k: template[k] for k in ("fr", "en") if template.get(k)}
        steps.append(
            {
                "number": number,
                "delay_h": round(int(step["delay_s"]) / 3600, 1),
                "default_language": template.get("default_language"),
                "languages": languages,
            }
        )
    return steps


def detail_context(session: Session, campaign: Campaign, **extra: Any) -> dict[str, Any]:
    """What the campaign page shows (EXTRA: a preview, figures or a message to show)."""
    view = campaigns.view(session, campaign)
    # Counting the target is one pass over the contacts: only while the audience can change.
    audience_now = segments.count(session, campaign.target) if view.status == "draft" else None
    return {
        "campaign_id": campaign.id,
        "campaign": view,
        "steps": _steps(campaign),
        "figures": delivery_figures(view),
        "audience_now": audience_now,
        "local_zone": LEGAL_TIME_ZONE,
        "preview": None,
        "preview_error": None,
        "contact_ref": "",
        "engagement": None,
        "message": None,
        **extra,
    }


def render_detail(
    request: Request, session: Session, campaign: Campaign, status: int = 200, **extra: Any
) -> HTMLResponse:
    """The campaign page."""
    return render(request, DETAIL, detail_context(session, campaign, **extra), status=status)


@router.get("/campaigns/{campaign_id}")
def campaign_page(
    request: Request, campaign_id: int, page: Managing, session: Reading
) -> HTMLResponse:
    """One campaign: details, audience, preview, schedule, delivery figures, history."""
    return render_detail(request, session, campaign_by_id(session, campaign_id))


def _again(request: Request, campaign_id: int, refused: LeadsiftError) -> HTMLResponse:
    # The page again, saying what to fix (a refusal changed nothing: its transaction rolled back).
    with database_of(request).unit_of_work(read_only=True) as session:
        campaign = campaign_by_id(session, campaign_id)
        status = 409 if isinstance(refused, ConflictError) else 422
        return render_detail(request, session, campaign, status, message=refused.message)


@router.post("/campaigns/{campaign_id}/schedule")
def schedule(
    request: Request,
    campaign_id: int,
    page: Managing,
    when: Annotated[str, Form(max_length=10)] = "now",
    at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """`campaign schedule`: decide the recipients and queue their messages (now or AT)."""
    try:
        start = None if when == "now" else parse_start(at)
        with database_of(request).unit_of_work() as session:
            key = campaign_by_id(session, campaign_id).key
            campaigns.schedule(session, key, at=start, now=utcnow(), actor=page.caller.actor)
    except (InvalidInputError, ConflictError) as refused:
        return _again(request, campaign_id, refused)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


def _set_paused(request: Request, campaign_id: int, page: SessionCaller, paused: bool) -> Response:
    try:
        with database_of(request).unit_of_work() as session:
            key = campaign_by_id(session, campaign_id).key
            campaigns.set_paused(session, key, paused=paused, now=utcnow(),
                                 actor=page.caller.actor)  # fmt: skip
    except ConflictError as refused:
        return _again(request, campaign_id, refused)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


@router.post("/campaigns/{campaign_id}/pause")
def pause(request: Request, campaign_id: int, page: Managing) -> Response:
    """`campaign pause`: no new message leaves."""
    return _set_paused(request, campaign_id, page, paused=True)


@router.post("/campaigns/{campaign_id}/resume")
def resume(request: Request, campaign_id: int, page: Managing) -> Response:
    """`campaign resume`: send again."""
    return _set_paused(request, campaign_id, page, paused=False)
