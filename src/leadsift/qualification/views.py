"""The playbook editor (`/playbook`, admins): validation as you type, a dry run saying how many
contacts would move to each stage and why, with examples, then apply — the same services as
`leadsift playbook validate` and `leadsift qualify [--dry-run]`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from leadsift.access.schemas import Role
from leadsift.access.service import audit
from leadsift.access.sessions import SessionCaller
from leadsift.errors import InvalidInputError
from leadsift.kit.clock import utcnow
from leadsift.kit.web import database_of, reading_session
from leadsift.qualification import playbooks, promotion, repository, service
from leadsift.qualification.playbook import Playbook, PlaybookError
from leadsift.qualification.schemas import QualifySummary
from leadsift.segments import service as segments
from leadsift.web.auth import signed_in
from leadsift.web.i18n import add_french
from leadsift.web.templating import render

router = APIRouter(include_in_schema=False)
add_french({
    "Playbook editor": "Éditeur de playbook", "Active playbook": "Playbook actif",
    "version {n}": "version {n}", "applied": "appliqué le",
    "No playbook applied yet: start from this example.": (
        "Aucun playbook appliqué : partez de cet exemple."
    ),
    "Playbook (YAML)": "Playbook (YAML)", "Dry run": "Simulation", "Apply": "Appliquer",
    "Checked as you type; the dry run changes nothing.": (
        "Vérifié pendant la saisie ; la simulation ne change rien."
    ),
    "Apply this playbook and qualify every contact now?": (
        "Appliquer ce playbook et qualifier tous les contacts maintenant ?"
    ),
    "Valid playbook": "Playbook valide", "valid": "valide",
    "{n} fit rules, {m} interest rules": "{n} règles d'adéquation, {m} règles d'intérêt",
    "Qualify policy": "Règle de qualification", "Fingerprint": "Empreinte",
    "{n} problems": "{n} problèmes", "1 problem": "1 problème", "Line": "Ligne", "Where": "Où",
    "Problem": "Problème",
    "Nothing was changed.": "Rien n'a été modifié.",
    "Dry run: nothing was changed": "Simulation : rien n'a été modifié",
    "Applied": "Appliqué",
    "Playbook {name} applied as version {n}.": "Playbook {name} appliqué en version {n}.",
    "{n} contacts evaluated, {m} change stage.": (
        "{n} contacts évalués, {m} changent d'étape."
    ),
    "Stages": "Étapes", "Stage": "Étape", "Now": "Maintenant", "After": "Après",
    "Change": "Écart", "Before": "Avant", "Moves": "Mouvements", "From": "De", "To": "Vers",
    "Why": "Pourquoi",
    "Contacts": "Contacts", "Examples": "Exemples", "No contact changes stage.": (
        "Aucun contact ne change d'étape."
    ),
    "explain names the missing fields of each contact": (
        "explain nomme les champs manquants de chaque contact"
    ),
    "Reasons over every contact evaluated": "Motifs, sur tous les contacts évalués",
    "contact": "contact", "lead": "lead", "qualified": "qualifié", "customer": "client",
    "unqualified": "non qualifié", "lost": "perdu", "criteria met": "critères remplis",
    "criteria not met": "critères non remplis", "missing information": "information manquante",
})  # fmt: skip

_PAGE: Final = "qualification/templates/playbook.html"
_FRAGMENTS: Final = {
    "check": "qualification/templates/_check.html",
    "dry_run": "qualification/templates/_outcome.html",
    "applied": "qualification/templates/_outcome.html",
}
SOURCE: Final = "playbook"
_EXAMPLES: Final = 3
MAX_PLAYBOOK_CHARS: Final = 200_000
STARTER: Final = """name: My offer
locale: fr
eligibility: age >= 18 and country = "France"
fit:
  - {when: 'consent.email = true', points: 5, label: Reachable by email}
"""

Admin = Annotated[SessionCaller, Depends(signed_in({Role.ADMIN}))]
Text = Annotated[str, Form(max_length=MAX_PLAYBOOK_CHARS)]


@dataclass
class Check:
    """A playbook as checked: valid (with what it holds) or every problem with its line."""

    playbook: Playbook | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Whether the playbook may be used."""
        return self.playbook is not None


def check(session: Session, text: str) -> Check:
    """Validate TEXT as `leadsift playbook validate` does (structure and every expression)."""
    try:
        return Check(playbook=playbooks.load(session, text, SOURCE))
    except PlaybookError as refused:
        return Check(problems=refused.as_json()["problems"])
    except InvalidInputError as refused:
        return Check(problems=[{"path": "", "line": None, "message": refused.message}])


@dataclass(frozen=True)
class Move:
    """Contacts that would move from one stage to another for one reason, with examples."""

    from_stage: str
    to_stage: str
    reason: str
    contacts: int
    examples: list[dict[str, Any]]


def _examples(session: Session, contact_ids: list[int]) -> list[dict[str, Any]]:
    if not contact_ids:
        return []
    expression = f"id in ({', '.join(str(i) for i in contact_ids)})"
    names, rows = segments.rows(
        session, expression, ["id", "first_name", "last_name", "email"], _EXAMPLES
    )
    return [dict(zip(names, row, strict=True)) for row in rows]


def run_playbook(session: Session, text: str) -> dict[str, Any]:
    """Apply TEXT as `leadsift qualify` then `leadsift score` do (eligibility and fit, then the
    playbook's qualify policy over interest), in SESSION; what moved, read back from the stage
    history this run wrote. The dry run calls it in a transaction that is rolled back."""
    before = repository.stage_counts(session)
    mark = repository.last_stage_change_id(session)
    summary: QualifySummary = service.qualify(session, text, SOURCE)
    scored = promotion.score(session)
    found = [
        Move(source, target, reason, contacts, _examples(
            session, repository.movers_since(session, mark, (source, target, reason), _EXAMPLES)
        ))
        for source, target, reason, contacts in repository.moves_since(session, mark)
    ]  # fmt: skip
    return {
        "before": before,
        "after": repository.stage_counts(session),
        "summary": summary,
        "scored": scored,
        "moved": repository.contacts_moved_since(session, mark),
        "moves": found,
    }


def _page(request: Request, values: dict[str, Any], kind: str, status: int = 200) -> HTMLResponse:
    """A fragment for htmx, else the editor with the result under it."""
    if request.headers.get("hx-request"):
        # 200 even for a refused playbook: htmx swaps in successful answers only.
        return render(request, _FRAGMENTS[kind], {**values, "kind": kind})
    return render(request, _PAGE, {"active": None, **values, "kind": kind}, status=status)


@router.get("/playbook")
def editor(
    request: Request, _admin: Admin, session: Annotated[Session, Depends(reading_session)]
) -> HTMLResponse:
    """The active playbook's YAML in an editor (an example before any is applied)."""
    active = repository.active_version(session)
    text = active.source_text if active is not None else STARTER
    return render(
        request,
        _PAGE,
        {"text": text, "active": active, "check": None, "kind": None, "summary": None},
    )


@router.post("/playbook/validate")
def validate(request: Request, _admin: Admin, playbook: Text) -> HTMLResponse:
    """'valid', or every problem with its line and YAML path."""
    with database_of(request).unit_of_work(read_only=True) as session:
        checked = check(session, playbook)
    return _page(request, {"text": playbook, "check": checked, "summary": None}, "check")


@router.post("/playbook/dry-run")
def dry_run(request: Request, _admin: Admin, playbook: Text) -> HTMLResponse:
    """How many contacts would move to each stage and why, with examples; nothing is written."""
    values: dict[str, Any] = {"text": playbook, "summary": None}
    with database_of(request).unit_of_work(dry_run=True) as session:
        checked = values["check"] = check(session, playbook)
        if checked.playbook is not None:
            values.update(run_playbook(session, playbook))
    return _page(request, values, "dry_run", 200 if checked.valid else 422)


@router.post("/playbook/apply")
def apply(request: Request, page: Admin, playbook: Text) -> HTMLResponse:
    """Store the playbook as the active version, qualify and apply its policy, as `leadsift
    qualify` then `leadsift score` do."""
    values: dict[str, Any] = {"text": playbook, "summary": None}
    with database_of(request).unit_of_work() as session:
        checked = values["check"] = check(session, playbook)
        if checked.playbook is not None:
            values.update(run_playbook(session, playbook))
            _after_moves(request, session)
            version = repository.active_version(session)
            assert version is not None  # noqa: S101 — stored a moment ago
            details = {"name": version.name, "version": version.version, "changed": values["moved"]}
            audit(session, page.caller, "playbook_applied", ("playbook_version", version.id),
                  details=details)  # fmt: skip
    return _page(request, values, "applied", 200 if checked.valid else 422)


def _after_moves(request: Request, session: Session) -> None:
    # Fit points moved: the call order too, as the CLI's hook does after `qualify`. The app
    # hands the hook in (agents sit above this domain and may not be imported here).
    hook = getattr(request.app.state, "after_moves", None)
    if hook is not None:
        hook(session, None, utcnow())
