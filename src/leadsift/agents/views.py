"""The agent console (`/calls`): the next call with its script, history and reasons, outcomes in
one click, call-backs, the agent's queue and figures. The queue's services decide everything:
`calls.next_call` and `call_log.log_call`, as `leadsift calls next|log` and the API do."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Final
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from leadsift.access import repository as access_repository
from leadsift.access import service as access
from leadsift.access.schemas import Caller, Role
from leadsift.access.sessions import SessionCaller
from leadsift.agents import call_log, calling, calls, speed_service
from leadsift.agents import call_repository as queue_sql
from leadsift.agents import console_repository as console_sql
from leadsift.agents.repository import PREDICTED
from leadsift.agents.schemas import NextCall
from leadsift.engagement.service import contact_exists, timeline
from leadsift.errors import InvalidInputError, NotFoundError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import ContactId, database_of, reading_session, settings_of
from leadsift.web.auth import signed_in
from leadsift.web.i18n import add_french
from leadsift.web.templating import render

router = APIRouter(include_in_schema=False)
# The outcomes' buttons in the order of their keys (1..6), with their English labels.
OUTCOME_KEYS: Final = (
    ("no_answer", "1", "No answer"),
    ("wrong_number", "2", "Wrong number"),
    ("callback", "3", "Call back"),
    ("not_interested", "4", "Not interested"),
    ("interested", "5", "Interested"),
    ("sale", "6", "Sale"),
)
add_french({
    "Agent console": "Console d'appels", "Console of": "Console de", "Show": "Afficher",
    "Calls are not allowed now.": "Les appels ne sont pas autorisés maintenant.",
    "You are looking at this agent's queue and figures: only the agent takes their calls.": (
        "Vous consultez la file et les chiffres de cet agent : seul l'agent prend ses appels."
    ),
    "Keyboard shortcuts": "Raccourcis clavier", "Next call": "Appel suivant",
    "No answer": "Pas de réponse", "Wrong number": "Faux numéro", "Call back": "À rappeler",
    "Not interested": "Pas intéressé", "Interested": "Intéressé", "Sale": "Vente",
    "Nothing was recorded.": "Rien n'a été enregistré.", "Call logged": "Appel enregistré",
    "call back at": "rappel le", "Call": "Appeler", "Why now": "Pourquoi maintenant",
    "Stage": "Étape", "priority": "priorité", "points": "points", "Fit": "Adéquation",
    "Job title": "Fonction", "City": "Ville", "Email": "E-mail", "Source": "Source",
    "Script": "Script", "Outcome": "Résultat", "Call back at": "Rappeler le",
    "Amount": "Montant", "Reason": "Motif", "Why this prospect": "Pourquoi ce prospect",
    "Probability": "Probabilité", "Feature": "Variable", "Value": "Valeur",
    "Contribution": "Contribution", "Interest": "Intérêt", "{n} events": "{n} événements",
    "capped": "plafonné", "History": "Historique", "Calls and messages": "Appels et messages",
    "When": "Quand", "Agent": "Agent", "No call yet.": "Aucun appel pour l'instant.",
    "Stage history": "Historique des étapes",
    "No stage change recorded.": "Aucun changement d'étape enregistré.",
    "Latest events": "Derniers événements", "No event yet.": "Aucun événement pour l'instant.",
    "Nobody to call now": "Personne à appeler maintenant", "until": "jusqu'au",
    "Prospects kept out by the calling rules": "Prospects écartés par les règles d'appel",
    "Prospects": "Prospects",
    "Take the next prospect to call: due call-backs first, then the highest priority.": (
        "Prenez le prochain prospect à appeler : d'abord les rappels échus, puis la plus haute "
        "priorité."
    ),
    "Figures": "Chiffres", "Today": "Aujourd'hui", "This week": "Cette semaine",
    "Calls made": "Appels passés", "Connected": "Décrochés", "Sales": "Ventes",
    "Revenue": "Chiffre d'affaires", "Speed to lead this week": "Délai de premier contact "
    "cette semaine", "Median": "Médiane", "90th percentile": "90e centile",
    "Within the SLA": "Dans le délai", "{n} of {m} touched": "{n} sur {m} contactés",
    "Waiting beyond the SLA": "En attente au-delà du délai",
    "No prospect qualified for this agent this week.": (
        "Aucun prospect qualifié pour cet agent cette semaine."
    ),
    "Queue": "File d'appels", "Prospect": "Prospect", "Phone": "Téléphone", "Why": "Pourquoi",
    "Open prospects: {n}. The next {m} in call order, due call-backs first.": (
        "Prospects ouverts : {n}. Les {m} prochains dans l'ordre d'appel, rappels échus d'abord."
    ),
    "call-back due": "rappel prévu", "team queue": "file d'équipe",
    "Nobody can be called in this queue now.": "Personne à appeler dans cette file maintenant.",
    "The calling rules (attempts, opposition list…) are checked again when a call is taken.": (
        "Les règles d'appel (tentatives, liste d'opposition…) sont vérifiées à nouveau quand "
        "l'appel est pris."
    ),
    "Give the call-back date and time.": "Indiquez la date et l'heure du rappel.",
    "The call-back must be in the future.": "Le rappel doit être dans le futur.",
    "Give the amount of the sale.": "Indiquez le montant de la vente.",
    "The amount must be a number, 0 or more.": "Le montant doit être un nombre positif ou nul.",
    # Codes shown with their underscores as spaces: stages, reasons, exclusions.
    "contact": "contact", "lead": "lead", "qualified": "qualifié", "customer": "client",
    "unqualified": "non qualifié", "lost": "perdu", "callback due": "rappel échu",
    "highest priority": "plus haute priorité", "criteria met": "critères remplis",
    "criteria not met": "critères non remplis", "missing information": "information manquante",
    "interest threshold": "seuil d'intérêt atteint", "hand raiser": "demande de contact",
    "no interest": "sans intérêt", "purchase": "achat", "promo redeemed": "code promo utilisé",
    "won": "gagné", "not interested": "pas intéressé", "bad fit": "ne correspond pas",
    "no budget": "pas de budget", "competitor": "concurrent", "unreachable": "injoignable",
    "recycled": "recyclé", "closed day": "jour fermé", "public holiday": "jour férié",
    "outside hours": "hors des heures d'appel", "no phone": "pas de téléphone",
    "suppressed": "liste de suppression", "phone consent withdrawn": "consentement retiré",
    "opposition list": "liste d'opposition (Bloctel)",
    "opposition list outdated": "liste d'opposition périmée",
    "phone consent required": "consentement téléphonique requis",
    "refused recently": "refus récent", "too many attempts": "trop de tentatives",
    "callback later": "rappel plus tard", "wrong number": "faux numéro",
    "queue empty": "file vide", "all excluded": "tous écartés",
})  # fmt: skip

_CONSOLE: Final = "agents/templates/console.html"
_UPDATE: Final = "agents/templates/console_update.html"
_REFUSED: Final = "agents/templates/outcome_refused.html"
# The queue shows the next prospects in call order; the page never reads the whole queue.
QUEUE_SHOWN: Final = 20
_EVENTS_SHOWN: Final = 10

Page = Annotated[SessionCaller, Depends(signed_in())]


@dataclass(frozen=True)
class Agent:
    """Whose console is shown: the signed-in user, or an agent a manager or admin looks at."""

    name: str
    caller: Caller
    is_me: bool


def agent_of(session: Session, page: SessionCaller, name: str | None) -> Agent:
    """The agent whose console PAGE's user may see: themselves; admins anyone; managers their
    teams' members. Anyone else answers as a name that does not exist."""
    me = page.caller
    if not name or name == page.user.name:
        return Agent(page.user.name, me, is_me=True)
    user = access_repository.user_by_name(session, name)
    allowed = (
        user is not None
        and user.disabled_at is None
        and (me.role is Role.ADMIN or (me.role is Role.MANAGER and user.id in me.user_ids))
    )
    if not allowed or user is None:
        raise NotFoundError(f"no agent {name!r} among the people whose console you may see")
    return Agent(user.name, access.caller_of_user(session, user), is_me=False)


def _agents_to_pick(session: Session, caller: Caller) -> list[str]:
    if caller.role is Role.AGENT:
        return []
    return [
        user.name
        for user in access_repository.users(session)
        if user.disabled_at is None and (caller.role is Role.ADMIN or user.id in caller.user_ids)
    ]


def _priority(rank: float | None) -> tuple[str, float | None]:
    """("priority", the model's) for predicted prospects, else ("points", fit + interest)."""
    if rank is None:
        return "points", None
    return ("priority", rank - PREDICTED) if rank >= PREDICTED / 2 else ("points", rank)


def queue(
    session: Session, caller: Caller, now: datetime, rules: queue_sql.QueueFilter
) -> list[dict[str, Any]]:
    """The agent's next prospects as the queue takes them: due call-backs first, then by rank
    over their own prospects and their teams' queues (the rules SQL checks applied)."""
    assert caller.user_id is not None  # noqa: S101 — a signed-in user has an id
    due = queue_sql.due_callbacks(session, caller.user_id, caller.team_ids, rules, QUEUE_SHOWN)
    seen = {row["id"] for row in due}
    owners = [("user", caller.user_id), *(("team", t) for t in sorted(caller.team_ids))]
    ranked = sorted(
        (
            row
            for owner in owners
            for row in queue_sql.ranked_page(session, owner, rules, None, QUEUE_SHOWN)
            if row["id"] not in seen
        ),
        key=lambda row: (row["queue_rank"], row["id"]),
        reverse=True,
    )
    rows = [*due, *ranked][:QUEUE_SHOWN]
    shown = console_sql.shown_contacts(session, [row["id"] for row in rows])
    return [
        {
            **shown[row["id"]],
            "callback_at": row["callback_at"] if row["id"] in seen else None,
            "team_queue": row["team_id"] is not None,
            "rank": _priority(row["queue_rank"]),
        }
        for row in rows
        if row["id"] in shown
    ]


def figures(session: Session, agent: Agent, now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """The agent's calls, connected calls, sales and revenue today and this week (local days,
    weeks from Monday), and their speed to lead this week."""
    assert agent.caller.user_id is not None  # noqa: S101 — a signed-in user has an id
    today = datetime.combine(now.astimezone(zone).date(), time(), zone)
    week = today - timedelta(days=today.weekday())
    found: dict[str, Any] = {
        name: console_sql.call_figures(
            session, agent.caller.user_id, start.astimezone(UTC), (start + span).astimezone(UTC)
        )
        for name, start, span in (("today", today, timedelta(1)), ("week", week, timedelta(7)))
    }
    speed = None
    if week < now:
        report = speed_service.report(session, by="agent", since=week, until=now, now=now)
        speed = next((row for row in report.rows if row.group == agent.name), None)
        found["sla_minutes"] = report.sla_minutes
    found["speed"] = speed
    return found


def context(session: Session, page: SessionCaller, agent: Agent, now: datetime) -> dict[str, Any]:
    """What the console shows besides the call: queue, figures, the calling window now."""
    policy, _ = calls.calling_policy(session)
    rules = calls.rules_of(policy)
    zone = ZoneInfo(policy.time_zone)
    caller = agent.caller
    assert caller.user_id is not None  # noqa: S101 — a signed-in user has an id
    return {
        "title": "Calls",
        "agent": agent,
        "agents": _agents_to_pick(session, page.caller),
        "closed": calling.window_exclusion(now, rules),
        "queue": queue(session, caller, now, calls.queue_filter(policy, rules, now)),
        "waiting": queue_sql.queue_size(session, caller.user_id, caller.team_ids),
        "figures": figures(session, agent, now, zone),
        "outcomes": OUTCOME_KEYS,
        "outcome_labels": {outcome: label for outcome, _, label in OUTCOME_KEYS},
        "lost_reasons": call_log.LOST_REASONS,
        "local": lambda moment: _local(moment, zone),
        "zone": policy.time_zone,
        "call": None,
        "events": [],
        "logged": None,
        "error": None,
        "shown_queue": QUEUE_SHOWN,
    }


def _local(moment: datetime | str | None, zone: ZoneInfo) -> str:
    """A moment as the calling zone's wall-clock time (stored moments are UTC)."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _answer(request: Request, values: dict[str, Any]) -> HTMLResponse:
    """The updated parts for htmx (the call, and the queue and figures out of band), else the
    whole console."""
    if request.headers.get("hx-request"):
        answer = render(request, _UPDATE, values)
        answer.headers["HX-Retarget"] = "#call"
        return answer
    return render(request, _CONSOLE, values)


@router.get("/calls")
def console(
    request: Request,
    page: Page,
    session: Annotated[Session, Depends(reading_session)],
    agent: Annotated[str | None, Query(max_length=100)] = None,
) -> HTMLResponse:
    """The agent console (managers and admins may look at an agent's queue and figures)."""
    shown = agent_of(session, page, agent)
    return render(request, _CONSOLE, context(session, page, shown, utcnow()))


@router.post("/calls/next")
def take_next_call(request: Request, page: Page) -> HTMLResponse:
    """Take the next call under the calling rules (a prospect from a team's queue becomes
    the agent's), or say why nobody may be called now."""
    now = utcnow()
    me = agent_of_self(page)
    try:
        with database_of(request).unit_of_work() as session:
            found = calls.next_call(session, page.user.name, now)
            values = context(session, page, me, now)
            values["call"] = found
            values["events"] = _events(session, found)
    except InvalidInputError as refused:  # e.g. a call script the playbook cannot render
        with database_of(request).unit_of_work(read_only=True) as session:
            values = context(session, page, me, now)
        values["error"] = refused.message
    return _answer(request, values)


def agent_of_self(page: SessionCaller) -> Agent:
    """The signed-in user's own console."""
    return Agent(page.user.name, page.caller, is_me=True)


def _events(session: Session, found: NextCall) -> list[Any]:
    if found.contact is None:
        return []
    return list(reversed(timeline(session, int(found.contact["id"]), _EVENTS_SHOWN)))


def _seen(session: Session, caller: Caller, contact_id: int) -> None:
    """The contact by id only; one the caller may not see answers as a missing one."""
    if not contact_exists(session, contact_id) or not access_repository.is_visible(
        session, caller, contact_id
    ):
        raise NotFoundError(f"no contact {contact_id} among your prospects")


# The page's own words before the service's (which name the command line's options).
def callback_moment(text: str | None, zone: ZoneInfo, now: datetime) -> datetime:
    """A call-back time typed in the page (the calling zone's local time unless it says)."""
    try:
        moment = datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise InvalidInputError("Give the call-back date and time.") from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    if moment <= now:
        raise InvalidInputError("The call-back must be in the future.")
    return moment


def sale_amount(text: str | None) -> float:
    """A sale's amount as typed (a decimal comma is fine), 0 or more."""
    if not text or not text.strip():
        raise InvalidInputError("Give the amount of the sale.")
    try:
        amount = float(text.strip().replace("\u202f", "").replace(" ", "").replace(",", "."))
    except ValueError:
        raise InvalidInputError("The amount must be a number, 0 or more.") from None
    if not math.isfinite(amount) or amount < 0:
        raise InvalidInputError("The amount must be a number, 0 or more.")
    return amount


@router.post("/calls/{contact_id}/outcome")
def log_outcome(  # noqa: PLR0917 — one parameter per form field
    contact_id: ContactId,
    request: Request,
    page: Page,
    outcome: Annotated[str, Form(max_length=20)],
    reason: Annotated[str | None, Form(max_length=40)] = None,
    callback_at: Annotated[str | None, Form(max_length=40)] = None,
    amount: Annotated[str | None, Form(max_length=40)] = None,
) -> HTMLResponse:
    """Log the call's outcome on one of the agent's prospects (404 for anyone else's), then
    offer the next call."""
    now = utcnow()
    me = agent_of_self(page)
    try:
        with database_of(request).unit_of_work() as session:
            _seen(session, page.caller, contact_id)
            zone = ZoneInfo(calls.calling_policy(session)[0].time_zone)
            when = callback_moment(callback_at, zone, now) if outcome == "callback" else None
            value = sale_amount(amount) if outcome == "sale" else None
            logged = call_log.log_call(
                session, page.user.name, str(contact_id), outcome, now=now,
                reason=reason or None, callback_at=when, amount=value,
                region=settings_of(request).default_region,
            )  # fmt: skip
    except InvalidInputError as refused:
        return _refused(request, page, me, refused.message, now)
    with database_of(request).unit_of_work(read_only=True) as session:
        values = context(session, page, me, now)
    values["logged"] = logged
    return _answer(request, values)


def _refused(
    request: Request, page: SessionCaller, me: Agent, message: str, now: datetime
) -> HTMLResponse:
    """A refused outcome: the message beside the call for htmx (nothing was recorded), else the
    console with the message."""
    if request.headers.get("hx-request"):
        # 200 so that htmx shows it; the call stays on the page to log again.
        return render(request, _REFUSED, {"error": message})
    with database_of(request).unit_of_work(read_only=True) as session:
        values = context(session, page, me, now)
    values["error"] = message
    return render(request, _CONSOLE, values, status=422)
