"""Parts of the campaign page loaded by htmx: a contact's message as it would be sent (the CLI's
`campaign preview`), and who opened, clicked, left or redeemed a code. Without htmx the same
URLs answer with the whole campaign page."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from leadsift.contacts import lookup
from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import database_of, settings_of
from leadsift.outreach import campaigns
from leadsift.outreach.campaign_cli import sending
from leadsift.outreach.campaign_views import (
    Managing,
    Reading,
    campaign_by_id,
    first_reached,
    render_detail,
)
from leadsift.outreach.models import Campaign
from leadsift.outreach.schemas import Preview
from leadsift.segments import service as segments
from leadsift.web.i18n import add_french, translator
from leadsift.web.templating import language_of, render

router = APIRouter(include_in_schema=False)
PREVIEW: Final = "outreach/templates/campaign_preview.html"
ENGAGEMENT: Final = "outreach/templates/campaign_engagement.html"
# Who did what after the campaign, counted once per person with the criteria language over the
# events naming the campaign (opens and clicks come from the tracking pixel and links, leaving
# from the unsubscribe link or STOP, redemptions from `promo redeem`). Keys are campaign keys:
# letters, digits, '_', '.', '-' only, so they sit in a string literal as they are. A tracked
# link's click is `email_clicked` whatever the channel that carried it.
_PEOPLE: Final = {
    "opened": ('count(email_opened where campaign = "{key}") > 0', ("email",)),
    "clicked": ('count(email_clicked where campaign = "{key}") > 0', ("email", "sms")),
    "unsubscribed": (
        'count(email_unsubscribed where campaign = "{key}") > 0 '
        'or count(sms_stop where campaign = "{key}") > 0',
        ("email", "sms"),
    ),
    "redeemed": (
        'count(purchase where campaign = "{key}" and source = "promo") > 0',
        ("email", "sms"),
    ),
}
_LABELS: Final = {
    "reached": "People the first message reached",
    "opened": "Opened",
    "clicked": "Clicked",
    "unsubscribed": "Unsubscribed",
    "redeemed": "Redeemed a code",
}

add_french(
    {
        "Preview for a contact": "Aperçu pour un contact",
        "Contact id or email": "Identifiant ou e-mail du contact",
        "Preview": "Aperçu",
        "Preview of the message for contact {id}": "Aperçu du message pour le contact {id}",
        "Would be sent": "Serait envoyé",
        "Would be skipped": "Serait écarté",
        "Language:": "Langue :",
        "Subject:": "Objet :",
        "HTML part": "Partie HTML",
        "Who would get it": "Qui le recevrait",
        "e.g. skipped:": "par exemple, écartés :",
        "Opens, clicks and redemptions": "Ouvertures, clics et utilisations",
        "People the first message reached": "Personnes atteintes par le premier message",
        "Opened": "Ont ouvert",
        "Clicked": "Ont cliqué",
        "Unsubscribed": "Se sont désinscrits",
        "Redeemed a code": "Ont utilisé un code",
        "People": "Personnes",
        "Share of the people reached": "Part des personnes atteintes",
        "People who acted after the campaign": "Personnes ayant réagi à la campagne",
        "Counted once per person, from the events naming this campaign.": (
            "Comptés une fois par personne, d'après les événements qui nomment cette campagne."
        ),
    }
)


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


@router.post("/campaigns/{campaign_id}/preview")
def preview(
    request: Request,
    campaign_id: int,
    page: Managing,
    contact: Annotated[str, Form(max_length=320)] = "",
) -> HTMLResponse:
    """A contact's message rendered as the worker would send it, and whether it would go."""
    settings = settings_of(request)
    result: Preview | None = None
    problem = None
    # Nothing is written (the CLI's preview runs the same way): the secrets a first preview
    # creates go with the rollback and are made again by the first real send.
    with database_of(request).unit_of_work(dry_run=True) as session:
        campaign = campaign_by_id(session, campaign_id)
        try:
            contact_id = lookup.find_visible_contact(
                session, page.caller, contact, settings.default_region
            )
            result = campaigns.preview(
                session, campaign.key, contact_id, sending(settings), utcnow()
            )
        except (NotFoundError, InvalidInputError) as refused:
            problem = refused.message
        values: dict[str, Any] = {"preview": result, "preview_error": problem}
        if _is_htmx(request):
            # htmx swaps only successful answers in: the message goes in as the preview.
            return render(request, PREVIEW, {"campaign_id": campaign_id, **values})
        status = 200 if problem is None else 422
        return render_detail(request, session, campaign, status, contact_ref=contact, **values)


def people_figures(session: Session, campaign: Campaign) -> dict[str, int | None]:
    """How many people opened, clicked, unsubscribed and redeemed a code after CAMPAIGN (None
    where the channel or the campaign cannot have any)."""
    figures: dict[str, int | None] = {}
    for name, (expression, channels) in _PEOPLE.items():
        possible = campaign.channel in channels
        if name == "redeemed":
            possible = campaign.promo_program_id is not None
        count = segments.count(session, expression.format(key=campaign.key)) if possible else None
        figures[name] = count
    return figures


def engagement_context(session: Session, campaign: Campaign, language: str) -> dict[str, Any]:
    """The people figures, their share of the people the first message reached, and a chart of
    them (labels in LANGUAGE)."""
    translate = translator(language)
    reached = first_reached(campaigns.view(session, campaign))
    rows = [
        {"label": _LABELS[name], "people": n, "share": n / reached if reached else None}
        for name, n in people_figures(session, campaign).items()
        if n is not None
    ]
    chart = {
        "type": "bar",
        "data": {
            "labels": [translate(_LABELS["reached"]), *(translate(r["label"]) for r in rows)],
            "datasets": [
                {"label": translate("People"), "data": [reached, *(r["people"] for r in rows)]}
            ],
        },
        "options": {"plugins": {"legend": {"display": False}}},
    }
    return {"reached": reached, "rows": rows, "chart": chart}


@router.get("/campaigns/{campaign_id}/engagement")
def engagement(
    request: Request, campaign_id: int, page: Managing, session: Reading
) -> HTMLResponse:
    """Who opened, clicked, unsubscribed or redeemed a code after the campaign."""
    campaign = campaign_by_id(session, campaign_id)
    figures = engagement_context(session, campaign, language_of(request))
    values = {"campaign_id": campaign_id, "engagement": figures}
    if _is_htmx(request):
        return render(request, ENGAGEMENT, values)
    return render_detail(request, session, campaign, engagement=figures)
