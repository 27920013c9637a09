"""The promo codes page: programs and their redemptions, the campaigns that issue their codes
(one personal code per message), and the CLI's `promo program create` and `promo redeem`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from leadsift.access.schemas import Role
from leadsift.access.sessions import SessionCaller
from leadsift.contacts import lookup
from leadsift.errors import ConflictError, InvalidInputError, LeadsiftError, NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import database_of, settings_of
from leadsift.outreach import campaign_repository, campaigns, promo, promo_repository
from leadsift.outreach.campaign_views import Managing, Reading, delivery_figures, parse_start
from leadsift.outreach.gate import LEGAL_TIME_ZONE
from leadsift.web.auth import signed_in
from leadsift.web.i18n import add_french
from leadsift.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE: Final = "outreach/templates/promo_codes.html"
# Redeeming is a sale: the API lets only admins' keys do it, so does the page.
Redeeming = Annotated[SessionCaller, Depends(signed_in({Role.ADMIN}))]

add_french(
    {
        "Promo codes": "Codes promo",
        "Programs": "Programmes",
        "Program": "Programme",
        "Discount": "Remise",
        "Valid from": "Valable à partir du",
        "Valid until": "Valable jusqu'au",
        "At most": "Au plus",
        "One per customer": "Un par client",
        "yes": "oui",
        "no": "non",
        "Redemptions": "Utilisations",
        "No promo program yet.": "Aucun programme promo pour l'instant.",
        "Codes by campaign": "Codes par campagne",
        "Each message of a campaign with a program carries a personal, single-use code, issued "
        "when the worker sends it.": (
            "Chaque message d'une campagne avec un programme porte un code personnel à usage "
            "unique, émis quand le worker l'envoie."
        ),
        "Codes sent in messages": "Codes envoyés dans les messages",
        "People who redeemed": "Personnes ayant utilisé un code",
        "on the campaign's page": "sur la page de la campagne",
        "No campaign issues codes yet.": "Aucune campagne n'émet de codes pour l'instant.",
        "New program": "Nouveau programme",
        "Key": "Identifiant",
        "What a code gives, e.g. 20% or 10 EUR": "Ce que donne un code, p. ex. 20 % ou 10 EUR",
        "Valid from (Paris time, optional)": "Valable à partir du (heure de Paris, facultatif)",
        "Valid until (Paris time, optional)": "Valable jusqu'au (heure de Paris, facultatif)",
        "At most this many redemptions in all (optional)": (
            "Au plus ce nombre d'utilisations en tout (facultatif)"
        ),
        "A person redeems at most one code of the program": (
            "Une personne utilise au plus un code du programme"
        ),
        "Code prefix (A-Z, 2-9, optional)": "Préfixe des codes (A-Z, 2-9, facultatif)",
        "Create the program": "Créer le programme",
        "Redeem a code": "Utiliser un code",
        "Code": "Code",
        "Purchase amount (optional)": "Montant de l'achat (facultatif)",
        "Presented by (contact id or email, optional)": (
            "Présenté par (identifiant ou e-mail du contact, facultatif)"
        ),
        "Redeem": "Valider le code",
        "Code {code} redeemed: contact {contact} is now {stage}.": (
            "Code {code} utilisé : le contact {contact} est maintenant {stage}."
        ),
        "Code {code} redeemed.": "Code {code} utilisé.",
        "Purchase amount: give a number 0 or more": (
            "Montant de l'achat : indiquez un nombre positif ou nul"
        ),
        "At most: give a whole number of at least 1": (
            "Au plus : indiquez un nombre entier d'au moins 1"
        ),
    }
)


def _programs(session: Session) -> list[dict[str, Any]]:
    return [
        {
            "key": p.key,
            "discount": p.discount,
            "valid_from": p.valid_from,
            "valid_until": p.valid_until,
            "max_redemptions": p.max_redemptions,
            "one_per_customer": p.one_per_customer,
            "redemptions": p.redemptions,
        }
        for p in promo_repository.programs(session)
    ]


def _issuing(session: Session) -> list[dict[str, Any]]:
    rows = []
    for campaign in campaign_repository.campaigns(session):
        if campaign.promo_program_id is None:
            continue
        view = campaigns.view(session, campaign)
        # A sent message of such a campaign always carries its code (issued before the send).
        sent = delivery_figures(view)["delivered"]
        rows.append({"id": campaign.id, "key": view.key, "program": view.promo, "sent": sent})
    return rows


def _page(
    request: Request,
    session: Session,
    *,
    redeemed: promo.Redemption | None = None,
    problem: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    values = {
        "programs": _programs(session),
        "issuing": _issuing(session),
        "redeemed": redeemed,
        "problem": problem,
        "form": form or {},
        "local_zone": LEGAL_TIME_ZONE,
    }
    return render(request, PAGE, values, status=status)


@router.get("/promo-codes")
def promo_codes(request: Request, page: Managing, session: Reading) -> HTMLResponse:
    """Programs, redemptions, and the campaigns issuing codes."""
    return _page(request, session)


def _again(request: Request, refused: LeadsiftError, form: dict[str, Any]) -> HTMLResponse:
    status = 409 if isinstance(refused, ConflictError) else 422
    with database_of(request).unit_of_work(read_only=True) as session:
        return _page(request, session, problem=refused.message, form=form, status=status)


def _optional_moment(text: str) -> datetime | None:
    return parse_start(text) if text.strip() else None


def _amount(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        # A French keyboard types a decimal comma.
        return float(text.strip().replace(",", "."))
    except ValueError:
        raise InvalidInputError("Purchase amount: give a number 0 or more") from None


def _whole(text: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidInputError("At most: give a whole number of at least 1") from None


@router.post("/promo-codes/programs")
def create_program(  # noqa: PLR0917 — one parameter per form field
    request: Request,
    page: Managing,
    key: Annotated[str, Form(max_length=100)] = "",
    discount: Annotated[str, Form(max_length=100)] = "",
    valid_from: Annotated[str, Form(max_length=40)] = "",
    valid_until: Annotated[str, Form(max_length=40)] = "",
    max_redemptions: Annotated[str, Form(max_length=20)] = "",
    one_per_customer: Annotated[bool, Form()] = False,
    prefix: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """`promo program create`: a program whose codes campaigns then issue."""
    form = {"key": key, "discount": discount, "valid_from": valid_from,
            "valid_until": valid_until, "max_redemptions": max_redemptions,
            "one_per_customer": one_per_customer, "prefix": prefix}  # fmt: skip
    try:
        with database_of(request).unit_of_work() as session:
            promo.create_program(
                session,
                key.strip(),
                discount=discount,
                now=utcnow(),
                valid_from=_optional_moment(valid_from),
                valid_until=_optional_moment(valid_until),
                max_redemptions=_whole(max_redemptions),
                one_per_customer=one_per_customer,
                prefix=prefix.strip(),
            )
    except (InvalidInputError, ConflictError) as refused:
        return _again(request, refused, form)
    return RedirectResponse("/promo-codes", status_code=303)


@router.post("/promo-codes/redeem")
def redeem(
    request: Request,
    page: Redeeming,
    code: Annotated[str, Form(max_length=64)] = "",
    amount: Annotated[str, Form(max_length=30)] = "",
    contact: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """`promo redeem`: a purchase with its code, attributed to the code's campaign."""
    form = {"code": code, "amount": amount, "contact": contact}
    region = settings_of(request).default_region
    try:
        with database_of(request).unit_of_work() as session:
            presented_by = lookup.find_contact(session, contact, region).id if contact else None
            done = promo.redeem(
                session,
                code,
                now=utcnow(),
                amount=_amount(amount),
                presented_by=presented_by,
            )
    except (InvalidInputError, ConflictError, NotFoundError) as refused:
        return _again(request, refused, form)
    with database_of(request).unit_of_work(read_only=True) as session:
        return _page(request, session, redeemed=done)
