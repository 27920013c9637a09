"""The contact page: identity, consent with its ledger, stage history with the explanation of
every change, score breakdowns (fit, interest, the model's contributions), the event timeline,
messages and promo codes, owner and calls — from the services behind `explain`, `events list`,
`consent show` and `gdpr export`. A contact the user may not see is answered as a missing one."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access.sessions import SessionCaller
from leadsift.agents import call_repository
from leadsift.contacts import lookup
from leadsift.engagement import service as engagement
from leadsift.errors import NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import ContactId, reading_session, settings_of
from leadsift.outreach import campaign_repository, consent, gdpr_repository, promo_repository
from leadsift.outreach.consent import ConsentView
from leadsift.outreach.gate import CHANNELS
from leadsift.qualification import service as qualification
from leadsift.scoring import service as scoring
from leadsift.web.auth import signed_in
from leadsift.web.i18n import add_french
from leadsift.web.templating import render

router = APIRouter(include_in_schema=False)
# The timeline shows the newest events first, 50 more at each "older events".
EVENTS_PAGE: Final = 50
MAX_EVENTS: Final = 1_000
CALLS_SHOWN: Final = 20

add_french(
    {
        "Contact {id}": "Contact {id}",
        "Back to the contacts": "Retour aux contacts",
        "Identity": "Identité",
        "Email": "Email",
        "Phone": "Téléphone",
        "Phone as imported": "Téléphone tel qu'importé",
        "Full name": "Nom",
        "Company": "Société",
        "Job title": "Fonction",
        "Birth date": "Date de naissance",
        "Age": "Âge",
        "Address": "Adresse",
        "Region": "Région",
        "Source": "Origine",
        "External id": "Identifiant externe",
        "Attributes": "Attributs",
        "Attribute": "Attribut",
        "Value": "Valeur",
        "Consent": "Consentement",
        "Consent ({audience})": "Consentement ({audience})",
        "Audience": "Public",
        "Channel": "Canal",
        "Since": "Depuis",
        "Suppressed": "Liste d'opposition",
        "May send": "Envoi permis",
        "Why": "Pourquoi",
        "granted": "accordé",
        "withdrawn": "retiré",
        "never stated": "jamais exprimé",
        "Consent history": "Historique du consentement",
        "When": "Quand",
        "Answer": "Réponse",
        "Wording": "Formulation",
        "Stage": "Étape",
        "Stage history": "Historique des étapes",
        "From": "De",
        "To": "À",
        "Reason": "Raison",
        "Explanation": "Explication",
        "No stage change yet.": "Aucun changement d'étape pour l'instant.",
        "No explanation recorded.": "Aucune explication enregistrée.",
        "Playbook {name}": "Playbook {name}",
        "Eligibility:": "Éligibilité :",
        "Criterion": "Critère",
        "Result": "Résultat",
        "Missing information:": "Informations manquantes :",
        "Fit {total}": "Adéquation {total}",
        "Fit rule": "Règle d'adéquation",
        "Points": "Points",
        "Earned": "Obtenus",
        "unknown": "inconnu",
        "yes": "oui",
        "no": "non",
        "Qualify rule:": "Règle de qualification :",
        "Fit": "Adéquation",
        "Interest": "Intérêt",
        "Interest {value} (half-life {half_life})": "Intérêt {value} (demi-vie {half_life})",
        "Rule": "Règle",
        "Event": "Événement",
        "Events: {n}": "Événements : {n}",
        "Decayed": "Après décroissance",
        "capped at {cap}": "plafonné à {cap}",
        "Hands raised:": "Mains levées :",
        "campaign {key}": "campagne {key}",
        "amount {amount}": "montant {amount}",
        "A lead since {since} with no interest for {delay}.":
            "Lead depuis {since} sans intérêt pendant {delay}.",
        "Note:": "Note :",
        "Event:": "Événement :",
        "Reason:": "Raison :",
        "By:": "Par :",
        "Scores": "Scores",
        "Last evaluation: {playbook} v{version}, {outcome} ({reason})":
            "Dernière évaluation : {playbook} v{version}, {outcome} ({reason})",
        "Never evaluated against a playbook.": "Jamais évalué par un playbook.",
        "No interest rules in the active playbook.":
            "Le playbook actif n'a pas de règles d'intérêt.",
        "Prediction": "Prédiction",
        "Probability {probability}, priority {priority} (model {model}, {kind})":
            "Probabilité {probability}, priorité {priority} (modèle {model}, {kind})",
        "Contributions in log-odds, from a base of {base}":
            "Contributions en log-odds, à partir d'une base de {base}",
        "Feature": "Variable",
        "Contribution": "Contribution",
        "Other features": "Autres variables",
        "Contributions of the features": "Contributions des variables",
        "No active model: `leadsift model train` makes one.":
            "Aucun modèle actif : `leadsift model train` en crée un.",
        "Events": "Événements",
        "Type": "Type",
        "Campaign": "Campagne",
        "Details": "Détails",
        "No event yet.": "Aucun événement pour l'instant.",
        "Older events": "Événements plus anciens",
        "Messages": "Messages",
        "Step": "Étape",
        "Status": "Statut",
        "No message yet.": "Aucun message pour l'instant.",
        "Promo codes": "Codes promo",
        "Code": "Code",
        "Program": "Programme",
        "Issued": "Émis",
        "Redeemed": "Utilisé",
        "Amount": "Montant",
        "No promo code.": "Aucun code promo.",
        "Owner and calls": "Responsable et appels",
        "Owner": "Responsable",
        "{name} (team queue)": "{name} (file de l'équipe)",
        "Nobody works this contact yet.": "Personne ne suit ce contact pour l'instant.",
        "assigned by {by} on {at} ({rule})": "attribué par {by} le {at} ({rule})",
        "Outcome": "Résultat",
        "Agent": "Agent",
        "No call yet.": "Aucun appel pour l'instant.",
    }
)  # fmt: skip


def _consent_rows(view: ConsentView) -> list[dict[str, Any]]:
    """Per channel: the consent now, suppression, and whether the gate lets a message go."""
    rows = []
    for channel in CHANNELS:
        state = view.states.get(channel)
        decision = view.decisions[channel]
        rows.append(
            {
                "channel": channel,
                "granted": state.granted if state is not None else None,
                "since": state.since if state is not None else None,
                "source": state.source if state is not None else None,
                "suppressed": view.suppressed.get(channel) or view.suppressed.get("all"),
                "allowed": decision.allowed,
                "why": decision.message,
            }
        )
    return rows


def _outreach(session: Session, contact_id: int) -> dict[str, Any]:
    """Messages and promo codes, newest first, from what `gdpr export` reads of the person."""
    data = gdpr_repository.contact_data(session, contact_id) or {}
    messages = sorted(data.get("messages", []), key=lambda m: m["id"], reverse=True)
    codes = sorted(data.get("codes", []), key=lambda c: c["id"], reverse=True)
    ids = {m["campaign_id"] for m in messages} | {c["campaign_id"] for c in codes}
    found = campaign_repository.campaigns_by_id(session, sorted(i for i in ids if i))
    keys = {campaign_id: campaign.key for campaign_id, campaign in found.items()}
    programs = {p.id: p.key for p in promo_repository.programs(session)} if codes else {}
    return {
        "messages": [{**m, "campaign": keys.get(m["campaign_id"])} for m in messages],
        "codes": [
            {**c, "campaign": keys.get(c["campaign_id"]), "program": programs.get(c["program_id"])}
            for c in codes
        ],
    }


def _owner(session: Session, contact_id: int) -> dict[str, Any] | None:
    """Who works the contact: a user or a team's queue, with the rule that chose them."""
    owner = access_repository.owner_of(session, contact_id)
    if owner is None:
        return None
    name, team = None, False
    if owner.user_id is not None:
        user = access_repository.get_user(session, owner.user_id)
        name = user.name if user is not None else None
    else:
        found = [t.name for t in access_repository.teams(session) if t.id == owner.team_id]
        name, team = (found[0] if found else None), True
    return {
        "name": name,
        "team": team,
        "rule": owner.rule,
        "assigned_by": owner.assigned_by,
        "assigned_at": owner.assigned_at,
    }


def _prediction_chart(prediction: dict[str, Any] | None) -> dict[str, Any] | None:
    """A horizontal bar per feature's contribution (the table beside it says the same)."""
    if not prediction or not prediction["contributions"]:
        return None
    items = prediction["contributions"]
    return {
        "type": "bar",
        "data": {
            "labels": [item["feature"] for item in items],
            "datasets": [
                {"label": "log-odds", "data": [round(item["contribution"], 4) for item in items]}
            ],
        },
        "options": {"indexAxis": "y", "plugins": {"legend": {"display": False}}},
    }


# Included after the list's router: /contacts/count must match before this route.
@router.get("/contacts/{contact_id}")
def contact_page(
    contact_id: ContactId,
    request: Request,
    page: Annotated[SessionCaller, Depends(signed_in())],
    session: Annotated[Session, Depends(reading_session)],
    *,
    events: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = EVENTS_PAGE,
    audience: Annotated[Literal["b2c", "b2b"], Query()] = "b2c",
) -> HTMLResponse:
    """One contact the user may see (404 otherwise, exactly as for one that does not exist)."""
    if not engagement.contact_exists(session, contact_id) or not access_repository.is_visible(
        session, page.caller, contact_id
    ):
        raise NotFoundError(f"no contact {contact_id}")
    now = utcnow()
    contact = lookup.get_contact(session, contact_id)
    explanation = qualification.explain(
        session, str(contact_id), settings_of(request).default_region
    )
    prediction = scoring.explain(session, contact_id, now)
    # The newest EVENTS (one more says whether older ones exist), shown newest first.
    timeline = engagement.timeline(session, contact_id, events + 1)
    newest = list(reversed(timeline))
    consent_view = consent.show(session, contact_id, audience=audience, now=now)
    name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
    context = {
        "title": name or contact.email or contact.phone or f"#{contact_id}",
        "contact": contact,
        "explanation": explanation,
        "history": list(reversed(explanation.history)),
        "prediction": prediction,
        "prediction_chart": _prediction_chart(prediction),
        "audience": audience,
        "consent_rows": _consent_rows(consent_view),
        "ledger": list(reversed(consent_view.ledger)),
        "events": newest[:events],
        "older_events": (
            min(events + EVENTS_PAGE, MAX_EVENTS)
            if len(newest) > events and events < MAX_EVENTS
            else None
        ),
        "owner": _owner(session, contact_id),
        "calls": call_repository.touches_of(session, contact_id, CALLS_SHOWN),
        **_outreach(session, contact_id),
    }
    return render(request, "pages/templates/contact.html", context)
