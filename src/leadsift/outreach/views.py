"""The outreach pages: the campaigns (this module: the list and the form of a new one, what
`campaign create` takes, checked by the same service), one campaign, its preview and figures,
and promo codes; `router` carries them all (the app includes it once)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from leadsift.errors import ConflictError, InvalidInputError, LeadsiftError, NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import database_of
from leadsift.outreach import campaign_repository, campaigns, promo_repository
from leadsift.outreach.campaign_cli import parse_control, parse_throttle
from leadsift.outreach.campaign_views import Managing, Reading, delivery_figures
from leadsift.outreach.campaign_views import router as campaign_router
from leadsift.outreach.preview_views import router as preview_router
from leadsift.outreach.promo_views import router as promo_router
from leadsift.outreach.schemas import CampaignSpec
from leadsift.outreach.templates import TEMPLATE_NAMES
from leadsift.qualification.stages import Stage
from leadsift.web.i18n import add_french
from leadsift.web.templating import render

router = APIRouter(include_in_schema=False)
FORM: Final = "outreach/templates/campaign_form.html"
# Where the service's messages say a template problem is ("template, fr.text: …").
TEMPLATE_SOURCE: Final = "template"
Subject = Annotated[str, Form(max_length=200)]
Body = Annotated[str, Form(max_length=20_000)]

add_french(
    {
        "Campaigns and promo codes": "Campagnes et codes promo",
        "New campaign": "Nouvelle campagne",
        "Promo codes": "Codes promo",
        "No campaign yet.": "Aucune campagne pour l'instant.",
        "Create the first one": "Créer la première",
        "Campaign": "Campagne",
        "Status": "Statut",
        "Channel": "Canal",
        "Recipients": "Destinataires",
        "Sent": "Envoyés",
        "Delivered": "Distribués",
        "Bounced": "Rejetés",
        "Skipped or failed": "Écartés ou en échec",
        "Waiting": "En attente",
        "not decided yet": "pas encore décidé",
        "draft": "brouillon",
        "scheduled": "programmée",
        "paused": "en pause",
        "Opens, clicks, unsubscribes and redemptions are on each campaign's page; revenue, cost "
        "and lift in the reports.": (
            "Ouvertures, clics, désinscriptions et utilisations de codes sont sur la page de "
            "chaque campagne ; chiffre d'affaires, coût et gain dans les rapports."
        ),
        "Campaign reports": "Rapports des campagnes",
        "Keyboard": "Clavier",
        "Name": "Identifiant",
        "Letters, digits, '_', '.' or '-'; it names the campaign in links, events and reports.": (
            "Lettres, chiffres, « _ », « . » ou « - » ; il nomme la campagne dans les liens, "
            "les événements et les rapports."
        ),
        "Email": "Email",
        "SMS": "SMS",
        "Consumers (B2C)": "Particuliers (B2C)",
        "Businesses (B2B)": "Professionnels (B2B)",
        "Every contact at a stage": "Tous les contacts d'une étape",
        "Contacts matching criteria": "Les contacts correspondant à des critères",
        "Stage": "Étape",
        "Criteria": "Critères",
        'e.g. city = "Lyon" and interest >= 40': 'p. ex. city = "Lyon" and interest >= 40',
        "Template": "Modèle",
        "Default language": "Langue par défaut",
        "French": "Français",
        "English": "Anglais",
        "Subject (French, email only)": "Objet (français, e-mail uniquement)",
        "Text (French)": "Texte (français)",
        "Subject (English, email only)": "Objet (anglais, e-mail uniquement)",
        "Text (English)": "Texte (anglais)",
        "Leave English empty to send French to everyone.": (
            "Laissez l'anglais vide pour envoyer le français à tous."
        ),
        "A template may use:": "Un modèle peut utiliser :",
        "A marketing email needs {{ unsubscribe_url }}.": (
            "Un e-mail commercial doit contenir {{ unsubscribe_url }}."
        ),
        "Marketing message (needs consent and an unsubscribe link)": (
            "Message commercial (consentement et lien de désinscription requis)"
        ),
        "Offer link (tracked per contact, {{ link }} in the template)": (
            "Lien de l'offre (suivi par contact, {{ link }} dans le modèle)"
        ),
        "No promo codes": "Pas de code promo",
        "A personal code per message, {{ promo_code }} in the template": (
            "Un code personnel par message, {{ promo_code }} dans le modèle"
        ),
        "Control group (% held out)": "Groupe témoin (% mis de côté)",
        "Throttle (e.g. 500/h, empty: none)": "Cadence (p. ex. 500/h, vide : aucune)",
        "Options": "Options",
        "All campaigns": "Toutes les campagnes",
        "Audience": "Public",
        "Create the draft": "Créer le brouillon",
        "Cancel": "Annuler",
        "The campaign was not created": "La campagne n'a pas été créée",
    }
)


@dataclass
class CampaignForm:
    """What the form holds: shown empty, or again as typed after a refusal."""

    key: str = ""
    channel: str = "email"
    audience: str = "b2c"
    target_kind: str = "stage"
    stage: str = "lead"
    target: str = ""
    default_language: str = "fr"
    marketing: bool = True
    subject_fr: str = ""
    text_fr: str = ""
    subject_en: str = ""
    text_en: str = ""
    link_url: str = ""
    promo: str = ""
    control: str = "0"
    throttle: str = ""

    def template(self) -> dict[str, Any]:
        """The template document `campaign create --template` would read from a file."""
        document: dict[str, Any] = {
            "channel": self.channel,
            "default_language": self.default_language,
            "marketing": self.marketing,
        }
        for language, subject, text in (
            ("fr", self.subject_fr, self.text_fr),
            ("en", self.subject_en, self.text_en),
        ):
            parts = {k: v for k, v in (("subject", subject), ("text", text)) if v.strip()}
            if parts:
                document[language] = parts
        return document

    def spec(self) -> CampaignSpec:
        """The campaign asked for (options parsed as the CLI parses them)."""
        by_stage = self.target_kind == "stage"
        return CampaignSpec(
            key=self.key.strip(),
            template=self.template(),
            template_source=TEMPLATE_SOURCE,
            target=None if by_stage else (self.target.strip() or None),
            stage=self.stage if by_stage else None,
            audience=self.audience,
            link_url=self.link_url.strip() or None,
            promo=self.promo or None,
            control_percent=parse_control(self.control.strip() or None),
            throttle_per_hour=parse_throttle(self.throttle.strip() or None),
        )


def _form_page(
    request: Request, session: Session, form: CampaignForm, message: str | None, status: int
) -> HTMLResponse:
    values = {
        "form": asdict(form),
        "stages": [s.value for s in Stage],
        "programs": [p.key for p in promo_repository.programs(session)],
        "contact_fields": campaigns.contact_fields(session),
        "template_names": sorted(TEMPLATE_NAMES - {"contact"}),
        "message": message,
    }
    return render(request, FORM, values, status=status)


@router.get("/campaigns/new")
def new_campaign(request: Request, page: Managing, session: Reading) -> HTMLResponse:
    """The form of a new campaign."""
    return _form_page(request, session, CampaignForm(), None, 200)


def _create(request: Request, form: CampaignForm, actor: str) -> int:
    with database_of(request).unit_of_work() as session:
        view = campaigns.create(session, form.spec(), utcnow(), actor=actor)
        created = campaign_repository.campaign_by_key(session, view.key)
        assert created is not None  # noqa: S101 — stored just above, same transaction
        return created.id


@router.post("/campaigns")
def create_campaign(  # noqa: PLR0917 — one parameter per form field
    request: Request,
    page: Managing,
    key: Annotated[str, Form(max_length=100)] = "",
    channel: Annotated[str, Form(max_length=10)] = "email",
    audience: Annotated[str, Form(max_length=10)] = "b2c",
    target_kind: Annotated[str, Form(max_length=10)] = "stage",
    stage: Annotated[str, Form(max_length=20)] = "lead",
    target: Annotated[str, Form(max_length=5_000)] = "",
    default_language: Annotated[str, Form(max_length=5)] = "fr",
    marketing: Annotated[bool, Form()] = False,
    subject_fr: Subject = "",
    text_fr: Body = "",
    subject_en: Subject = "",
    text_en: Body = "",
    link_url: Annotated[str, Form(max_length=2_000)] = "",
    promo: Annotated[str, Form(max_length=100)] = "",
    control: Annotated[str, Form(max_length=20)] = "0",
    throttle: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """`campaign create`: a checked draft, or the form again with what to fix."""
    form = CampaignForm(
        key, channel, audience, target_kind, stage, target, default_language, marketing,
        subject_fr, text_fr, subject_en, text_en, link_url, promo, control, throttle,
    )  # fmt: skip
    try:
        campaign_id = _create(request, form, page.caller.actor)
    except (InvalidInputError, ConflictError, NotFoundError) as refused:
        return _refused(request, form, refused)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


def _refused(request: Request, form: CampaignForm, refused: LeadsiftError) -> HTMLResponse:
    status = 409 if isinstance(refused, ConflictError) else 422
    with database_of(request).unit_of_work(read_only=True) as session:
        return _form_page(request, session, form, refused.message, status)


@router.get("/campaigns")
def campaign_list(request: Request, page: Managing, session: Reading) -> HTMLResponse:
    """Every campaign with its status, audience and delivery figures."""
    rows = []
    for campaign in campaign_repository.campaigns(session):
        view = campaigns.view(session, campaign)
        rows.append({"id": campaign.id, "view": view, "figures": delivery_figures(view)})
    return render(request, "outreach/templates/campaigns.html", {"rows": rows})


# After /campaigns/new above: /campaigns/{campaign_id} would take "new" for an id.
router.include_router(campaign_router)
router.include_router(preview_router)
router.include_router(promo_router)
