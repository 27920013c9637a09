"""The Contacts list: contacts filtered by a criteria expression with a live count, 50 a page
(keyset on the id), stage quick filters, and bulk actions for admins and managers (assign, add
to a campaign, export). Every read is limited to the contacts the signed-in user may see."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_
from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access.schemas import Caller, Role
from leadsift.access.service import audit, list_teams, list_users
from leadsift.access.sessions import SessionCaller
from leadsift.agents import service as agents
from leadsift.contacts import export
from leadsift.contacts import repository as contacts_repository
from leadsift.contacts.models import Contact
from leadsift.engagement import service as engagement
from leadsift.errors import InvalidInputError, LeadsiftError, PermissionDeniedError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import database_of, reading_session, settings_of
from leadsift.outreach import campaign_repository, campaigns
from leadsift.outreach.schemas import CampaignSpec, StepSpec
from leadsift.qualification.stages import Stage
from leadsift.segments import saved
from leadsift.segments import service as segments
from leadsift.web.auth import signed_in
from leadsift.web.i18n import add_french
from leadsift.web.templating import render

router = APIRouter(include_in_schema=False)
PAGE_SIZE: Final = 50
# A bulk change goes contact by contact through the service the API uses (each one audited):
# above this many, the user narrows the criteria first.
MAX_BULK: Final = 1_000
_MANAGERS: Final = frozenset({Role.ADMIN, Role.MANAGER})
_LIST: Final = "pages/templates/contacts.html"
_EXAMPLE: Final = 'stage = "qualified" and interest >= 40'

add_french({
    "Filter": "Filtrer", "Criteria": "Critères", "Quick filters": "Filtres rapides",
    "Same language as the playbook and `leadsift contacts list --where`, for example":
        "Même langage que le playbook et `leadsift contacts list --where`, par exemple",
    "{count} matching contacts": "{count} contacts correspondants",
    "This expression has a problem:": "Cette expression pose problème :",
    "Everyone": "Tout le monde", "contact": "contact", "lead": "lead", "qualified": "qualifié",
    "customer": "client", "unqualified": "non qualifié", "lost": "perdu",
    "Select": "Sélection", "Select contact {id}": "Sélectionner le contact {id}",
    "Full name": "Nom", "Email": "Email", "Phone": "Téléphone", "Stage": "Étape",
    "Fit": "Adéquation", "Interest": "Intérêt", "Probability": "Probabilité",
    "Owner": "Responsable", "Last activity": "Dernière activité",
    "No contact matches.": "Aucun contact ne correspond.", "Pages": "Pages",
    "First page": "Première page", "Next page": "Page suivante",
    "Bulk actions": "Actions groupées", "Which contacts": "Quels contacts",
    "The ticked rows": "Les lignes cochées",
    "Every matching contact": "Tous les contacts correspondants",
    "Counting…": "Décompte…", "Matching contacts": "Contacts correspondants",
    "Assign": "Attribuer", "To": "À", "{name} (team queue)": "{name} (file de l'équipe)",
    "Add to a campaign": "Ajouter à une campagne",
    "Creates a draft campaign for these contacts with the message, link, offer and pace of "
    "an existing campaign; schedule it from the Campaigns page.":
        "Crée une campagne brouillon pour ces contacts avec le message, le lien, l'offre et "
        "le rythme d'une campagne existante ; planifiez-la depuis la page Campagnes.",
    "Message of": "Message de", "New campaign key": "Clé de la nouvelle campagne",
    "Create the campaign": "Créer la campagne",
    "No campaign yet: create one first.": "Aucune campagne : créez-en une d'abord.",
    "Export": "Exporter", "Export as CSV": "Exporter en CSV",
    "{count} contacts assigned to {owner}.": "{count} contacts attribués à {owner}.",
    "Draft campaign {key} created for {count} contacts.":
        "Campagne brouillon {key} créée pour {count} contacts.",
})  # fmt: skip


@dataclass(frozen=True)
class ListedContact:
    """One row of the list."""

    id: int
    email: str | None
    phone: str | None
    name: str
    stage: str
    fit: int | None
    interest: float | None
    probability: float | None
    owner: str | None
    owner_is_team: bool
    last_activity: datetime | None


@dataclass(frozen=True)
class Notice:
    """What a bulk action did (or why it did nothing), shown above the list."""

    text: str
    values: dict[str, Any] = field(default_factory=dict)
    error: bool = False


def selection(
    session: Session, caller: Caller, expression: str | None
) -> ColumnElement[bool] | None:
    """The contacts matching EXPRESSION that CALLER may see (None: every contact)."""
    found = [] if caller.sees_everything else [access_repository.visible_filter(caller, Contact.id)]
    matching = segments.where_condition(session, expression)
    if matching is not None:
        found.append(matching)
    # No condition at all for an admin's whole list: SQLite then counts from the b-tree alone.
    return and_(*found) if found else None


def _owner_names(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, bool]]:
    """Contact id -> (the owner's name, whether it is a team's queue)."""
    owners = {cid: access_repository.owner_of(session, cid) for cid in ids}
    users = access_repository.users_by_id(
        session, {o.user_id for o in owners.values() if o is not None and o.user_id}
    )
    teams = (
        {t.id: t.name for t in access_repository.teams(session)}
        if any(o is not None and o.team_id for o in owners.values())
        else {}
    )
    names: dict[int, tuple[str, bool]] = {}
    for cid, owner in owners.items():
        if owner is not None and owner.user_id in users:
            names[cid] = (users[owner.user_id].name, False)
        elif owner is not None and owner.team_id in teams:
            names[cid] = (teams[owner.team_id], True)
    return names


def _rows(session: Session, contacts: Sequence[Contact]) -> list[ListedContact]:
    ids = [c.id for c in contacts]
    scores = contacts_repository.scores_of(session, ids) if ids else {}
    owners = _owner_names(session, ids)
    rows = []
    for contact in contacts:
        latest = engagement.timeline(session, contact.id, 1)
        stored = scores.get(contact.id, {})
        owner, team = owners.get(contact.id, (None, False))
        rows.append(ListedContact(
            contact.id, contact.email, contact.phone,
            " ".join(p for p in (contact.first_name, contact.last_name) if p), contact.stage,
            contact.fit, stored.get("interest", 0.0), stored.get("probability"), owner, team,
            latest[0].occurred_at if latest else None,
        ))  # fmt: skip
    return rows


def _bulk_choices(session: Session, caller: Caller) -> dict[str, Any]:
    """Whom a manager may give contacts to (their teams only), and the campaigns to copy."""
    mine = caller.role is Role.ADMIN
    users: list[tuple[str, str, dict[str, str]]] = [
        (f"user:{u.name}", u.name, {})
        for u in list_users(session)
        if u.disabled_at is None and (mine or u.id in caller.user_ids)
    ]
    teams = [
        (f"team:{t.name}", "{name} (team queue)", {"name": t.name})
        for t in list_teams(session)
        if mine or t.id in caller.team_ids
    ]
    keys = [c.key for c in campaign_repository.campaigns(session)]
    return {"owners": users + teams, "campaigns": keys}


def listing(session: Session, page: SessionCaller, q: str, after: int) -> dict[str, Any]:
    """What the list page shows: one page of rows and the next page's key."""
    caller = page.caller
    context: dict[str, Any] = {
        "q": q,
        "after": after,
        "rows": [],
        "error": None,
        "next_after": None,
        "example": _EXAMPLE,
        "stages": [s.value for s in Stage],
        "bulk": caller.role in _MANAGERS,
        "segments": saved.list_segments(session),  # quick filters (pages/segments.py saves)
    }
    try:
        selected = selection(session, caller, q.strip() or None)
    except InvalidInputError as problem:
        context["error"] = problem.message
        return context
    after_key = Contact.id > after
    # The count comes apart (/contacts/count, as the page loads): the page never waits for it.
    # Keyset: the ids above the last one shown; one more row than shown says a next page exists.
    pages = contacts_repository.contact_pages(
        session,
        page_size=PAGE_SIZE + 1,
        where=after_key if selected is None else and_(selected, after_key),
        limit=PAGE_SIZE + 1,
    )
    found = next(pages, [])
    context["rows"] = _rows(session, found[:PAGE_SIZE])
    if len(found) > PAGE_SIZE:
        context["next_after"] = found[PAGE_SIZE - 1].id
    if context["bulk"]:
        context.update(_bulk_choices(session, caller))
    return context


Signed = Annotated[SessionCaller, Depends(signed_in())]
Manager = Annotated[SessionCaller, Depends(signed_in(_MANAGERS))]
Reading = Annotated[Session, Depends(reading_session)]
CriteriaQuery = Annotated[str, Query(max_length=2000)]


@router.get("/contacts")
def contacts_page(
    request: Request,
    page: Signed,
    session: Reading,
    q: CriteriaQuery = "",
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> HTMLResponse:
    """The contacts the user may see, filtered by criteria, 50 a page."""
    return render(request, _LIST, {"title": "Contacts", **listing(session, page, q, after)})


@router.get("/contacts/count")
def live_count(
    request: Request, page: Signed, session: Reading, q: CriteriaQuery = ""
) -> HTMLResponse:
    """How many visible contacts match (htmx fragment), or where the expression is wrong."""
    count, error = None, None
    try:
        selected = selection(session, page.caller, q.strip() or None)
        count = contacts_repository.count_contacts(session, selected)
    except InvalidInputError as problem:
        error = problem.message
    return render(request, "pages/templates/contacts_count.html", {"count": count, "error": error})


class BulkForm(BaseModel):
    """The bulk form: the filter it was shown with, which contacts (the ticked rows or every
    matching one), the ticked ids, and what each action needs."""

    q: str = Field("", max_length=2000)
    scope: Literal["checked", "all"] = "checked"
    ids: list[int] = Field(default_factory=list, max_length=MAX_BULK)
    owner: str = Field("", max_length=200)
    key: str = Field("", max_length=100)
    like: str = Field("", max_length=100)


Bulk = Annotated[BulkForm, Form()]


def selected_expression(q: str, scope: str, ids: Sequence[int]) -> str | None:
    """The criteria selecting a bulk action's contacts: the filter, or the ticked ids."""
    if scope == "all":
        return q.strip() or None
    if not ids:
        raise InvalidInputError("tick at least one contact, or choose every matching contact")
    return "id in (" + ", ".join(str(i) for i in sorted(set(ids))) + ")"


def chosen_ids(session: Session, caller: Caller, expression: str | None) -> list[int]:
    """The ids of the visible contacts EXPRESSION selects (refused above MAX_BULK)."""
    where = selection(session, caller, expression)
    total = contacts_repository.count_contacts(session, where)
    if total > MAX_BULK:
        raise InvalidInputError(
            f"{total} contacts match: act on at most {MAX_BULK} at once (narrow the criteria)"
        )
    pages = contacts_repository.contact_pages(
        session, page_size=MAX_BULK, where=where, limit=MAX_BULK
    )
    found = next(pages, [])
    return [c.id for c in found]


def act_then_list(
    request: Request, page: SessionCaller, q: str, act: Callable[[Session], Notice]
) -> HTMLResponse:
    """Run ACT in one transaction, then show the list again with what it did."""
    status = 200
    try:
        with database_of(request).unit_of_work() as session:
            notice = act(session)
    except LeadsiftError as problem:
        notice, status = Notice(problem.message, error=True), problem.http_status
    with database_of(request).unit_of_work(read_only=True) as session:
        context = listing(session, page, q, 0)
    return render(request, _LIST, {"title": "Contacts", "notice": notice, **context}, status)


@router.post("/contacts/assign")
def bulk_assign(request: Request, page: Manager, form: Bulk) -> HTMLResponse:
    """Give the chosen contacts to a user or a team's queue (each change audited)."""
    kind, _, name = form.owner.partition(":")
    region = settings_of(request).default_region

    def act(session: Session) -> Notice:
        if kind not in ("user", "team") or not name:
            raise InvalidInputError("choose who gets the contacts: a user or a team's queue")
        expression = selected_expression(form.q, form.scope, form.ids)
        chosen = chosen_ids(session, page.caller, expression)
        for contact_id in chosen:
            agents.assign_contact(
                session, str(contact_id), to_user=name if kind == "user" else None,
                to_team=name if kind == "team" else None, caller=page.caller, region=region,
            )  # fmt: skip
        done = {"count": len(chosen), "owner": name}
        return Notice("{count} contacts assigned to {owner}.", done)

    return act_then_list(request, page, form.q, act)


def campaign_like(session: Session, like: str, key: str, target: str) -> CampaignSpec:
    """A new campaign for TARGET with the message, link, offer and pace of campaign LIKE."""
    model = campaigns.get(session, like)
    program_id = model.promo_program_id
    program = campaign_repository.program(session, program_id) if program_id else None
    source = f"campaign {like}"
    first, *later = model.steps
    return CampaignSpec(
        key=key.strip(), template=first["template"], template_source=source, target=target,
        audience=model.audience, link_url=model.link_url,
        promo=program.key if program is not None else None,
        control_percent=model.control_percent, throttle_per_hour=model.throttle_per_hour,
        steps=tuple(
            StepSpec(int(step["delay_s"]), step["template"], f"{source}, step {number}")
            for number, step in enumerate(later, 2)
        ),
    )  # fmt: skip


@router.post("/contacts/campaign")
def bulk_campaign(request: Request, page: Manager, form: Bulk) -> HTMLResponse:
    """Create a draft campaign for the chosen contacts, its message copied from another one."""

    def act(session: Session) -> Notice:
        if form.scope == "all" and page.caller.role is not Role.ADMIN:
            # A campaign's criteria select among every contact, not only the manager's teams'.
            raise PermissionDeniedError(
                "a manager adds ticked contacts to a campaign; every matching contact is an "
                "admin's choice"
            )
        target = selected_expression(form.q, form.scope, form.ids)
        if form.scope == "checked":  # only those the manager may see
            target = selected_expression("", "checked", chosen_ids(session, page.caller, target))
        if target is None:
            raise InvalidInputError("write criteria first: a campaign needs a target")
        spec = campaign_like(session, form.like, form.key, target)
        created = campaigns.create(session, spec, utcnow(), actor=page.caller.actor)
        done = {"key": created.key, "count": segments.count(session, created.target)}
        return Notice("Draft campaign {key} created for {count} contacts.", done)

    return act_then_list(request, page, form.q, act)


@router.post("/contacts/export")
def export_contacts(request: Request, page: Manager, form: Bulk) -> StreamingResponse:
    """The chosen contacts as CSV with the import's column names (the export is audited)."""
    database = database_of(request)
    with database.unit_of_work() as session:
        expression = selected_expression(form.q, form.scope, form.ids)
        where = selection(session, page.caller, expression)
        count = contacts_repository.count_contacts(session, where)
        # An export of personal data by a person: in the audit log (the count, not the rows).
        details = {"count": count}
        audit(session, page.caller, "contacts_exported", ("contacts", None), details=details)
    return StreamingResponse(
        export.csv_chunks(database, where),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="contacts.csv"'},
    )
